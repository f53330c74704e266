import type { HealthCheckOptions } from '../config/options.js'

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
}

export type HttpsMethod = 'redirect' | 'noredirect' | 'nohttp' | 'nohttps'
export const HTTPS_METHODS: readonly HttpsMethod[] = ['redirect', 'noredirect', 'nohttp', 'nohttps']

/** Per-host TLS settings from the app container (nginx-proxy's env); unset means the proxy default. */
export interface HostTlsSettings {
  httpsMethod: HttpsMethod | undefined
  hsts: string | undefined
  certName: string | undefined
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
  targets: TargetSpec[]
}

export interface DesiredState {
  routes: RouteSpec[]
}

export const EMPTY_DESIRED_STATE: DesiredState = Object.freeze({ routes: [] }) as DesiredState
