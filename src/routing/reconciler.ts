import type { BalancingStrategy } from '../config/options.js'
import { HealthCheck } from '../health/health-check.js'
import type { Logger } from '../logger.js'
import type { DesiredState, TargetSpec } from './desired-state.js'
import type { RouteTableStore } from './route-table-store.js'
import { buildRouteTable } from './route-table-builder.js'
import { Target, type DrainResult, type PoolSettings, type TargetStateChange } from './target.js'

export interface ReconcilerOptions extends PoolSettings {
  balancing: BalancingStrategy
  defaultHost: string | undefined
  drainTimeoutMs: number
}

/** Drains a group's requests held elsewhere (a worker process's), with one result per holder. */
export type DrainParticipant = (groupId: string, timeoutMs: number, graceMs: number) => Promise<DrainResult[]>

/** Several holders' drains of one group as one result: drained when all were. */
export function combineDrainResults (results: readonly DrainResult[]): DrainResult {
  return {
    drained: results.every((r) => r.drained),
    inflightLeft: results.reduce((n, r) => n + r.inflightLeft, 0),
    longLivedClosed: results.reduce((n, r) => n + r.longLivedClosed, 0),
    durationMs: Math.max(0, ...results.map((r) => r.durationMs))
  }
}

interface LiveTarget {
  target: Target
  health: HealthCheck
}

/**
 * DesiredState -> next RouteTable, swapped into the store. Owns the live Targets, keyed so they
 * (their health state and connection pools) survive unrelated changes.
 */
export class Reconciler {
  readonly #store: RouteTableStore
  readonly #options: ReconcilerOptions
  readonly #log: Logger
  readonly #live = new Map<string, LiveTarget>()
  readonly #stateListeners = new Set<(change: TargetStateChange) => void>()
  readonly #healthObserved: ((ok: boolean) => void) | undefined
  #desired: DesiredState = { routes: [] }
  /** Other holders of the same targets' requests (worker processes): a drain waits for theirs too. */
  readonly #drainParticipants = new Set<DrainParticipant>()

  constructor (store: RouteTableStore, options: ReconcilerOptions, log: Logger, healthObserved?: (ok: boolean) => void) {
    this.#store = store
    this.#options = options
    this.#log = log
    this.#healthObserved = healthObserved
  }

  /** The state the current table was built from (sent to worker processes, which build their own). */
  get desired (): DesiredState { return this.#desired }

  onDrain (participant: DrainParticipant): () => void {
    this.#drainParticipants.add(participant)
    return () => { this.#drainParticipants.delete(participant) }
  }

  onTargetStateChanged (listener: (change: TargetStateChange) => void): () => void {
    this.#stateListeners.add(listener)
    return () => { this.#stateListeners.delete(listener) }
  }

  apply (state: DesiredState): void {
    const seen = new Map<string, LiveTarget>()
    const table = buildRouteTable(state, this.#options, (spec, hostHeader) => this.#ensureTarget(spec, seen, hostHeader))
    this.#desired = state
    this.#store.swap(table)

    for (const [key, live] of this.#live) {
      if (seen.has(key)) continue
      this.#live.delete(key)
      void this.#dispose(live)
    }
    this.#log.debug({ hosts: table.hosts.length, targets: this.#live.size }, 'Table swapped')
  }

  /** Lifecycle signal for a container/task: out of rotation now, in-flight requests continue. */
  withdraw (groupId: string, reason: string): void {
    for (const { target } of this.#live.values()) if (target.groupId === groupId) target.withdraw(reason)
  }

  restore (groupId: string, reason: string): void {
    for (const { target } of this.#live.values()) if (target.groupId === groupId) target.restore(reason)
  }

  /** Verified deploys: every drained target of a group kept out of rotation, running; false when none could. */
  standby (groupId: string, reason: string): boolean {
    let any = false
    for (const { target } of this.#live.values()) if (target.groupId === groupId && target.standby(reason)) any = true
    return any
  }

  /** Every standby target of a group back in rotation at once; false when none was in standby. */
  reinstate (groupId: string, reason: string): boolean {
    let any = false
    for (const { target } of this.#live.values()) if (target.groupId === groupId && target.reinstate(reason)) any = true
    return any
  }

  /** Drain every target of a group (a container), here and in every participant. Resolves when all are idle or timed out. */
  async drain (groupId: string, timeoutMs: number, graceMs: number): Promise<DrainResult | undefined> {
    const targets = [...this.#live.values()].filter((l) => l.target.groupId === groupId)
    if (targets.length === 0) return undefined
    const results = await Promise.all([
      ...targets.map(async (l) => await l.target.drain('drain requested', timeoutMs, graceMs)),
      ...[...this.#drainParticipants].map(async (p) => await p(groupId, timeoutMs, graceMs))
    ])
    return combineDrainResults(results.flat())
  }

  targets (): Target[] {
    return [...this.#live.values()].map((l) => l.target)
  }

  /** Run one probe for every target not yet ready, bounded by timeoutMs (used before the listener opens). */
  async probeAll (timeoutMs: number): Promise<void> {
    const pending = [...this.#live.values()].filter((l) => l.target.awaitingAdmission)
    const all = Promise.all(pending.map(async (l) => { l.target.healthCheckCompleted(await l.health.probe()) }))
    let timer: NodeJS.Timeout | undefined
    await Promise.race([all, new Promise((resolve) => { timer = setTimeout(resolve, timeoutMs) })])
    clearTimeout(timer)
  }

  async stop (): Promise<void> {
    const all = [...this.#live.values()]
    this.#live.clear()
    await Promise.all(all.map(async (l) => { l.health.stop(); await l.target.pool.destroy() }))
  }

  // Private

  #ensureTarget (spec: TargetSpec, seen: Map<string, LiveTarget>, hostHeader: string): Target {
    const key = Target.keyOf(spec)
    const already = seen.get(key)
    if (already !== undefined) return already.target
    let live = this.#live.get(key)
    if (live === undefined) {
      const target = new Target(spec, this.#options, (change) => { this.#targetStateChanged(change) })
      const observe = this.#healthObserved
      const consumer = observe === undefined
        ? target
        : {
            get awaitingAdmission () { return target.awaitingAdmission },
            healthCheckCompleted: (r: Parameters<Target['healthCheckCompleted']>[0]) => { observe(r.ok); target.healthCheckCompleted(r) }
          }
      const health = new HealthCheck(target.pool, consumer, { options: spec.health, hostHeader })
      live = { target, health }
      this.#live.set(key, live)
      this.#log.info({ target: target.origin, containerId: spec.groupId, name: spec.name, state: target.state }, 'Target added')
      health.start()
    } else {
      live.target.updateSpec(spec)
      live.health.settings = { options: spec.health, hostHeader }
    }
    seen.set(key, live)
    return live.target
  }

  async #dispose (live: LiveTarget): Promise<void> {
    live.health.stop()
    try {
      await live.target.dispose(this.#options.drainTimeoutMs)
    } catch (err) {
      this.#log.warn({ err, target: live.target.origin }, 'Target pool close failed')
    }
    this.#log.info({ target: live.target.origin, containerId: live.target.groupId, name: live.target.name }, 'Target removed')
  }

  #targetStateChanged (change: TargetStateChange): void {
    const { target, from, to, reason } = change
    this.#log.info({ target: target.origin, containerId: target.groupId, name: target.name, from, to, reason }, 'Target state changed')
    for (const l of this.#stateListeners) l(change)
  }
}
