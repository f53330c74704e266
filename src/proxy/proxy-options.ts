import {
  DEFAULT_CLIENT_IDLE_TIMEOUT_MS, DEFAULT_HTTP2_MAX_CONCURRENT_STREAMS, DEFAULT_MAX_CLIENT_CONNECTIONS,
  DEFAULT_UPSTREAM_RESPONSE_TIMEOUT_MS, DEFAULT_WEBSOCKET_IDLE_TIMEOUT_MS
} from '../config/options.js'
import type { DebugGlobals } from './debug-endpoint.js'
import type { DefaultRoot } from './default-root.js'
import type { TlsOptions } from './https-front.js'
import type { AccessCheck, AcmeOptions } from './request-router.js'
import type { VhostStore } from '../vhost/vhost-store.js'
import type { PolicyStore } from '../traffic/policy.js'

// What ProxyServer is built from: its options, the limits with their nginx-like defaults, and the
// observer it tells about every answered request.

export interface ProxyServerOptions {
  host: string
  port: number
  trustDownstreamProxy: boolean
  accessLog: boolean
  requestHeadersTimeoutMs: number
  keepAliveTimeoutMs: number
  maxHeaderSize: number
  shutdownTimeoutMs: number
  /** Limits with nginx-like defaults (see DEFAULT_* in config/options.ts); each is optional here. */
  limits?: Partial<ProxyLimits> | undefined
  tls?: TlsOptions | undefined
  auth?: AccessCheck | undefined
  /** nginx-proxy's vhost.d directives (body size, upstream timeouts, add_header). */
  vhost?: Pick<VhostStore, 'settingsFor'> | undefined
  /** acme-companion's html volume; challenges are served from it (request-router.ts: which hosts, which scheme). */
  htmlDir?: string | undefined
  /** nginx-proxy's errors/50x.html (error-page.ts): the body of the fallback server's 503 when present. */
  errorPage?: { body (): Buffer | undefined } | undefined
  /** DEFAULT_ROOT (default-root.ts); nginx-proxy's 404 when unset. */
  defaultRoot?: DefaultRoot | undefined
  /** DEBUG_ENDPOINT and the `global` part of /nginx-proxy-debug's JSON (the proxy's settings, no secrets). */
  debugEndpoint?: { enabled: boolean, global: DebugGlobals } | undefined
  /** nginx-proxy's ACME_HTTP_CHALLENGE_* settings; its defaults when unset. */
  acme?: AcmeOptions | undefined
  /** X-Request-ID: passed through when present, generated when absent (default on). */
  requestIds?: boolean
  observer?: RequestObserver | undefined
  /**
   * How a worker process shares the ports with the others (src/workers/): its own socket with
   * SO_REUSEPORT (`exclusive` keeps node:cluster from sharing the primary's), or cluster's.
   */
  listenFlags?: { reusePort: boolean, exclusive: boolean } | undefined
  /** TLS session ticket keys (48 bytes) shared by worker processes, so a session resumes on any of them. */
  ticketKeys?: Buffer | undefined
  /** ENABLE_PROXY_PROTOCOL: every connection starts with a PROXY v1/v2 header naming the client (nginx `listen ... proxy_protocol`). */
  proxyProtocol?: boolean | undefined
  /** Traffic control (issue 13): pause and maintenance per host; held requests are this process's own. */
  policy?: Pick<PolicyStore, 'current' | 'forHost' | 'onChanged'> | undefined
}

/** Told about every answered request (metrics, traffic stats); `host` is the matched route's host. */
export interface RequestObserver {
  requestCompleted (host: string, status: number, upstream: string | undefined, durationMs: number): void
}

export interface ProxyLimits {
  /**
   * A client that neither sends nor reads for this long is disconnected (nginx send_timeout: 60 s);
   * a request body whose next chunk takes this long ends with 408 (nginx client_body_timeout: 60 s).
   */
  clientIdleTimeoutMs: number
  /** Connections per listener; beyond it new ones are closed at once (nginx-proxy: worker_connections 10240). */
  maxClientConnections: number
  /** HTTP/2 streams at once per session (nginx http2_max_concurrent_streams: 128). */
  h2MaxConcurrentStreams: number
  /** An open WebSocket tunnel with no bytes either way for this long is closed (nginx proxy_read_timeout: 60 s). */
  tunnelIdleTimeoutMs: number
  /** The upstream must answer an upgrade handshake within this. */
  upgradeTimeoutMs: number
}

export const DEFAULT_PROXY_LIMITS: ProxyLimits = {
  clientIdleTimeoutMs: DEFAULT_CLIENT_IDLE_TIMEOUT_MS,
  maxClientConnections: DEFAULT_MAX_CLIENT_CONNECTIONS,
  h2MaxConcurrentStreams: DEFAULT_HTTP2_MAX_CONCURRENT_STREAMS,
  tunnelIdleTimeoutMs: DEFAULT_WEBSOCKET_IDLE_TIMEOUT_MS,
  upgradeTimeoutMs: DEFAULT_UPSTREAM_RESPONSE_TIMEOUT_MS
}
