import type { BalancingStrategy } from '../config/options.js'
import { type Target, targetStateEpoch } from './target.js'

/** Picks a ready Target for one route; the ready list is recomputed only when some state changed. */
export class LoadBalancer {
  readonly targets: readonly Target[]
  readonly #strategy: BalancingStrategy
  #ready: Target[] = []
  #epoch = -1
  #next = 0

  constructor (targets: readonly Target[], strategy: BalancingStrategy) {
    this.targets = targets
    this.#strategy = strategy
  }

  get readyCount (): number { return this.#readyTargets().length }

  /** Returns undefined when no ready target is left outside `exclude`. */
  pick (exclude?: ReadonlySet<Target>): Target | undefined {
    const ready = this.#readyTargets()
    const n = ready.length
    if (n === 0) return undefined
    const start = this.#next++ % n
    if (this.#next > 1e9) this.#next = 0
    let best: Target | undefined
    for (let i = 0; i < n; i++) {
      const t = ready[(start + i) % n]!
      if (exclude?.has(t) === true) continue
      if (this.#strategy === 'round-robin') return t
      // Least outstanding requests; ties go round-robin via the rotating start.
      if (best === undefined || t.inflight < best.inflight) best = t
    }
    return best
  }

  // Private

  #readyTargets (): Target[] {
    const epoch = targetStateEpoch()
    if (epoch !== this.#epoch) {
      this.#ready = this.targets.filter((t) => t.routable)
      this.#epoch = epoch
    }
    return this.#ready
  }
}
