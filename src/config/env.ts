import { InvalidOptionError } from '../errors.js'
import { PLAIN_HOST_RE } from './host-name.js'
import { DEFAULT_SERVE_OPTIONS, HTTPS_METHODS, parseAcmeChallengeLocation, parseBoolean, parseDurationMs, parsePort, parsePositiveInt, type HttpsMethod, type ServeOptions } from './options.js'

/** Proxy-wide settings from the environment (nginx-proxy's names where one exists), in one table. */
const ENV_SETTINGS: Array<{ [K in keyof ServeOptions]: [string, K, (value: string, name: string) => ServeOptions[K]] }[keyof ServeOptions]> = [
  ['HTTP_PORT', 'port', parsePort],
  ['HTTPS_PORT', 'httpsPort', (v, n) => parseHttpsPort(v, n)],
  ['HTTPS_METHOD', 'defaultHttpsMethod', (v, n) => parseHttpsMethod(v, n)],
  ['HSTS', 'defaultHsts', (v) => v],
  ['TRUST_DEFAULT_CERT', 'trustDefaultCert', parseBoolean],
  ['ENABLE_HTTP_ON_MISSING_CERT', 'enableHttpOnMissingCert', parseBoolean],
  ['NON_GET_REDIRECT', 'nonGetRedirect', (v, n) => parseNonGetRedirect(v, n)],
  ['PROXYCTL_NGINX_ROOT', 'nginxRoot', (v) => v],
  ['PROXYCTL_HTML_DIR', 'htmlDir', (v) => v],
  ['ACME_HTTP_CHALLENGE_LOCATION', 'acmeChallenge', parseAcmeChallengeLocation],
  ['ACME_HTTP_CHALLENGE_ACCEPT_UNKNOWN_HOST', 'acmeAcceptUnknownHost', parseBoolean],
  ['PROXYCTL_LISTEN_HOST', 'host', (v) => v],
  ['DEFAULT_HOST', 'defaultHost', (v, n) => validatedDefaultHost(v, n)],
  ['TRUST_DOWNSTREAM_PROXY', 'trustDownstreamProxy', parseBoolean],
  // nginx-proxy's name first, so proxyctl's own ACCESS_LOG wins when both are set.
  ['DISABLE_ACCESS_LOGS', 'accessLog', (v, n) => !parseBoolean(v, n)],
  ['ACCESS_LOG', 'accessLog', parseBoolean],
  ['PROXYCTL_ADMIN_SOCKET', 'adminSocket', (v) => v],
  ['DRAIN_TIMEOUT', 'drainTimeoutMs', parseDurationMs],
  ['HISTORY_FILE', 'historyFile', (v) => v],
  ['METRICS_LISTEN', 'metricsListen', (v, n) => parseListen(v, n)],
  ['REQUEST_IDS', 'requestIds', parseBoolean],
  ['METRICS', 'metrics', parseBoolean],
  ['PROXYCTL_CONTAINER_ID', 'selfContainerId', (v) => v],
  ['REQUEST_HEADERS_TIMEOUT', 'requestHeadersTimeoutMs', parseDurationMs],
  ['KEEPALIVE_TIMEOUT', 'keepAliveTimeoutMs', parseDurationMs],
  ['CLIENT_IDLE_TIMEOUT', 'clientIdleTimeoutMs', parseDurationMs],
  ['MAX_CLIENT_CONNECTIONS', 'maxClientConnections', parsePositiveInt],
  ['HTTP2_MAX_CONCURRENT_STREAMS', 'http2MaxConcurrentStreams', parsePositiveInt],
  ['WEBSOCKET_IDLE_TIMEOUT', 'websocketIdleTimeoutMs', parseDurationMs],
  ['UPSTREAM_CONNECT_TIMEOUT', 'upstreamConnectTimeoutMs', parseDurationMs],
  ['UPSTREAM_RESPONSE_TIMEOUT', 'upstreamResponseTimeoutMs', parseDurationMs],
  ['UPSTREAM_MAX_CONNECTIONS', 'upstreamMaxConnections', parsePositiveInt],
  ['ENABLE_PROXY_PROTOCOL', 'proxyProtocol', parseBoolean],
  ['ENABLE_HTTP2', 'enableHttp2', parseBoolean],
  ['ENABLE_IPV6', 'enableIpv6', parseBoolean],
  ['SSL_POLICY', 'sslPolicy', (v) => v],
  ['PREFER_IPV6_NETWORK', 'preferIpv6Network', parseBoolean],
  ['DEBUG_ENDPOINT', 'debugEndpoint', parseBoolean],
  ['DEFAULT_ROOT', 'defaultRoot', (v) => v],
  ['WORKERS', 'workers', parsePositiveInt]
]

export function serveOptionsFromEnv (env: NodeJS.ProcessEnv): Partial<ServeOptions> {
  const out: Record<string, unknown> = {}
  for (const [name, key, parse] of ENV_SETTINGS) {
    const v = env[name]
    if (v !== undefined && v.trim() !== '') out[key] = parse(v.trim(), name)
  }
  return out as Partial<ServeOptions>
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

export function parseNonGetRedirect (value: string, what: string): 301 | 307 | 308 {
  const v = value.trim()
  if (v !== '301' && v !== '307' && v !== '308') throw new InvalidOptionError(`${what} must be 301, 307 or 308, got "${value}"`)
  return Number(v) as 301 | 307 | 308
}

export function validatedDefaultHost (value: string, what: string): string {
  const host = value.trim().toLowerCase()
  if (host.length > 253 || !PLAIN_HOST_RE.test(host)) {
    throw new InvalidOptionError(`${what} must be a plain host name, got "${value}"`)
  }
  return host.replace(/\.$/, '')
}

export function resolveServeOptions (env: NodeJS.ProcessEnv, flags: Partial<ServeOptions>): ServeOptions {
  return { ...DEFAULT_SERVE_OPTIONS, ...serveOptionsFromEnv(env), ...flags }
}
