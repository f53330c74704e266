import type { ReconcilerOptions } from '../routing/reconciler.js'
import type { Logger } from '../logger.js'
import type { TargetSpec } from '../routing/desired-state.js'
import { buildRouteTable } from '../routing/route-table-builder.js'
import type { DesiredState } from '../routing/desired-state.js'
import type { RouteTableStore } from '../routing/route-table-store.js'
import { Target, type DrainResult } from '../routing/target.js'
import type { PolicySnapshot } from '../traffic/policy.js'
import type { RoutingSnapshot, TargetLoad } from './messages.js'

/** The primary's routing as plain data: what it applied, each live target's state, the traffic policy. */
export function routingSnapshot (version: number, routing: { desired: DesiredState, targets: () => readonly Target[] }, policy: PolicySnapshot): RoutingSnapshot {
  return {
    version,
    desired: routing.desired,
    targets: routing.targets().map((t) => ({ key: t.key, state: t.state, reason: t.stateReason })),
    policy
  }
}

/**
 * A worker process's routing: its own Targets (with their own connection pools) built from the
 * primary's snapshot, with the same table builder as the Reconciler. No health checks, no Docker:
 * target states are mirrored from the primary. Built aside and swapped whole, as there.
 */
export class RoutingReplica {
  readonly #store: RouteTableStore
  readonly #options: ReconcilerOptions
  readonly #log: Logger
  readonly #live = new Map<string, Target>()
  #version = -1

  constructor (store: RouteTableStore, options: ReconcilerOptions, log: Logger) {
    this.#store = store
    this.#options = options
    this.#log = log
  }

  apply (snapshot: RoutingSnapshot): void {
    if (snapshot.version === this.#version) {
      this.#mirror(snapshot)
      return
    }
    const seen = new Map<string, Target>()
    const table = buildRouteTable(snapshot.desired, this.#options, (spec) => this.#ensureTarget(spec, seen))
    // States first: a target the primary has ready is routable from the swap on.
    this.#mirror(snapshot)
    this.#version = snapshot.version
    this.#store.swap(table)
    for (const [key, target] of this.#live) {
      if (seen.has(key)) continue
      this.#live.delete(key)
      void this.#dispose(target)
    }
  }

  /** This worker's share of a drain: its requests on the group's targets. */
  async drain (groupId: string, timeoutMs: number, graceMs: number): Promise<DrainResult[]> {
    const targets = [...this.#live.values()].filter((t) => t.groupId === groupId)
    return await Promise.all(targets.map(async (t) => await t.drain('drain requested', timeoutMs, graceMs)))
  }

  load (): TargetLoad[] {
    return [...this.#live.values()].map((t) => ({ key: t.key, inflight: t.inflight, longLived: t.longLivedCount }))
  }

  async stop (): Promise<void> {
    const all = [...this.#live.values()]
    this.#live.clear()
    await Promise.all(all.map(async (t) => { await t.pool.destroy() }))
  }

  // Private

  #mirror (snapshot: RoutingSnapshot): void {
    for (const s of snapshot.targets) this.#live.get(s.key)?.mirror(s.state, s.reason)
  }

  #ensureTarget (spec: TargetSpec, seen: Map<string, Target>): Target {
    const key = Target.keyOf(spec)
    let target = seen.get(key) ?? this.#live.get(key)
    if (target === undefined) {
      target = new Target(spec, this.#options, () => {})
      this.#live.set(key, target)
    } else {
      target.updateSpec(spec)
    }
    seen.set(key, target)
    return target
  }

  async #dispose (target: Target): Promise<void> {
    try {
      await target.dispose(this.#options.drainTimeoutMs)
    } catch (err) {
      this.#log.warn({ err, target: target.origin }, 'Target pool close failed')
    }
  }
}
