import { ProxyError } from '../../errors.js'

// One deploy per service at a time, across processes and hosts: the proxy is the shared point
// every `proxyctl deploy` talks to. Leases expire, so a deploy killed mid-way cannot wedge a service.
// Anyone on the admin socket can add keys, so the table is bounded: expired leases are swept on
// every acquire, leases are capped in length (deploys renew every 10 s), and entries in number.

/** Concurrent deploy leases; more is a runaway client, not a busy host. */
export const DEFAULT_MAX_DEPLOY_LOCKS = 1_024
/** Longest lease granted in one acquire; `proxyctl deploy` asks for 30 s and renews. */
export const MAX_LEASE_MS = 10 * 60_000

export interface LockHolder {
  holder: string
  since: string
  expiresAt: number
}

export type AcquireResult = { acquired: true } | { acquired: false, current: LockHolder }

export class DeployLocks {
  readonly #locks = new Map<string, LockHolder>()
  readonly #now: () => number
  readonly #maxLocks: number

  constructor (now: () => number = Date.now, maxLocks = DEFAULT_MAX_DEPLOY_LOCKS) {
    this.#now = now
    this.#maxLocks = maxLocks
  }

  get size (): number { return this.#locks.size }

  /** Acquire, or renew when `holder` already has it. Throws PROXY_ERR_ADMIN (503) when the table is full. */
  acquire (key: string, holder: string, ttlMs: number): AcquireResult {
    const now = this.#now()
    this.#sweep(now)
    const current = this.#locks.get(key)
    if (current !== undefined && current.holder !== holder) return { acquired: false, current }
    if (current === undefined && this.#locks.size >= this.#maxLocks) {
      throw new ProxyError('PROXY_ERR_ADMIN', `too many deploy locks held at once (${this.#maxLocks}); retry when some deploys have finished`, { statusCode: 503 })
    }
    const leaseMs = Math.min(ttlMs, MAX_LEASE_MS)
    this.#locks.set(key, { holder, since: current?.since ?? new Date(now).toISOString(), expiresAt: now + leaseMs })
    return { acquired: true }
  }

  release (key: string, holder: string): boolean {
    const current = this.#locks.get(key)
    if (current === undefined || current.holder !== holder) return false
    this.#locks.delete(key)
    return true
  }

  // Private

  #sweep (now: number): void {
    for (const [key, lock] of this.#locks) if (lock.expiresAt <= now) this.#locks.delete(key)
  }
}
