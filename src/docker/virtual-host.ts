import { parse as parseYaml } from 'yaml'
import { WILDCARD_HOST_RE } from '../config/host-name.js'
import { parseSize } from '../config/size.js'
import {
  DEFAULT_HEALTH_CHECK, parseAcmeChallengeLocation, parseBoolean, parseDurationMs, parsePositiveInt, type HealthCheckOptions
} from '../config/options.js'
import { HTTPS_METHODS, type HostTlsSettings, type HttpsMethod, type Protocol } from '../routing/desired-state.js'
import { compileHostRegex } from '../routing/host-regex.js'
import type { ContainerInfo } from './container-info.js'
import { sslPolicy } from '../tls/policy.js'

// The nginx-proxy env contract on app containers, parsed into plain route entries (pure).

export interface RouteEntry {
  host: string
  path: string
  port: number
  dest: string
  /** proxyctl.max-body-size in bytes; undefined: no limit. */
  maxBodyBytes: number | undefined
  /** The port this host is served on (nginx-proxy EXTERNAL_HTTP(S)_PORT, external_http(s)_port); unset: the proxy's. */
  externalPorts?: ExternalPorts
}

export interface ExternalPorts {
  http?: number | undefined
  https?: number | undefined
  /** From VIRTUAL_HOST_MULTIPORTS: wins over other containers' EXTERNAL_*_PORT for the whole host (nginx-proxy). */
  fromMultiports?: boolean
}

export interface ContainerRoutes {
  entries: RouteEntry[]
  protocol: Protocol
  internalOnly: boolean
  tls: HostTlsSettings
  health: HealthCheckOptions
  /** Problems with optional settings: logged, defaults used. */
  warnings: string[]
}

export type ParseResult =
  | { kind: 'skip' } // not a proxied container
  | { kind: 'invalid', reason: string }
  | { kind: 'ok', routes: ContainerRoutes }


/** Validates one VIRTUAL_HOST entry; returns the normalised host or an error message. */
export function validateHost (raw: string): { host: string } | { error: string } {
  const host = raw.trim()
  if (host === '') return { error: 'empty host name' }
  if (host.startsWith('~')) {
    const compiled = compileHostRegex(host.slice(1))
    if ('error' in compiled) return { error: `invalid regex ${JSON.stringify(host)}: ${compiled.error}` }
    return { host }
  }
  const lower = host.toLowerCase()
  if (lower.length > 253 || !WILDCARD_HOST_RE.test(lower) || (lower.startsWith('*.') && lower.endsWith('.*'))) {
    return { error: `invalid host name ${JSON.stringify(host)}` }
  }
  return { host: lower.replace(/\.$/, '') }
}

function defaultPort (c: ContainerInfo): number {
  return c.exposedPorts.length === 1 ? c.exposedPorts[0]! : 80
}

function parsePortValue (value: unknown): number | undefined {
  const s = String(value).trim()
  if (!/^\d+$/.test(s)) return undefined
  const n = Number(s)
  return n >= 1 && n <= 65535 ? n : undefined
}

export const MAX_PATH_LENGTH = 1024
export const MAX_HSTS_LENGTH = 1024

// Characters RFC 3986 allows in a path, besides percent-encoding: unreserved, sub-delims, ':', '@', '/'.
const PATH_CHAR = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/]$/
const BAD_PERCENT = /%(?![0-9A-Fa-f]{2})/

function describeChar (ch: string): string {
  const code = ch.charCodeAt(0)
  if (code < 0x20 || code === 0x7f) return `a control character (0x${code.toString(16).padStart(2, '0')})`
  if (code > 0x7e) return 'a non-ASCII character'
  if (ch === ' ') return 'a space'
  return `"${ch}"`
}

/**
 * Why `value` cannot be a request path (VIRTUAL_PATH, VIRTUAL_DEST, the health path), or undefined
 * when it can. These values end up in the request line sent upstream, so they must not smuggle a
 * second line or header (CR, LF), a fragment, or a dot-segment that climbs out of the prefix.
 * `query` allows one `?query` part (a health-check URL).
 */
export function pathProblem (value: string, opts: { query?: boolean } = {}): string | undefined {
  if (value.length > MAX_PATH_LENGTH) return `is longer than ${MAX_PATH_LENGTH} characters`
  if (!value.startsWith('/')) return 'must start with /'
  const q = opts.query === true ? value.indexOf('?') : -1
  const path = q === -1 ? value : value.slice(0, q)
  for (const ch of value.slice(path.length + 1)) {
    if (!PATH_CHAR.test(ch) && ch !== '?' && ch !== '%') return `contains ${describeChar(ch)}`
  }
  for (const ch of path) {
    if (!PATH_CHAR.test(ch) && ch !== '%') return `contains ${describeChar(ch)}`
  }
  if (BAD_PERCENT.test(value)) return 'has malformed percent-encoding (% must be followed by two hex digits)'
  // Upstreams decode %2e as '.' (and some %2f as '/'), so check the segments as they will see them.
  const segments = path.replace(/%2e/gi, '.').split(/\/|%2f/i)
  // `..;x` too: Tomcat and Jetty strip path parameters before resolving dot-segments.
  if (segments.some((seg) => { const s = seg.split(';')[0]; return s === '.' || s === '..' })) return 'contains a dot-segment (. or ..)'
  return undefined
}

/** Why `value` cannot be a response header value (HSTS), or undefined. */
function headerValueProblem (value: string): string | undefined {
  if (value.length > MAX_HSTS_LENGTH) return `is longer than ${MAX_HSTS_LENGTH} characters`
  for (const ch of value) {
    const code = ch.charCodeAt(0)
    if (code < 0x20 || code >= 0x7f) return `contains ${describeChar(ch)}`
  }
  return undefined
}

/** Env values are trimmed of spaces only: a CR, LF or tab at either end is an error, not noise. */
const trimSpaces = (value: string): string => value.replace(/^ +| +$/g, '')

export function parseContainer (c: ContainerInfo): ParseResult {
  const env = c.env
  const multiports = env.VIRTUAL_HOST_MULTIPORTS?.trim()
  const virtualHost = env.VIRTUAL_HOST?.trim()
  if ((multiports === undefined || multiports === '') && (virtualHost === undefined || virtualHost === '')) {
    return { kind: 'skip' }
  }
  const warnings: string[] = []
  const protoRaw = (env.VIRTUAL_PROTO ?? 'http').trim().toLowerCase() || 'http'
  if (protoRaw !== 'http' && protoRaw !== 'https') {
    return { kind: 'invalid', reason: `VIRTUAL_PROTO "${env.VIRTUAL_PROTO ?? ''}" is not supported (http, https)` }
  }
  const httpsMethod = env.HTTPS_METHOD?.trim().toLowerCase() || undefined
  if (httpsMethod !== undefined && !HTTPS_METHODS.includes(httpsMethod as HttpsMethod)) {
    return { kind: 'invalid', reason: `HTTPS_METHOD "${env.HTTPS_METHOD ?? ''}" must be one of ${HTTPS_METHODS.join(', ')}` }
  }
  const certName = env.CERT_NAME?.trim() || undefined
  if (certName !== undefined && !/^[A-Za-z0-9._*-]+$/.test(certName)) {
    return { kind: 'invalid', reason: `CERT_NAME "${certName}" is not a file name` }
  }
  const hsts = env.HSTS === undefined ? undefined : trimSpaces(env.HSTS) || undefined
  const hstsProblem = hsts === undefined ? undefined : headerValueProblem(hsts)
  if (hstsProblem !== undefined) return { kind: 'invalid', reason: `HSTS ${JSON.stringify(env.HSTS)} ${hstsProblem}` }
  const tls: HostTlsSettings = { httpsMethod: httpsMethod as HttpsMethod | undefined, hsts, certName, ...parseTlsFallbacks(c, warnings), ...parseAcmeChallengeEnv(c.env, warnings) }
  const access = (env.NETWORK_ACCESS ?? 'external').trim().toLowerCase() || 'external'
  if (access !== 'external' && access !== 'internal') {
    return { kind: 'invalid', reason: `NETWORK_ACCESS "${env.NETWORK_ACCESS ?? ''}" must be internal or external` }
  }

  const maxBodyBytes = parseMaxBodyLabel(c.labels, warnings)

  let entries: RouteEntry[]
  if (multiports !== undefined && multiports !== '') {
    const parsed = parseMultiports(multiports, defaultPort(c), maxBodyBytes, warnings)
    if ('error' in parsed) return { kind: 'invalid', reason: parsed.error }
    entries = parsed.entries
  } else {
    const path = trimSpaces(env.VIRTUAL_PATH ?? '/') || '/'
    const problem = pathProblem(path)
    if (problem !== undefined) return { kind: 'invalid', reason: `VIRTUAL_PATH ${JSON.stringify(env.VIRTUAL_PATH)} ${problem}` }
    let port = defaultPort(c)
    if (env.VIRTUAL_PORT !== undefined && env.VIRTUAL_PORT.trim() !== '') {
      const p = parsePortValue(env.VIRTUAL_PORT)
      if (p === undefined) return { kind: 'invalid', reason: `VIRTUAL_PORT "${env.VIRTUAL_PORT}" is not a port number` }
      port = p
    }
    const dest = trimSpaces(env.VIRTUAL_DEST ?? '')
    const destProblem = dest === '' ? undefined : pathProblem(dest)
    if (destProblem !== undefined) return { kind: 'invalid', reason: `VIRTUAL_DEST ${JSON.stringify(env.VIRTUAL_DEST)} ${destProblem}` }
    const externalPorts: ExternalPorts = {}
    for (const [name, scheme] of [['EXTERNAL_HTTP_PORT', 'http'], ['EXTERNAL_HTTPS_PORT', 'https']] as const) {
      const raw = env[name]
      if (raw === undefined || raw.trim() === '') continue
      const p = parsePortValue(raw)
      if (p === undefined) return { kind: 'invalid', reason: `${name} ${JSON.stringify(raw)} is not a port number` }
      externalPorts[scheme] = p
    }
    entries = []
    for (const part of (virtualHost ?? '').split(',')) {
      if (part.trim() === '') continue
      const v = validateHost(part)
      if ('error' in v) return { kind: 'invalid', reason: `VIRTUAL_HOST: ${v.error}` }
      entries.push({ host: v.host, path, port, dest, maxBodyBytes, ...(Object.keys(externalPorts).length > 0 ? { externalPorts } : {}) })
    }
    if (entries.length === 0) return { kind: 'invalid', reason: 'VIRTUAL_HOST has no host names' }
  }

  return {
    kind: 'ok',
    routes: { entries, protocol: protoRaw, internalOnly: access === 'internal', tls, health: parseHealthLabels(c.labels, warnings), warnings }
  }
}

const MULTIPORTS_EXTERNAL_KEYS = { external_http_port: 'http', external_https_port: 'https' } as const

function parseMultiports (text: string, fallbackPort: number, maxBodyBytes: number | undefined, warnings: string[]): { entries: RouteEntry[] } | { error: string } {
  let doc: unknown
  try {
    doc = parseYaml(text)
  } catch (err) {
    return { error: `VIRTUAL_HOST_MULTIPORTS is not valid YAML/JSON: ${(err as Error).message}` }
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    return { error: 'VIRTUAL_HOST_MULTIPORTS must map host names to paths' }
  }
  const entries: RouteEntry[] = []
  for (const [rawHost, paths] of Object.entries(doc as Record<string, unknown>)) {
    const v = validateHost(rawHost)
    if ('error' in v) return { error: `VIRTUAL_HOST_MULTIPORTS: ${v.error}` }
    if (paths !== null && paths !== undefined && paths !== '' && (typeof paths !== 'object' || Array.isArray(paths))) {
      return { error: `VIRTUAL_HOST_MULTIPORTS: ${JSON.stringify(rawHost)} must map paths to settings` }
    }
    // YAML `host:` (null) and JSON `"host": {}` both mean "defaults" (nginx-proxy: `empty $vhost`).
    const settingsByKey = Object.entries((paths ?? {}) as Record<string, unknown>)
    const externalPorts: ExternalPorts = { fromMultiports: true }
    const pathSettings: Array<[string, unknown]> = []
    for (const [key, value] of settingsByKey) {
      if (key in MULTIPORTS_EXTERNAL_KEYS) {
        const p = parsePortValue(value)
        if (p === undefined) return { error: `VIRTUAL_HOST_MULTIPORTS: ${key} ${JSON.stringify(String(value))} of ${JSON.stringify(rawHost)} is not a port number` }
        externalPorts[MULTIPORTS_EXTERNAL_KEYS[key as keyof typeof MULTIPORTS_EXTERNAL_KEYS]] = p
      } else if (!key.startsWith('/')) {
        // nginx-proxy skips keys that are not paths; say so rather than drop them silently.
        warnings.push(`VIRTUAL_HOST_MULTIPORTS: key ${JSON.stringify(key)} of ${JSON.stringify(rawHost)} is neither a path nor external_http_port/external_https_port; ignored`)
      } else {
        pathSettings.push([key, value])
      }
    }
    const ports = externalPorts.http !== undefined || externalPorts.https !== undefined ? { externalPorts } : {}
    // A host with external ports but no paths is served with the defaults on `/` (nginx-proxy would
    // render a server block without locations).
    if (pathSettings.length === 0) pathSettings.push(['/', {}])
    for (const [path, settings] of pathSettings) {
      const where = JSON.stringify(rawHost + path)
      const problem = pathProblem(path)
      if (problem !== undefined) return { error: `VIRTUAL_HOST_MULTIPORTS: path ${JSON.stringify(path)} of ${JSON.stringify(rawHost)} ${problem}` }
      const s = (settings ?? {}) as Record<string, unknown>
      if (typeof s !== 'object' || Array.isArray(s)) return { error: `VIRTUAL_HOST_MULTIPORTS: settings of ${where} must be a map` }
      let port = fallbackPort
      if (s.port !== undefined) {
        const p = parsePortValue(s.port)
        if (p === undefined) return { error: `VIRTUAL_HOST_MULTIPORTS: port ${JSON.stringify(String(s.port))} of ${where} is not a port number` }
        port = p
      }
      let dest = ''
      if (s.dest !== undefined && s.dest !== null && s.dest !== '') {
        const destProblem = typeof s.dest === 'string' ? pathProblem(s.dest) : 'must be a string'
        if (destProblem !== undefined) return { error: `VIRTUAL_HOST_MULTIPORTS: dest ${JSON.stringify(s.dest)} of ${where} ${destProblem}` }
        dest = s.dest as string
      }
      entries.push({ host: v.host, path, port, dest, maxBodyBytes, ...ports })
    }
  }
  if (entries.length === 0) return { error: 'VIRTUAL_HOST_MULTIPORTS has no host names' }
  return { entries }
}

export const HEALTH_LABELS = {
  path: 'proxyctl.health.path',
  interval: 'proxyctl.health.interval',
  timeout: 'proxyctl.health.timeout',
  healthy: 'proxyctl.health.healthy',
  unhealthy: 'proxyctl.health.unhealthy'
} as const

/** Health-check labels; an invalid value is reported in warnings and its default used. */
export function parseHealthLabels (labels: Record<string, string>, warnings: string[]): HealthCheckOptions {
  const health: HealthCheckOptions = { ...DEFAULT_HEALTH_CHECK }
  const attempt = (label: string, apply: (value: string) => void): void => {
    const value = labels[label]
    if (value === undefined) return
    try {
      apply(value)
    } catch (err) {
      warnings.push(`label ${label}: ${(err as Error).message}; using the default`)
    }
  }
  attempt(HEALTH_LABELS.path, (v) => {
    const p = trimSpaces(v)
    const problem = pathProblem(p, { query: true })
    if (problem !== undefined) throw new Error(`${JSON.stringify(v)} ${problem}`)
    health.path = p
    health.pathConfigured = true
  })
  attempt(HEALTH_LABELS.interval, (v) => {
    const ms = parseDurationMs(v, 'interval')
    if (ms < 50) throw new Error(`"${v}" is below 50ms`)
    health.intervalMs = ms
  })
  attempt(HEALTH_LABELS.timeout, (v) => {
    const ms = parseDurationMs(v, 'timeout')
    if (ms < 10) throw new Error(`"${v}" is below 10ms`)
    health.timeoutMs = ms
  })
  attempt(HEALTH_LABELS.healthy, (v) => { health.healthyThreshold = parsePositiveInt(v, 'healthy') })
  attempt(HEALTH_LABELS.unhealthy, (v) => { health.unhealthyThreshold = parsePositiveInt(v, 'unhealthy') })
  return health
}

export const TRUST_DEFAULT_CERT_LABEL = 'com.github.nginx-proxy.nginx-proxy.trust-default-cert'
export const NON_GET_REDIRECT_LABEL = 'com.github.nginx-proxy.nginx-proxy.non-get-redirect'
export const HTTP2_ENABLE_LABEL = 'com.github.nginx-proxy.nginx-proxy.http2.enable'
export const HTTP3_ENABLE_LABEL = 'com.github.nginx-proxy.nginx-proxy.http3.enable'
export const SSL_VERIFY_CLIENT_LABEL = 'com.github.nginx-proxy.nginx-proxy.ssl_verify_client'
/** Serves /nginx-proxy-debug on the container's hosts (request-router.ts); unset: DEBUG_ENDPOINT. */
export const DEBUG_ENDPOINT_LABEL = 'com.github.nginx-proxy.nginx-proxy.debug-endpoint'

/**
 * nginx-proxy's per-container overrides of TRUST_DEFAULT_CERT (label), ENABLE_HTTP_ON_MISSING_CERT
 * (env) and NON_GET_REDIRECT (label). Only set keys are returned; an invalid value is a warning
 * and the proxy's value applies.
 */
function parseTlsFallbacks (c: ContainerInfo, warnings: string[]): Pick<HostTlsSettings, 'trustDefaultCert' | 'enableHttpOnMissingCert' | 'nonGetRedirect' | 'http2' | 'sslVerifyClient' | 'debugEndpoint' | 'sslPolicy'> {
  const out: Pick<HostTlsSettings, 'trustDefaultCert' | 'enableHttpOnMissingCert' | 'nonGetRedirect' | 'http2' | 'sslVerifyClient' | 'debugEndpoint' | 'sslPolicy'> = {}
  const bool = (value: string | undefined, what: string): boolean | undefined => {
    if (value === undefined || value.trim() === '') return undefined
    try {
      return parseBoolean(value, what)
    } catch (err) {
      warnings.push(`${(err as Error).message}; using the proxy's value`)
      return undefined
    }
  }
  const trust = bool(c.labels[TRUST_DEFAULT_CERT_LABEL], `label ${TRUST_DEFAULT_CERT_LABEL}`)
  if (trust !== undefined) out.trustDefaultCert = trust
  const enableHttp = bool(c.env.ENABLE_HTTP_ON_MISSING_CERT, 'ENABLE_HTTP_ON_MISSING_CERT')
  if (enableHttp !== undefined) out.enableHttpOnMissingCert = enableHttp
  const redirect = c.labels[NON_GET_REDIRECT_LABEL]?.trim()
  if (redirect !== undefined && redirect !== '') {
    if (redirect === '301' || redirect === '307' || redirect === '308') out.nonGetRedirect = Number(redirect) as 301 | 307 | 308
    else warnings.push(`label ${NON_GET_REDIRECT_LABEL}: ${JSON.stringify(redirect)} must be 301, 307 or 308; using the proxy's value`)
  }
  const http2 = bool(c.labels[HTTP2_ENABLE_LABEL], `label ${HTTP2_ENABLE_LABEL}`)
  if (http2 !== undefined) out.http2 = http2
  const debug = bool(c.labels[DEBUG_ENDPOINT_LABEL], `label ${DEBUG_ENDPOINT_LABEL}`)
  if (debug !== undefined) out.debugEndpoint = debug
  if ((c.labels[HTTP3_ENABLE_LABEL]?.trim() ?? '') !== '') warnings.push(`label ${HTTP3_ENABLE_LABEL} is not supported: proxyctl has no HTTP/3 (QUIC) listener; HTTPS is served over HTTP/2 and HTTP/1.1`)
  // Passed to nginx's ssl_verify_client as is: another value makes nginx refuse the whole
  // configuration; here it is warned about and verifies as `on` (tls/host-tls.ts).
  const verify = c.labels[SSL_VERIFY_CLIENT_LABEL]?.trim()
  if (verify !== undefined && verify !== '') {
    out.sslVerifyClient = verify
    if (!['on', 'off', 'optional', 'optional_no_ca'].includes(verify)) warnings.push(`label ${SSL_VERIFY_CLIENT_LABEL}=${verify}: must be on, off, optional or optional_no_ca (nginx refuses the configuration); client certificates are verified as with on`)
  }
  // nginx.tmpl writes nothing for a name its table lacks: the proxy's SSL_POLICY applies.
  const policy = c.env.SSL_POLICY?.trim()
  if (policy !== undefined && policy !== '') {
    if (sslPolicy(policy) !== undefined) out.sslPolicy = policy
    else warnings.push(`SSL_POLICY=${policy} is not one of nginx-proxy's policies; the proxy's SSL_POLICY applies to this host`)
  }
  return out
}

/** ACME_HTTP_CHALLENGE_LOCATION on an app container; invalid: a warning and the proxy's value. */
function parseAcmeChallengeEnv (env: Record<string, string>, warnings: string[]): Pick<HostTlsSettings, 'acmeChallenge'> {
  const value = env.ACME_HTTP_CHALLENGE_LOCATION
  if (value === undefined || value.trim() === '') return {}
  try {
    return { acmeChallenge: parseAcmeChallengeLocation(value, 'ACME_HTTP_CHALLENGE_LOCATION') }
  } catch (err) {
    warnings.push(`${(err as Error).message}; using the proxy's value`)
    return {}
  }
}

export const MAX_BODY_SIZE_LABEL = 'proxyctl.max-body-size'

function parseMaxBodyLabel (labels: Record<string, string>, warnings: string[]): number | undefined {
  const value = labels[MAX_BODY_SIZE_LABEL]
  if (value === undefined) return undefined
  const size = parseSize(value)
  if (typeof size === 'object') {
    warnings.push(`label ${MAX_BODY_SIZE_LABEL}: ${size.error}; no body size limit`)
    return undefined
  }
  return size
}
