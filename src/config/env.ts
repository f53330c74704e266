import { DEFAULT_SERVE_OPTIONS, parseBoolean, parseDurationMs, parsePort, type ServeOptions } from './options.js'
import { HTTPS_METHODS, type HttpsMethod } from '../routing/desired-state.js'
import { InvalidOptionError } from '../errors.js'
import { validateHost } from '../docker/virtual-host.js'

/** Proxy-wide settings from the environment (nginx-proxy's names where one exists). */
export function serveOptionsFromEnv (env: NodeJS.ProcessEnv): Partial<ServeOptions> {
  const out: Partial<ServeOptions> = {}
  const get = (name: string): string | undefined => {
    const v = env[name]
    return v === undefined || v.trim() === '' ? undefined : v.trim()
  }
  const port = get('HTTP_PORT')
  if (port !== undefined) out.port = parsePort(port, 'HTTP_PORT')
  const httpsPort = get('HTTPS_PORT')
  if (httpsPort !== undefined) out.httpsPort = parseHttpsPort(httpsPort, 'HTTPS_PORT')
  const method = get('HTTPS_METHOD')
  if (method !== undefined) out.defaultHttpsMethod = parseHttpsMethod(method, 'HTTPS_METHOD')
  const hsts = get('HSTS')
  if (hsts !== undefined) out.defaultHsts = hsts
  const nginxRoot = get('PROXYCTL_NGINX_ROOT')
  if (nginxRoot !== undefined) out.nginxRoot = nginxRoot
  const htmlDir = get('PROXYCTL_HTML_DIR')
  if (htmlDir !== undefined) out.htmlDir = htmlDir
  const host = get('PROXYCTL_LISTEN_HOST')
  if (host !== undefined) out.host = host
  const defaultHost = get('DEFAULT_HOST')
  if (defaultHost !== undefined) out.defaultHost = validatedDefaultHost(defaultHost, 'DEFAULT_HOST')
  const trust = get('TRUST_DOWNSTREAM_PROXY')
  if (trust !== undefined) out.trustDownstreamProxy = parseBoolean(trust, 'TRUST_DOWNSTREAM_PROXY')
  const accessLog = get('ACCESS_LOG')
  if (accessLog !== undefined) out.accessLog = parseBoolean(accessLog, 'ACCESS_LOG')
  const socket = get('PROXYCTL_ADMIN_SOCKET')
  if (socket !== undefined) out.adminSocket = socket
  const drain = get('DRAIN_TIMEOUT')
  if (drain !== undefined) out.drainTimeoutMs = parseDurationMs(drain, 'DRAIN_TIMEOUT')
  const history = get('HISTORY_FILE')
  if (history !== undefined) out.historyFile = history
  const metrics = get('METRICS_LISTEN')
  if (metrics !== undefined) out.metricsListen = parseListen(metrics, 'METRICS_LISTEN')
  const ids = get('REQUEST_IDS')
  if (ids !== undefined) out.requestIds = parseBoolean(ids, 'REQUEST_IDS')
  const self = get('PROXYCTL_CONTAINER_ID')
  if (self !== undefined) out.selfContainerId = self
  return out
}

/** "HOST:PORT" or ":PORT"/"PORT" (then 127.0.0.1: public exposure is an explicit choice). */
export function parseListen (value: string, what: string): { host: string, port: number } {
  const v = value.trim()
  const colon = v.lastIndexOf(':')
  const host = colon > 0 ? v.slice(0, colon).replace(/^\[|\]$/g, '') : '127.0.0.1'
  const port = parsePort(colon >= 0 ? v.slice(colon + 1) : v, what)
  return { host, port }
}

export function parseHttpsPort (value: string, what: string): number | undefined {
  return value.trim().toLowerCase() === 'off' ? undefined : parsePort(value, what)
}

export function parseHttpsMethod (value: string, what: string): HttpsMethod {
  const v = value.trim().toLowerCase()
  if (!HTTPS_METHODS.includes(v as HttpsMethod)) throw new InvalidOptionError(`${what} must be one of ${HTTPS_METHODS.join(', ')}, got "${value}"`)
  return v as HttpsMethod
}

export function validatedDefaultHost (value: string, what: string): string {
  const v = validateHost(value)
  if ('error' in v || v.host.includes('*') || v.host.startsWith('~')) {
    throw new InvalidOptionError(`${what} must be a plain host name, got "${value}"`)
  }
  return v.host
}

export function resolveServeOptions (env: NodeJS.ProcessEnv, flags: Partial<ServeOptions>): ServeOptions {
  return { ...DEFAULT_SERVE_OPTIONS, ...serveOptionsFromEnv(env), ...flags }
}
