import type { ServiceContainer } from './plan.js'
import { rolloutBaseline, takeOver, type RolloutOptions } from './rollout.js'
import { awaitAdmission, drainOld, rollback, withDeployLock, type DeployDeps, type Timeouts } from './steps.js'

// Every deploy is the same sequence: lease → plan → start candidates → admit (else roll back) →
// drain the old → retire → done. What differs between a compose service and a plain container
// (and the verified, canary or Swarm deploys to come) is a DeployStrategy.

export interface StrategyPlan {
  /** Running containers the candidates replace: drained through the proxy, then retired. */
  old: ServiceContainer[]
  /** The `plan` step's line. */
  message: string
  /** The `scale` step's opening line: what starting the candidates runs. */
  startMessage: string
}

export interface DeployStrategy<P extends StrategyPlan = StrategyPlan> {
  /** The proxy's deploy lease: one deploy of a service at a time. */
  readonly lockKey: string
  /** Inspects what runs and decides what replaces what; runs holding the lease. */
  plan (): Promise<P>
  /**
   * Starts the candidates beside the old containers; resolves with them, running. A platform that
   * replaces containers itself, one at a time (Swarm), admits each candidate and drains the one it
   * replaces as it goes, through `gates`: the sequencer then admits and drains only what is left.
   */
  startCandidates (plan: P, gates: RolloutGates): Promise<ServiceContainer[]>
  /** After a failed start or admission: the candidates that exist, to remove. */
  strayCandidates (plan: P): Promise<ServiceContainer[]>
  /** A platform's own undo (`docker service rollback`), used instead of removing the candidates. */
  rollback? (plan: P): Promise<void>
  /** After the old containers drained: stop and remove them, and finish (a rename...). */
  retire (plan: P, candidates: ServiceContainer[]): Promise<DeploySummary>
}

/** The admission and drain steps, for a strategy whose platform paces the rollout. */
export interface RolloutGates {
  /** Waits until the proxy admits these candidates (the step's own lines; throws as the step does). */
  admit (candidates: ServiceContainer[], timeoutMs: number): Promise<void>
  /** Drains these old containers through the proxy. */
  drain (old: ServiceContainer[]): Promise<void>
}

export interface DeploySummary {
  service: string
  old: string[]
  new: string[]
  /** The `done` step's line. */
  message: string
}

export interface DeployResult {
  service: string
  old: string[]
  new: string[]
  durationMs: number
}

/** `rollout`: verified or canary deploys (rollout.ts); without it the old containers are drained as soon as the new are admitted. */
export async function runDeploy<P extends StrategyPlan> (strategy: DeployStrategy<P>, deps: DeployDeps, timeouts: Timeouts, rollout?: RolloutOptions): Promise<DeployResult> {
  const started = Date.now()
  const { progress } = deps
  return await withDeployLock(deps.admin, strategy.lockKey, async () => {
    const plan = await strategy.plan()
    progress.emit({ step: 'plan', status: 'done', message: plan.message, old: plan.old.map((c) => c.name) })
    const baseline = await rolloutBaseline(deps, rollout, plan.old)

    progress.emit({ step: 'scale', status: 'start', message: plan.startMessage })
    let candidates: ServiceContainer[] = []
    const admitted = new Set<string>()
    const drained = new Set<string>()
    const gates: RolloutGates = {
      admit: async (cs, timeoutMs) => { await awaitAdmission(deps, cs, timeoutMs); for (const c of cs) admitted.add(c.id) },
      drain: async (old) => { for (const c of old) drained.add(c.id); await drainOld(deps, old, timeouts.drainTimeoutMs) }
    }
    try {
      candidates = await strategy.startCandidates(plan, gates)
      progress.emit({ step: 'scale', status: 'done', message: `started ${candidates.map((c) => c.name).join(', ')}`, new: candidates.map((c) => c.name) })
      const left = candidates.filter((c) => !admitted.has(c.id))
      if (left.length > 0 || admitted.size === 0) await awaitAdmission(deps, left, timeouts.timeoutMs)
    } catch (err) {
      if (strategy.rollback !== undefined) {
        await strategy.rollback(plan)
        throw err
      }
      const stray = candidates.length > 0 ? candidates : await strategy.strayCandidates(plan)
      if (stray.length > 0) await rollback(deps, stray)
      throw err
    }

    await takeOver(deps, rollout, baseline, plan.old, candidates, async () => { await drainOld(deps, plan.old.filter((c) => !drained.has(c.id)), timeouts.drainTimeoutMs) })
    const summary = await strategy.retire(plan, candidates)
    const durationMs = Date.now() - started
    progress.emit({ step: 'done', status: 'done', message: summary.message, durationMs })
    return { service: summary.service, old: summary.old, new: summary.new, durationMs }
  })
}
