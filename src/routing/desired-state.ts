import type { AcmeChallengeLocation, HealthCheckOptions, HttpsMethod } from '../config/options.js'
import type { LoadBalancing } from './load-balancer.js'

// What a provider (Docker today, Swarm next) says should route where. Pure data: no sockets,
// no runtime health. Providers build it; only routing/reconciler consumes it.

export type Protocol = 'http' | 'https'
export type ExternalHealth = 'none' | 'starting' | 'healthy' | 'unhealthy'

export interface TargetSpec {
  /** Stable identity across re-lists: `${groupId}:${port}` plus protocol. */
  id: string
  /** The unit lifecycle signals address (a container id; a task id for Swarm). */
  groupId: string
  name: string
  address: string
  port: number
  protocol: Protocol
  health: HealthCheckOptions
  /** Health reported by the runtime itself (Docker HEALTHCHECK); 'none' when it has none. */
  externalHealth: ExternalHealth
  /** false: a connection per request, `Connection: close` (nginx-proxy's keepalive label `disabled`). */
  keepAlive?: boolean | undefined
  /** The Swarm node a task runs on (hostname), for status only. */
  node?: string | undefined
}

export { HTTPS_METHODS, type AcmeChallengeLocation, type HttpsMethod } from '../config/options.js'

/** Per-host TLS settings from the app container (nginx-proxy's env); unset means the proxy default. */
export interface HostTlsSettings {
  httpsMethod: HttpsMethod | undefined
  hsts: string | undefined
  certName: string | undefined
  /** The `com.github.nginx-proxy.nginx-proxy.trust-default-cert` label. */
  trustDefaultCert?: boolean | undefined
  /** ENABLE_HTTP_ON_MISSING_CERT on the app container. */
  enableHttpOnMissingCert?: boolean | undefined
  /** The `com.github.nginx-proxy.nginx-proxy.non-get-redirect` label (301, 307 or 308). */
  nonGetRedirect?: 301 | 307 | 308 | undefined
  /** ACME_HTTP_CHALLENGE_LOCATION on the app container; unset: the proxy's. */
  acmeChallenge?: AcmeChallengeLocation | undefined
  /** The `com.github.nginx-proxy.nginx-proxy.http2.enable` label; unset: ENABLE_HTTP2. */
  http2?: boolean | undefined
  /** The `com.github.nginx-proxy.nginx-proxy.ssl_verify_client` label (nginx-proxy's default: on). */
  sslVerifyClient?: string | undefined
  /** SSL_POLICY on the app container, a name nginx-proxy's table knows; unset: the proxy's. */
  sslPolicy?: string | undefined
  /** The `com.github.nginx-proxy.nginx-proxy.debug-endpoint` label; unset: DEBUG_ENDPOINT. */
  debugEndpoint?: boolean | undefined
}

export interface RouteSpec {
  /** As the user wrote it: `api.example.com`, `*.example.com`, `example.*`, `~^re$`. */
  host: string
  /** nginx location prefix, `/` by default. */
  path: string
  /** Replaces the matched path prefix upstream when non-empty (nginx proxy_pass URI semantics). */
  dest: string
  internalOnly: boolean
  tls: HostTlsSettings
  /** Request bodies above this many bytes are refused (413); undefined: no limit. */
  maxBodyBytes: number | undefined
  /**
   * The host's own listen ports (nginx-proxy EXTERNAL_HTTP_PORT/EXTERNAL_HTTPS_PORT): it is served
   * on these instead of the proxy's ports. Unset: the proxy's. The same for every path of a host.
   */
  externalPorts?: { http?: number | undefined, https?: number | undefined }
  /** From nginx-proxy's loadbalance label; unset: the proxy-wide --balancing. */
  balancing?: LoadBalancing | undefined
  /** Empty when no container of the route is reachable: the host stays and answers 502 (nginx-proxy). */
  targets: TargetSpec[]
}

export interface DesiredState {
  routes: RouteSpec[]
}
