import type { Duplex } from 'node:stream'
import { Pool } from './upstream-pool.js'
import type { ExternalHealth, TargetSpec } from './desired-state.js'

// One upstream (container host:port). Runtime status lives here and nowhere else:
// HealthCheck writes through healthCheckCompleted(), discovery through setExternalHealth()/withdraw().

/** `standby`: drained but kept running during a verified deploy (issue 13), re-admitted without a health wait. */
export type TargetState = 'starting' | 'ready' | 'unhealthy' | 'draining' | 'standby'

export interface CheckResult {
  ok: boolean
  at: string
  detail: string
  durationMs: number
}

export interface PoolSettings {
  connectTimeoutMs: number
  responseTimeoutMs: number
  /** Connections to this target at most; further requests wait in the pool's queue. */
  maxConnections?: number | undefined
}

export interface TargetStateChange {
  target: Target
  from: TargetState
  to: TargetState
  reason: string
}

export interface DrainResult {
  drained: boolean
  inflightLeft: number
  longLivedClosed: number
  durationMs: number
}

let stateEpoch = 0
/** Bumped on every state change anywhere; balancers recompute their ready list lazily. */
export function targetStateEpoch (): number { return stateEpoch }

export class Target {
  readonly key: string
  readonly pool: Pool
  readonly origin: string
  #spec: TargetSpec
  #state: TargetState = 'starting'
  #stateReason = 'discovered'
  #withdrawnBySignal = false
  #passes = 0
  #failures = 0
  #inflight = 0
  #lastCheck: CheckResult | undefined
  #longLived = new Set<Duplex>()
  #idleWaiters: Array<() => void> = []
  #onStateChanged: (change: TargetStateChange) => void

  constructor (spec: TargetSpec, pool: PoolSettings, onStateChanged: (change: TargetStateChange) => void) {
    this.#spec = spec
    this.key = Target.keyOf(spec)
    this.origin = `${spec.protocol}://${spec.address.includes(':') ? `[${spec.address}]` : spec.address}:${spec.port}`
    this.#onStateChanged = onStateChanged
    this.pool = new Pool(this.origin, {
      connect: { timeout: pool.connectTimeoutMs, ...(spec.protocol === 'https' ? { rejectUnauthorized: false } : {}) },
      headersTimeout: pool.responseTimeoutMs,
      bodyTimeout: pool.responseTimeoutMs,
      keepAliveTimeout: 4_000,
      // 0: `Connection: close` and a connection per request (undici's way to turn keep-alive off).
      pipelining: spec.keepAlive === false ? 0 : 1,
      connections: pool.maxConnections ?? null
    })
  }

  static keyOf (spec: TargetSpec): string { return `${spec.id}@${spec.address}` }

  get spec (): TargetSpec { return this.#spec }
  get id (): string { return this.#spec.id }
  get groupId (): string { return this.#spec.groupId }
  get name (): string { return this.#spec.name }
  get state (): TargetState { return this.#state }
  get stateReason (): string { return this.#stateReason }
  get inflight (): number { return this.#inflight }
  get lastCheck (): CheckResult | undefined { return this.#lastCheck }
  get longLivedCount (): number { return this.#longLived.size }
  get routable (): boolean { return this.#state === 'ready' }
  /** A container reference as users and the CLI give it: full id, id prefix, or name. */
  isContainer (ref: string): boolean {
    return ref !== '' && (this.#spec.groupId.startsWith(ref) || this.#spec.name === ref)
  }

  get awaitingAdmission (): boolean { return this.#state === 'starting' || this.#state === 'unhealthy' }

  updateSpec (spec: TargetSpec): void {
    const externalChanged = spec.externalHealth !== this.#spec.externalHealth
    this.#spec = spec
    if (externalChanged) this.#externalHealthChanged(spec.externalHealth)
  }

  healthCheckCompleted (result: CheckResult): void {
    this.#lastCheck = result
    if (this.#state === 'draining' || this.#state === 'standby') return
    if (result.ok) {
      this.#failures = 0
      this.#passes++
      if (this.#state !== 'ready' && this.#passes >= this.#spec.health.healthyThreshold && this.#externalOk()) {
        this.#setState('ready', `health check passed (${result.detail})`)
      }
    } else {
      this.#passes = 0
      this.#failures++
      if (this.#state === 'ready' && this.#failures >= this.#spec.health.unhealthyThreshold) {
        this.#setState('unhealthy', `health check failed ${this.#failures}x (${result.detail})`)
      }
    }
  }

  /** Lifecycle signal (kill/stop/die/pause): out of rotation at once, in-flight requests continue. */
  withdraw (reason: string): void {
    if (this.#state === 'draining') return
    this.#withdrawnBySignal = true
    this.#setState('draining', reason)
  }

  /** The container started again (docker restart / unpause): re-admit through health checks. */
  restore (reason: string): void {
    if (this.#state !== 'draining' || !this.#withdrawnBySignal) return
    this.#withdrawnBySignal = false
    this.#passes = 0
    this.#failures = 0
    this.#setState('starting', reason)
  }

  /** A drained target kept running (verified deploy): out of rotation until reinstate() or drain/dispose. */
  standby (reason: string): boolean {
    if (this.#state !== 'draining' || this.#withdrawnBySignal) return false
    this.#setState('standby', reason)
    return true
  }

  /** Back in rotation at once: it never stopped, so no boot and no health wait (a failed verification). */
  reinstate (reason: string): boolean {
    if (this.#state !== 'standby') return false
    this.#passes = this.#spec.health.healthyThreshold
    this.#failures = 0
    this.#setState('ready', reason)
    return true
  }

  /**
   * A worker process's copy of a target follows the primary's, which alone runs health checks and
   * sees Docker's signals (src/workers/): its state is set, never derived.
   */
  mirror (state: TargetState, reason: string): void { this.#setState(state, reason) }

  requestStarted (): void { this.#inflight++ }
  requestFinished (): void {
    this.#inflight--
    if (this.#inflight === 0 && this.#idleWaiters.length > 0) {
      const waiters = this.#idleWaiters
      this.#idleWaiters = []
      for (const w of waiters) w()
    }
  }

  /** WebSocket tunnels and other long-lived sockets are closed after the drain grace period. */
  trackLongLived (socket: Duplex): void {
    this.#longLived.add(socket)
    socket.once('close', () => { this.#longLived.delete(socket) })
  }

  /**
   * Stop new requests, wait for in-flight ones to finish (bounded by timeoutMs), and close
   * long-lived connections after graceMs so their clients reconnect elsewhere.
   */
  async drain (reason: string, timeoutMs: number, graceMs: number): Promise<DrainResult> {
    const started = Date.now()
    if (this.#state !== 'draining') this.#setState('draining', reason)
    this.#withdrawnBySignal = false
    let longLivedClosed = 0
    const closeLongLived = (): void => {
      for (const s of this.#longLived) { s.destroy(); longLivedClosed++ }
    }
    const graceTimer = setTimeout(closeLongLived, Math.min(graceMs, timeoutMs))
    const drained = await this.#waitIdle(timeoutMs)
    clearTimeout(graceTimer)
    closeLongLived()
    return { drained, inflightLeft: this.#inflight, longLivedClosed, durationMs: Date.now() - started }
  }

  async dispose (timeoutMs: number): Promise<void> {
    if (this.#state !== 'draining') this.#setState('draining', 'removed from configuration')
    const idle = await this.#waitIdle(timeoutMs)
    for (const s of this.#longLived) s.destroy()
    if (idle) await this.pool.close()
    else await this.pool.destroy()
  }

  // Private

  #externalOk (): boolean {
    const h = this.#spec.externalHealth
    return h === 'none' || h === 'healthy'
  }

  #externalHealthChanged (h: ExternalHealth): void {
    if (this.#state === 'draining') return
    if (h === 'unhealthy' && this.#state === 'ready') this.#setState('unhealthy', 'Docker reports the container unhealthy')
    else if (h === 'healthy' && this.#state !== 'ready' && this.#passes >= this.#spec.health.healthyThreshold) {
      this.#setState('ready', 'Docker reports the container healthy and the health check passes')
    }
  }

  #waitIdle (timeoutMs: number): Promise<boolean> {
    if (this.#inflight === 0) return Promise.resolve(true)
    return new Promise((resolve) => {
      const timer = setTimeout(() => { resolve(false) }, timeoutMs)
      this.#idleWaiters.push(() => { clearTimeout(timer); resolve(true) })
    })
  }

  #setState (to: TargetState, reason: string): void {
    const from = this.#state
    if (from === to) return
    this.#state = to
    this.#stateReason = reason
    stateEpoch++
    this.#onStateChanged({ target: this, from, to, reason })
  }
}
