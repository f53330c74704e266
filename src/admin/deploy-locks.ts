// One deploy per service at a time, across processes and hosts: the proxy is the shared point
// every `proxyctl deploy` talks to. Leases expire, so a deploy killed mid-way cannot wedge a service.

export interface LockHolder {
  holder: string
  since: string
  expiresAt: number
}

export type AcquireResult = { acquired: true } | { acquired: false, current: LockHolder }

export class DeployLocks {
  readonly #locks = new Map<string, LockHolder>()
  readonly #now: () => number

  constructor (now: () => number = Date.now) { this.#now = now }

  /** Acquire, or renew when `holder` already has it. */
  acquire (key: string, holder: string, ttlMs: number): AcquireResult {
    const now = this.#now()
    const current = this.#locks.get(key)
    if (current !== undefined && current.expiresAt > now && current.holder !== holder) return { acquired: false, current }
    this.#locks.set(key, { holder, since: current?.holder === holder ? current.since : new Date(now).toISOString(), expiresAt: now + ttlMs })
    return { acquired: true }
  }

  release (key: string, holder: string): boolean {
    const current = this.#locks.get(key)
    if (current === undefined || current.holder !== holder) return false
    this.#locks.delete(key)
    return true
  }
}
