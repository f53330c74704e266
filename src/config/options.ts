import { InvalidOptionError } from '../errors.js'
import { usableCpus } from './cpus.js'

export const DEFAULT_HTTP_PORT = 80
export const DEFAULT_ADMIN_SOCKET = '/run/proxyctl/admin.sock'
export const DEFAULT_DRAIN_TIMEOUT_MS = 30_000
/** How long WebSocket / SSE connections may outlive a drain request before they are closed. */
export const DEFAULT_LONG_LIVED_GRACE_MS = 2_000
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 10_000
/** Proxy worker processes by default (src/workers/): the CPUs this process may use (cpuset and CPU quota, cpus.ts); 1: one process. */
export const DEFAULT_WORKERS = usableCpus()
export const DEFAULT_REQUEST_HEADERS_TIMEOUT_MS = 10_000
export const DEFAULT_KEEP_ALIVE_TIMEOUT_MS = 65_000
export const DEFAULT_UPSTREAM_CONNECT_TIMEOUT_MS = 5_000
export const DEFAULT_UPSTREAM_RESPONSE_TIMEOUT_MS = 60_000
export const DEFAULT_MAX_HEADER_SIZE = 16_384
// Limits on what clients and upstreams can hold (issue 10); nginx's and Envoy's defaults where they have one.
/** nginx send_timeout / client_body_timeout: a client that neither sends nor reads for this long is cut. */
export const DEFAULT_CLIENT_IDLE_TIMEOUT_MS = 60_000
/** nginx-proxy's worker_connections. */
export const DEFAULT_MAX_CLIENT_CONNECTIONS = 10_240
/** nginx http2_max_concurrent_streams. */
export const DEFAULT_HTTP2_MAX_CONCURRENT_STREAMS = 128
/** nginx proxy_read_timeout, which is what closes an idle WebSocket tunnel behind nginx-proxy. */
export const DEFAULT_WEBSOCKET_IDLE_TIMEOUT_MS = 60_000
/** Envoy's circuit-breaker max_connections per upstream cluster (nginx: unlimited). */
export const DEFAULT_UPSTREAM_MAX_CONNECTIONS = 1_024
/** At boot, how long the proxy waits for first health results before it opens its listener. */
export const DEFAULT_BOOT_HEALTH_WAIT_MS = 5_000

export type BalancingStrategy = 'least-outstanding' | 'round-robin'
export const DEFAULT_HTTPS_PORT = 443
export const DEFAULT_NGINX_ROOT = '/etc/nginx'
export const DEFAULT_HTML_DIR = '/usr/share/nginx/html'
/** nginx-proxy's HSTS default. */
export const DEFAULT_HSTS = 'max-age=31536000'

/** nginx-proxy's HTTPS_METHOD, proxy-wide and per container. */
export type HttpsMethod = 'redirect' | 'noredirect' | 'nohttp' | 'nohttps'
export const HTTPS_METHODS: readonly HttpsMethod[] = ['redirect', 'noredirect', 'nohttp', 'nohttps']

/** nginx-proxy's ACME_HTTP_CHALLENGE_LOCATION: true, false, or 'legacy' (redirecting hosts only). */
export type AcmeChallengeLocation = boolean | 'legacy'

export interface ServeOptions {
  host: string
  port: number
  /** undefined: no HTTPS listener. */
  httpsPort: number | undefined
  /** Where nginx-proxy users mount certs/, htpasswd/, vhost.d/ (default /etc/nginx). */
  nginxRoot: string
  htmlDir: string
  /** ACME_HTTP_CHALLENGE_LOCATION: which hosts serve /.well-known/acme-challenge/ from htmlDir (nginx-proxy: true). */
  acmeChallenge: AcmeChallengeLocation
  /** ACME_HTTP_CHALLENGE_ACCEPT_UNKNOWN_HOST: challenges also for names no container serves (nginx-proxy: false). */
  acmeAcceptUnknownHost: boolean
  defaultHttpsMethod: HttpsMethod
  defaultHsts: string
  /** TRUST_DEFAULT_CERT: default.crt serves hosts without a certificate of their own (nginx-proxy 1.7). */
  trustDefaultCert: boolean
  /** ENABLE_HTTP_ON_MISSING_CERT: redirect/nohttp hosts without a usable certificate are served over HTTP. */
  enableHttpOnMissingCert: boolean
  /** NON_GET_REDIRECT: HTTP -> HTTPS redirect status for OPTIONS, POST, PUT, PATCH, DELETE. */
  nonGetRedirect: 301 | 307 | 308
  adminSocket: string
  defaultHost: string | undefined
  trustDownstreamProxy: boolean
  accessLog: boolean
  balancing: BalancingStrategy
  drainTimeoutMs: number
  shutdownTimeoutMs: number
  requestHeadersTimeoutMs: number
  keepAliveTimeoutMs: number
  upstreamConnectTimeoutMs: number
  upstreamResponseTimeoutMs: number
  maxHeaderSize: number
  clientIdleTimeoutMs: number
  maxClientConnections: number
  http2MaxConcurrentStreams: number
  websocketIdleTimeoutMs: number
  upstreamMaxConnections: number
  bootHealthWaitMs: number
  /** Rollout history as JSON lines (survives restarts); in memory only when unset. */
  historyFile: string | undefined
  /** Opt-in public /metrics listener, e.g. 127.0.0.1:9100 (the admin socket always has /metrics). */
  metricsListen: { host: string, port: number } | undefined
  requestIds: boolean
  /** Per-request Prometheus counters and histograms (the gauges are read on scrape regardless). */
  metrics: boolean
  /** Container id of the proxy itself when it runs in Docker (network scoping); detected when unset. */
  selfContainerId: string | undefined
  /** ENABLE_PROXY_PROTOCOL: every connection starts with a PROXY v1/v2 header (nginx-proxy: false). */
  proxyProtocol: boolean
  /** ENABLE_HTTP2: offer h2 by ALPN on HTTPS (nginx-proxy: true); the http2.enable label overrides it per host. */
  enableHttp2: boolean
  /** ENABLE_IPV6: listen on [::] as well as on `host` (nginx-proxy: false). */
  enableIpv6: boolean
  /** SSL_POLICY as written (nginx-proxy: Mozilla-Intermediate); a name tls/policy.ts lacks is warned about and the default used. */
  sslPolicy: string
  /** PREFER_IPV6_NETWORK: reach a container at its IPv6 address when it has both (nginx-proxy: false). */
  preferIpv6Network: boolean
  /** DEBUG_ENDPOINT: serve /nginx-proxy-debug on every host (nginx-proxy: false); the label overrides it per host. */
  debugEndpoint: boolean
  /** DEFAULT_ROOT as written (nginx-proxy: 404); proxy/default-root.ts parses it, and an invalid value is warned about (404 then). */
  defaultRoot: string
  /** Processes that accept and proxy connections (WORKERS); 1: the one process does everything, as before. */
  workers: number
}

export const DEFAULT_SERVE_OPTIONS: ServeOptions = {
  host: '0.0.0.0',
  port: DEFAULT_HTTP_PORT,
  httpsPort: DEFAULT_HTTPS_PORT,
  nginxRoot: DEFAULT_NGINX_ROOT,
  htmlDir: DEFAULT_HTML_DIR,
  acmeChallenge: true,
  acmeAcceptUnknownHost: false,
  defaultHttpsMethod: 'redirect',
  defaultHsts: DEFAULT_HSTS,
  trustDefaultCert: true,
  enableHttpOnMissingCert: true,
  nonGetRedirect: 301,
  adminSocket: DEFAULT_ADMIN_SOCKET,
  defaultHost: undefined,
  trustDownstreamProxy: true,
  accessLog: true,
  balancing: 'least-outstanding',
  drainTimeoutMs: DEFAULT_DRAIN_TIMEOUT_MS,
  shutdownTimeoutMs: DEFAULT_SHUTDOWN_TIMEOUT_MS,
  requestHeadersTimeoutMs: DEFAULT_REQUEST_HEADERS_TIMEOUT_MS,
  keepAliveTimeoutMs: DEFAULT_KEEP_ALIVE_TIMEOUT_MS,
  upstreamConnectTimeoutMs: DEFAULT_UPSTREAM_CONNECT_TIMEOUT_MS,
  upstreamResponseTimeoutMs: DEFAULT_UPSTREAM_RESPONSE_TIMEOUT_MS,
  maxHeaderSize: DEFAULT_MAX_HEADER_SIZE,
  clientIdleTimeoutMs: DEFAULT_CLIENT_IDLE_TIMEOUT_MS,
  maxClientConnections: DEFAULT_MAX_CLIENT_CONNECTIONS,
  http2MaxConcurrentStreams: DEFAULT_HTTP2_MAX_CONCURRENT_STREAMS,
  websocketIdleTimeoutMs: DEFAULT_WEBSOCKET_IDLE_TIMEOUT_MS,
  upstreamMaxConnections: DEFAULT_UPSTREAM_MAX_CONNECTIONS,
  bootHealthWaitMs: DEFAULT_BOOT_HEALTH_WAIT_MS,
  historyFile: undefined,
  metricsListen: undefined,
  requestIds: true,
  metrics: true,
  selfContainerId: undefined,
  proxyProtocol: false,
  enableHttp2: true,
  enableIpv6: false,
  sslPolicy: 'Mozilla-Intermediate',
  preferIpv6Network: false,
  debugEndpoint: false,
  defaultRoot: '404',
  workers: DEFAULT_WORKERS
}

/**
 * The address the public listeners bind. ENABLE_IPV6 (nginx-proxy's extra `listen [::]:80`) turns
 * the default 0.0.0.0 into ::, which on Linux and macOS accepts IPv4 as well (dual-stack, IPv4 peers
 * shown as ::ffff:a.b.c.d); an explicit PROXYCTL_LISTEN_HOST is kept as given.
 */
export function listenHost (options: Pick<ServeOptions, 'host' | 'enableIpv6'>): string {
  return options.enableIpv6 && options.host === DEFAULT_SERVE_OPTIONS.host ? '::' : options.host
}

export interface HealthCheckOptions {
  path: string
  /** true when the path came from a label: then only 2xx/3xx pass; the default path passes on < 500. */
  pathConfigured: boolean
  intervalMs: number
  timeoutMs: number
  /** Consecutive passes needed to admit (starting/unhealthy -> ready). */
  healthyThreshold: number
  /** Consecutive failures needed to eject (ready -> unhealthy). */
  unhealthyThreshold: number
}

export const DEFAULT_HEALTH_PATH = '/'
export const DEFAULT_HEALTH_INTERVAL_MS = 1_000
/** While a target is starting, probes run at least this often so admission is prompt. */
export const STARTING_PROBE_INTERVAL_MS = 250
export const DEFAULT_HEALTH_TIMEOUT_MS = 2_000
export const DEFAULT_HEALTHY_THRESHOLD = 1
export const DEFAULT_UNHEALTHY_THRESHOLD = 2

export const DEFAULT_HEALTH_CHECK: HealthCheckOptions = {
  path: DEFAULT_HEALTH_PATH,
  pathConfigured: false,
  intervalMs: DEFAULT_HEALTH_INTERVAL_MS,
  timeoutMs: DEFAULT_HEALTH_TIMEOUT_MS,
  healthyThreshold: DEFAULT_HEALTHY_THRESHOLD,
  unhealthyThreshold: DEFAULT_UNHEALTHY_THRESHOLD
}

export function parsePort (value: string, what: string): number {
  const n = Number(value)
  if (!/^\d+$/.test(value.trim()) || !Number.isInteger(n) || n < 0 || n > 65535) {
    throw new InvalidOptionError(`${what} must be a port number 0-65535, got "${value}"`)
  }
  return n
}

/** Durations accept "500ms", "2s", "1m" or a bare number of seconds (like kamal/docker). */
export function parseDurationMs (value: string, what: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$/.exec(value)
  if (m === null) throw new InvalidOptionError(`${what} must be a duration like 500ms, 2s or 1m, got "${value}"`)
  const n = Number(m[1])
  const unit = m[2] ?? 's'
  const ms = unit === 'ms' ? n : unit === 's' ? n * 1000 : n * 60_000
  return Math.round(ms)
}

export function parsePositiveInt (value: string, what: string): number {
  if (!/^\s*\d+\s*$/.test(value) || Number(value) < 1) throw new InvalidOptionError(`${what} must be a positive integer, got "${value}"`)
  return Number(value)
}

export function parseBoolean (value: string, what: string): boolean {
  const v = value.trim().toLowerCase()
  if (['1', 'true', 'yes', 'on'].includes(v)) return true
  if (['0', 'false', 'no', 'off'].includes(v)) return false
  throw new InvalidOptionError(`${what} must be true or false, got "${value}"`)
}

/**
 * ACME_HTTP_CHALLENGE_LOCATION (proxy or app container): 'legacy', or a boolean as Go's
 * strconv.ParseBool reads it (nginx-proxy's parseBool: 1, t, true, 0, f, false, any case) or
 * parseBoolean does.
 */
export function parseAcmeChallengeLocation (value: string, what: string): AcmeChallengeLocation {
  const v = value.trim().toLowerCase()
  if (v === 'legacy') return 'legacy'
  if (v === 't') return true
  if (v === 'f') return false
  try {
    return parseBoolean(v, what)
  } catch {
    throw new InvalidOptionError(`${what} must be true, false or legacy, got "${value}"`)
  }
}
