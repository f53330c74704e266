import { parse as parseYaml } from 'yaml'
import {
  DEFAULT_HEALTH_CHECK, parseDurationMs, parsePositiveInt, type HealthCheckOptions
} from '../config/options.js'
import { HTTPS_METHODS, type HostTlsSettings, type HttpsMethod, type Protocol } from '../routing/desired-state.js'
import { compileHostRegex } from '../routing/host-regex.js'
import type { ContainerInfo } from './container-info.js'

// The nginx-proxy env contract on app containers, parsed into plain route entries (pure).

export interface RouteEntry {
  host: string
  path: string
  port: number
  dest: string
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

const HOSTNAME_RE = /^(\*\.)?([a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*(\.\*)?\.?$/

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
  if (lower.length > 253 || !HOSTNAME_RE.test(lower) || (lower.startsWith('*.') && lower.endsWith('.*'))) {
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

function validatePath (path: string): string | undefined {
  return path.startsWith('/') && !/[\s]/.test(path) ? path : undefined
}

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
  const tls: HostTlsSettings = { httpsMethod: httpsMethod as HttpsMethod | undefined, hsts: env.HSTS?.trim() || undefined, certName }
  const access = (env.NETWORK_ACCESS ?? 'external').trim().toLowerCase() || 'external'
  if (access !== 'external' && access !== 'internal') {
    return { kind: 'invalid', reason: `NETWORK_ACCESS "${env.NETWORK_ACCESS ?? ''}" must be internal or external` }
  }

  let entries: RouteEntry[]
  if (multiports !== undefined && multiports !== '') {
    const parsed = parseMultiports(multiports, defaultPort(c))
    if ('error' in parsed) return { kind: 'invalid', reason: parsed.error }
    entries = parsed.entries
  } else {
    const path = validatePath((env.VIRTUAL_PATH ?? '/').trim() || '/')
    if (path === undefined) return { kind: 'invalid', reason: `VIRTUAL_PATH "${env.VIRTUAL_PATH ?? ''}" must start with /` }
    let port = defaultPort(c)
    if (env.VIRTUAL_PORT !== undefined && env.VIRTUAL_PORT.trim() !== '') {
      const p = parsePortValue(env.VIRTUAL_PORT)
      if (p === undefined) return { kind: 'invalid', reason: `VIRTUAL_PORT "${env.VIRTUAL_PORT}" is not a port number` }
      port = p
    }
    const dest = (env.VIRTUAL_DEST ?? '').trim()
    entries = []
    for (const part of (virtualHost ?? '').split(',')) {
      if (part.trim() === '') continue
      const v = validateHost(part)
      if ('error' in v) return { kind: 'invalid', reason: `VIRTUAL_HOST: ${v.error}` }
      entries.push({ host: v.host, path, port, dest })
    }
    if (entries.length === 0) return { kind: 'invalid', reason: 'VIRTUAL_HOST has no host names' }
  }

  return {
    kind: 'ok',
    routes: { entries, protocol: protoRaw, internalOnly: access === 'internal', tls, health: parseHealthLabels(c.labels, warnings), warnings }
  }
}

function parseMultiports (text: string, fallbackPort: number): { entries: RouteEntry[] } | { error: string } {
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
    if (paths === null || paths === undefined || paths === '') {
      entries.push({ host: v.host, path: '/', port: fallbackPort, dest: '' })
      continue
    }
    if (typeof paths !== 'object' || Array.isArray(paths)) return { error: `VIRTUAL_HOST_MULTIPORTS: "${rawHost}" must map paths to settings` }
    for (const [rawPath, settings] of Object.entries(paths as Record<string, unknown>)) {
      const path = validatePath(rawPath)
      if (path === undefined) return { error: `VIRTUAL_HOST_MULTIPORTS: path "${rawPath}" must start with /` }
      const s = (settings ?? {}) as Record<string, unknown>
      if (typeof s !== 'object') return { error: `VIRTUAL_HOST_MULTIPORTS: settings of "${rawHost}${rawPath}" must be a map` }
      let port = fallbackPort
      if (s.port !== undefined) {
        const p = parsePortValue(s.port)
        if (p === undefined) return { error: `VIRTUAL_HOST_MULTIPORTS: port "${String(s.port)}" of "${rawHost}${rawPath}" is not a port number` }
        port = p
      }
      entries.push({ host: v.host, path, port, dest: s.dest === undefined ? '' : String(s.dest) })
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
    const p = validatePath(v.trim())
    if (p === undefined) throw new Error(`"${v}" must start with /`)
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
