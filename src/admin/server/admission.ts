import { ProxyError } from '../../errors.js'
import type { RouteTableStore } from '../../routing/route-table-store.js'
import type { Reconciler } from '../../routing/reconciler.js'
import {
  MAX_ADMISSION_WAIT_MS, type AdmissionResponse, type ContainerAdmission, type SkippedContainer
} from '../api.js'
import { upstreamStatus } from './status.js'

// POST /v1/admission: `proxyctl deploy` asks once "tell me when these containers are ready" and
// the proxy answers from its own events (target state changes, table swaps, Docker stop events)
// instead of being polled. Anyone on the admin socket can ask, so waiters are bounded in number
// and in time, and a waiter whose client went away is dropped.

/** Admission requests held at once; more is a runaway client, not a busy host. */
export const MAX_ADMISSION_WAITERS = 64
/** Stop events remembered for containers nobody waits on yet (the race between start and wait). */
const MAX_REMEMBERED_STOPS = 256

interface Waiter {
  ids: readonly string[]
  resolve: (r: AdmissionResponse) => void
  timer: NodeJS.Timeout
}

const sameContainer = (a: string, b: string): boolean => a !== '' && b !== '' && (a.startsWith(b) || b.startsWith(a))

export class AdmissionWaiters {
  readonly #reconciler: Reconciler
  readonly #skipped: () => readonly SkippedContainer[]
  readonly #waiters = new Set<Waiter>()
  readonly #stops = new Map<string, string>()
  readonly #unsubscribe: Array<() => void>
  readonly #maxWaiters: number
  readonly #maxWaitMs: number

  constructor (store: RouteTableStore, reconciler: Reconciler, skipped: () => readonly SkippedContainer[], limits: { maxWaiters?: number, maxWaitMs?: number } = {}) {
    this.#reconciler = reconciler
    this.#skipped = skipped
    this.#maxWaiters = limits.maxWaiters ?? MAX_ADMISSION_WAITERS
    this.#maxWaitMs = limits.maxWaitMs ?? MAX_ADMISSION_WAIT_MS
    this.#unsubscribe = [
      reconciler.onTargetStateChanged(() => { this.#recheck() }),
      store.onTableSwapped(() => { this.#recheck() })
    ]
  }

  get size (): number { return this.#waiters.size }

  /**
   * Resolves with every container's admission once all are ready, one is skipped or stopped, or
   * `timeoutMs` (capped at MAX_ADMISSION_WAIT_MS) passes; at once when `signal` aborts.
   */
  async wait (ids: readonly string[], timeoutMs: number, signal?: AbortSignal): Promise<AdmissionResponse> {
    const now = this.#evaluate(ids)
    if (this.#decided(now) || timeoutMs <= 0 || signal?.aborted === true) return now
    if (this.#waiters.size >= this.#maxWaiters) {
      throw new ProxyError('PROXY_ERR_ADMIN', `too many admission requests held at once (${this.#maxWaiters})`, { statusCode: 503 })
    }
    return await new Promise<AdmissionResponse>((resolve) => {
      const waiter: Waiter = {
        ids,
        resolve: (r) => {
          clearTimeout(waiter.timer)
          this.#waiters.delete(waiter)
          signal?.removeEventListener('abort', onAbort)
          resolve(r)
        },
        timer: setTimeout(() => { waiter.resolve(this.#evaluate(ids)) }, Math.min(timeoutMs, this.#maxWaitMs))
      }
      const onAbort = (): void => { waiter.resolve(this.#evaluate(ids)) }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.#waiters.add(waiter)
    })
  }

  /** Docker reported the container stopping or dead (kill, stop, die, destroy events). */
  containerStopped (id: string, reason: string): void {
    this.#stops.delete(id)
    this.#stops.set(id, reason)
    if (this.#stops.size > MAX_REMEMBERED_STOPS) this.#stops.delete(this.#stops.keys().next().value!)
    this.#recheck()
  }

  containerStarted (id: string): void { this.#stops.delete(id) }

  /** Answers every held request with the state as it is (the proxy is stopping). */
  close (): void {
    for (const u of this.#unsubscribe) u()
    for (const w of [...this.#waiters]) w.resolve(this.#evaluate(w.ids))
  }

  // Private

  #recheck (): void {
    for (const w of [...this.#waiters]) {
      const r = this.#evaluate(w.ids)
      if (this.#decided(r)) w.resolve(r)
    }
  }

  #decided (r: AdmissionResponse): boolean {
    return r.admitted || r.containers.some((c) => c.state === 'skipped' || c.state === 'stopped')
  }

  #evaluate (ids: readonly string[]): AdmissionResponse {
    const targets = this.#reconciler.targets()
    const skipped = this.#skipped()
    const containers = ids.map((id): ContainerAdmission => {
      const upstreams = targets.filter((t) => t.isContainer(id)).map((t) => upstreamStatus(t))
      const stop = [...this.#stops].find(([stopped]) => sameContainer(stopped, id))
      if (stop !== undefined) return { containerId: id, state: 'stopped', reason: stop[1], upstreams }
      const skip = skipped.find((s) => sameContainer(s.containerId, id))
      if (skip !== undefined) return { containerId: id, state: 'skipped', reason: skip.reason, upstreams }
      const ready = upstreams.length > 0 && upstreams.every((u) => u.state === 'ready')
      const reason = upstreams.length === 0 ? 'not in the route table' : upstreams.map((u) => `${u.origin} ${u.state}`).join('; ')
      return { containerId: id, state: ready ? 'ready' : 'pending', reason, upstreams }
    })
    return { admitted: containers.every((c) => c.state === 'ready'), containers }
  }
}
