// The admin API's wire format: what the proxy (admin/server/) sends and `proxyctl` (admin/client/,
// cli/) reads. Types only, plus the bounds both sides must agree on; nothing here runs.
import type { CheckResult, DrainResult, TargetState } from '../routing/target.js'
import type { RolloutRecord } from '../history/rollout-history.js'
import type { HostTraffic } from '../metrics/traffic-stats.js'
import type { Figures } from '../traffic/version-stats.js'

export type { RolloutRecord, HostTraffic, CheckResult, Figures }

/** `text` is the raw body (HTML, metrics); `body` the parsed JSON when it is JSON. */
export interface AdminResponse { status: number, contentType: string, text: string, body: unknown }

/** `proxyctl admin-request --stdio`: one request a line from the CLI, one answer a line back, matched by id. */
export interface SessionRequest { id: number, method: string, path: string, body?: unknown }
export interface SessionAnswer { id: number | null, status: number, contentType: string, text: string }

/** Every error answer: a stable code and a sentence. */
export interface AdminError { code: string, message: string, [k: string]: unknown }

export interface UpstreamStatus {
  id: string
  containerId: string
  name: string
  origin: string
  state: TargetState
  reason: string
  inflight: number
  longLived: number
  lastCheck: CheckResult | null
  /** The Swarm node a task runs on (hostname); absent for a plain container. */
  node?: string
}

export interface LocationStatus {
  path: string
  dest: string
  internalOnly: boolean
  upstreams: UpstreamStatus[]
}

export interface HostStatus {
  host: string
  locations: LocationStatus[]
}

export interface SkippedContainer {
  containerId: string
  name: string
  reason: string
}

/** GET /v1/status */
export interface StatusReport {
  version: string
  pid: number
  defaultHost: string | null
  hosts: HostStatus[]
  upstreams: UpstreamStatus[]
  /** Containers the provider could not route, with the reason (invalid VIRTUAL_* values...). */
  skipped: SkippedContainer[]
  /** Requests and errors per route host since the proxy started. */
  traffic: Record<string, HostTraffic>
  /** Paused and in-maintenance hosts (issue 13). */
  trafficControl?: Record<string, HostTrafficControl>
  /** Canary splits per route host (issue 13): the share and both versions' live figures side by side. */
  canary?: Record<string, CanaryStatus>
}

/** POST /v1/drain */
export interface DrainRequest { containerId: string, timeoutMs?: number, graceMs?: number }
export type DrainResponse = DrainResult & { containerId: string, name: string }

/** POST /v1/locks (409 with `holder` when another holder has the key) and /v1/locks/release */
export interface LockRequest { key: string, holder: string, ttlMs: number }
export interface LockReleaseRequest { key: string, holder: string }

/** POST /v1/deploys, /v1/deploys/:id/steps, /v1/deploys/:id/finish: the rollout history. */
export interface DeployStep { step: string, status: string, message: string, old?: string[], new?: string[] }
export interface DeployFinish { outcome: 'succeeded' | 'failed', error?: string }

/**
 * POST /v1/admission: answers when every container is ready, when one of them cannot become
 * ready (skipped by the provider, or stopped), or when `timeoutMs` passes, whichever is first.
 */
export interface AdmissionRequest { containerIds: string[], timeoutMs: number }

/**
 * `ready`: every upstream of the container passes; `pending`: not in the table yet, or not
 * ready yet; `skipped`: the provider will not route it (reason); `stopped`: Docker reported it
 * stopping or dead while we waited (reason).
 */
export type AdmissionState = 'ready' | 'pending' | 'skipped' | 'stopped'

export interface ContainerAdmission {
  containerId: string
  state: AdmissionState
  reason: string
  /** The container's upstreams as the answer left: last check results for a timeout message. */
  upstreams: UpstreamStatus[]
}

export interface AdmissionResponse {
  /** Every container ready. */
  admitted: boolean
  containers: ContainerAdmission[]
}

/** Longest a single admission request is held; clients wanting longer ask again. */
export const MAX_ADMISSION_WAIT_MS = 60_000
/** Containers one admission request may name. */
export const MAX_ADMISSION_CONTAINERS = 256

/**
 * POST /v1/figures (issue 13): the live figures of these containers (ids, id prefixes or names)
 * together, over the last `lastMs` (default and cap: the proxy's window, `windowMs`).
 */
export interface FiguresRequest { containers: string[], lastMs?: number }
export interface FiguresResponse { figures: Figures, windowMs: number, upstreams: string[] }

/**
 * POST /v1/standby: a drained container kept running, out of rotation (a verified deploy's old
 * version). POST /v1/reinstate: a standby container back in rotation at once (409 when it is not
 * in standby).
 */
export interface StandbyRequest { containerId: string }
export interface StandbyResponse { containerId: string, name: string, state: TargetState }

/** POST /v1/pause: new requests for the target's hosts are held (issue 13 item 3). */
export interface PauseRequest { target: string, containers?: string[], maxHoldMs?: number, maxQueued?: number }
/** POST /v1/maintenance/on: 503 + Retry-After + `page` (HTML; the built-in one when absent) except for `allow` (addresses, CIDRs). */
export interface MaintenanceRequest { target: string, containers?: string[], page?: string, allow?: string[] }
/**
 * POST /v1/resume, /v1/maintenance/off. `target`: a route host, else a container name or id;
 * `containers`: what the CLI found for a compose service of that name (ids).
 */
export interface TrafficTargetRequest { target: string, containers?: string[] }
export interface TrafficControlResponse {
  /** The hosts the target resolved to; `changed`: those whose state this request changed. */
  hosts: string[]
  changed: string[]
  /** The target is a host name no container serves now; the state applies once one does. */
  unrouted: boolean
  /** Maintenance is kept in a state file (HISTORY_FILE's directory) and survives a restart. */
  persisted: boolean
  trafficControl: Record<string, HostTrafficControl>
}
/** StatusReport.trafficControl: per route host with a pause or maintenance. */
export interface HostTrafficControl {
  pause?: { since: string, maxHoldMs: number, maxQueued: number, held: number }
  maintenance?: { since: string, allow: string[], customPage: boolean }
}
export const DEFAULT_PAUSE_MAX_HOLD_MS = 30_000
export const DEFAULT_PAUSE_MAX_QUEUED = 1000
// Below node:http's requestTimeout (300 s, proxy-server.ts): a held request whose body is not in yet must not get its 408.
export const MAX_PAUSE_HOLD_MS = 240_000
export const MAX_PAUSE_QUEUED = 100_000
export const MAX_TRAFFIC_TARGET_CONTAINERS = 256

/**
 * POST /v1/canary: the new containers get `share` (0..1) of the clients on every host they
 * serve; the answer names the hosts and the sticky cookie. POST /v1/canary/clear: the split
 * removed from every host whose new side names one of `containers`.
 */
export interface CanaryRequest { containers: string[], share: number }
export interface CanaryClearRequest { containers: string[] }
export interface CanaryResponse { hosts: string[], share: number, cookie: string | null }

/** StatusReport.canary: figures over the last CANARY_STATUS_WINDOW_MS. */
export interface CanaryStatus {
  share: number
  cookie: string
  newTargets: string[]
  newUpstreams: string[]
  oldUpstreams: string[]
  new: Figures
  old: Figures
  windowMs: number
}
