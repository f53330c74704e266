import type { PausePolicy, PolicySnapshot } from './policy.js'

// `proxyctl pause`: the requests held for paused hosts, in the process that serves them (a worker
// later, issue 12). Runtime state only, driven by the policy snapshot: when a host's pause leaves
// the snapshot its queue is released in arrival order; its bounds (maxHoldMs, maxQueued) are read
// from the snapshot, so a pause set again with other bounds applies them to requests already held.

/** `released`: the pause ended, decide again; `expired`: held maxHoldMs; `full`: maxQueued already held; `gone`: the client left. */
export type HoldOutcome = 'released' | 'expired' | 'full' | 'gone'

/** Retry-After (seconds) on a held request's 503: a pause is expected to end soon. */
export const PAUSE_RETRY_AFTER_S = 5

interface Held {
  readonly at: number
  timer: NodeJS.Timeout | undefined
  settle (outcome: HoldOutcome): void
}

export class HoldQueue {
  readonly #current: () => PolicySnapshot
  /** Per route host, in arrival order (a Set iterates in insertion order; a leaver is removed in O(1)). */
  readonly #queues = new Map<string, Set<Held>>()
  readonly #pauses = new Map<string, PausePolicy>()
  readonly #now: () => number

  /** `current`: the live snapshot, read when a request arrives (PolicyStore.current). */
  constructor (current: () => PolicySnapshot, now: () => number = Date.now) {
    this.#current = current
    this.#now = now
  }

  /** Requests held for `host` now. */
  held (host: string): number { return this.#queues.get(host)?.size ?? 0 }

  get total (): number {
    let n = 0
    for (const q of this.#queues.values()) n += q.size
    return n
  }

  /**
   * Holds a request for a paused host until its pause ends (`released`), it has waited the
   * pause's maxHoldMs (`expired`) or `signal` aborts (`gone`, the client hung up). `full` at once
   * when maxQueued are already held; `released` at once when the host is not paused (any more).
   */
  hold (host: string, signal?: AbortSignal): Promise<HoldOutcome> {
    const pause = this.#current().hosts[host]?.pause
    if (pause === undefined) return Promise.resolve('released')
    if (signal?.aborted === true) return Promise.resolve('gone')
    let queue = this.#queues.get(host)
    if (queue === undefined) {
      queue = new Set()
      this.#queues.set(host, queue)
      this.#pauses.set(host, pause)
    }
    if (queue.size >= pause.maxQueued) return Promise.resolve('full')
    const q = queue
    return new Promise<HoldOutcome>((resolve) => {
      const onAbort = (): void => { entry.settle('gone') }
      const entry: Held = {
        at: this.#now(),
        timer: undefined,
        settle: (outcome) => {
          if (!q.delete(entry)) return
          clearTimeout(entry.timer)
          signal?.removeEventListener('abort', onAbort)
          if (q.size === 0 && this.#queues.get(host) === q) { this.#queues.delete(host); this.#pauses.delete(host) }
          resolve(outcome)
        }
      }
      q.add(entry)
      this.#arm(entry, pause.maxHoldMs)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  /** Applies a new snapshot: hosts no longer paused are released in arrival order; changed bounds apply to the held. */
  sync (snapshot: PolicySnapshot): void {
    for (const [host, queue] of [...this.#queues]) {
      const pause = snapshot.hosts[host]?.pause
      if (pause === undefined) {
        for (const entry of [...queue]) entry.settle('released')
        continue
      }
      if (pause === this.#pauses.get(host)) continue
      this.#pauses.set(host, pause)
      let i = 0
      for (const entry of [...queue]) {
        // The newest beyond a lowered bound get their 503 now, as new arrivals would.
        if (i++ >= pause.maxQueued) entry.settle('full')
        else this.#arm(entry, pause.maxHoldMs)
      }
    }
  }

  /** Settles every held request (proxy stop): `expired`, so each gets its 503 with Retry-After. */
  expireAll (): void {
    for (const queue of [...this.#queues.values()]) for (const entry of [...queue]) entry.settle('expired')
  }

  // Private

  #arm (entry: Held, maxHoldMs: number): void {
    clearTimeout(entry.timer)
    const left = Math.max(0, entry.at + maxHoldMs - this.#now())
    entry.timer = setTimeout(() => { entry.settle('expired') }, left)
  }
}
