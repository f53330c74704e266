import type { ServeOptions } from '../config/options.js'
import { DEFAULT_AUTH_MAX_FAILURES } from '../proxy/auth-throttle.js'
import type { HostPolicy, PolicySnapshot } from '../traffic/policy.js'

// The limits documented per proxy, enforced per worker process: each worker gets its share of the
// budget so the workers together enforce the documented total. Sharing one counter across
// processes would cost an IPC round trip on every connection, request or login; a fixed split is
// free and exact in its bound (never more than the total). The price: with SO_REUSEPORT the kernel
// picks the worker, so one worker can refuse while another still has room (the total is an upper
// bound, reached only when every worker is at its share).

/**
 * Slot `slot`'s share of `total` over `count` workers: floor(total / count), one more for the
 * first total % count slots. The shares add up to `total` exactly.
 */
export function budgetShare (total: number, count: number, slot: number): number {
  const base = Math.floor(total / count)
  return base + (slot < total % count ? 1 : 0)
}

/**
 * A worker's failed-login budget per client address. An exact split would leave a user on one
 * keep-alive connection (one worker) only total/N tries, one with many workers: at least
 * MIN_AUTH_FAILURES_PER_WORKER each, so an attacker who spreads guesses over every worker gets at
 * most count × max(ceil(total / count), MIN) per window (10 with 2 workers, 12 with 4, 24 with 8).
 */
export const MIN_AUTH_FAILURES_PER_WORKER = 3

export function authFailuresPerWorker (total: number, count: number): number {
  return Math.max(Math.min(total, MIN_AUTH_FAILURES_PER_WORKER), Math.ceil(total / count))
}

/** What an address can try in one window over all workers at most. */
export function authFailuresTotal (total: number, count: number): number {
  return count * authFailuresPerWorker(total, count)
}

/** Why this worker cannot serve its share (fewer client connections than workers), or undefined. */
export function shareProblem (options: Pick<ServeOptions, 'maxClientConnections' | 'workers'>): string | undefined {
  if (options.maxClientConnections >= options.workers) return undefined
  return `MAX_CLIENT_CONNECTIONS (${options.maxClientConnections}) is the total over all workers and must be at least WORKERS (${options.workers}); set WORKERS to at most ${options.maxClientConnections}`
}

/** The options a worker process serves with: MAX_CLIENT_CONNECTIONS its share of the total. */
export function workerServeOptions (options: ServeOptions, slot: number): ServeOptions {
  return { ...options, maxClientConnections: budgetShare(options.maxClientConnections, options.workers, slot) }
}

/** The failed-login budget a worker's BasicAuthStore counts with. */
export function workerAuthOptions (options: Pick<ServeOptions, 'workers'>): { maxFailures: number } {
  return { maxFailures: authFailuresPerWorker(DEFAULT_AUTH_MAX_FAILURES, options.workers) }
}

/**
 * The policy a worker holds requests by: each pause's maxQueued (a total per host) its share, at
 * least one so no worker answers a paused host's requests with 503 before anything is held (the
 * total is then at most max(maxQueued, count)).
 */
export function workerPolicy (snapshot: PolicySnapshot, count: number, slot: number): PolicySnapshot {
  if (count <= 1) return snapshot
  const hosts: Record<string, HostPolicy> = {}
  for (const [host, p] of Object.entries(snapshot.hosts)) {
    hosts[host] = p.pause === undefined ? p : { ...p, pause: { ...p.pause, maxQueued: Math.max(1, budgetShare(p.pause.maxQueued, count, slot)) } }
  }
  return { hosts }
}
