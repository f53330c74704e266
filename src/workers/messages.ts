import type { ServeOptions } from '../config/options.js'
import type { DesiredState } from '../routing/desired-state.js'
import type { DrainResult, TargetState } from '../routing/target.js'
import type { PolicySnapshot } from '../traffic/policy.js'

// The wire between the primary (Docker, health checks, admin API) and its worker processes
// (accept and proxy). Plain data only: a worker builds its own live objects from it.

/** A target's runtime status as the primary's health checks and Docker's signals made it. */
export interface TargetStatus { key: string, state: TargetState, reason: string }

/** Everything a worker routes by: build aside from `desired` when `version` changed, else only the statuses. */
export interface RoutingSnapshot {
  /** Bumped on every table swap in the primary. */
  version: number
  desired: DesiredState
  targets: TargetStatus[]
  policy: PolicySnapshot
}

/** How workers share the ports: each its own SO_REUSEPORT socket, or node:cluster's round-robin. */
export type AcceptMode = 'reuseport' | 'round-robin'

/** A worker process's own figures when asked (the primary's /metrics labels them by slot). */
export interface WorkerProcessFigures {
  residentMemoryBytes: number
  heapUsedBytes: number
  /** User and system CPU time since the worker started. */
  cpuSeconds: number
  /** Time its event loop was busy since the worker started (rate() of it: the utilization, 0..1). */
  eventLoopBusySeconds: number
  /** 99th percentile of the event loop's delay since the previous report, seconds. */
  eventLoopDelayP99Seconds: number
}

/** A target's requests held by one worker now. */
export interface TargetLoad { key: string, inflight: number, longLived: number }

export type ToWorker =
  | { type: 'init', options: ServeOptions, snapshot: RoutingSnapshot, accept: AcceptMode, ticketKeys: Buffer }
  | { type: 'routing', snapshot: RoutingSnapshot }
  | { type: 'drain', id: number, groupId: string, timeoutMs: number, graceMs: number }
  /** Outcomes so far flushed first, then the load: after the answer the primary's figures include them. */
  | { type: 'load', id: number }
  | { type: 'reload', id: number }
  | { type: 'stop' }

/**
 * Request outcomes, flat: host, status, upstream ('' for none), durationMs, repeated. Flat arrays
 * cost the IPC serializer a fraction of what an object per request does.
 */
export type OutcomeBatch = Array<string | number>

export type FromWorker =
  /**
   * Its message listener is in place: the primary sends `init` on this, not on cluster's 'online'
   * (sent before the worker's module has run, so a message then would find no listener and be lost).
   */
  | { type: 'ready' }
  | { type: 'listening', port: number, httpsPort: number | undefined }
  /** It could not start (a port taken): the primary's start fails with this, as the single process's would. */
  | { type: 'failed', message: string }
  | { type: 'requests', outcomes: OutcomeBatch, inflight: number }
  | { type: 'drained', id: number, results: DrainResult[] }
  | { type: 'load', id: number, inflight: number, targets: TargetLoad[], held: Record<string, number>, process: WorkerProcessFigures }
  | { type: 'done', id: number }
