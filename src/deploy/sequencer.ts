import type { ServiceContainer } from './plan.js'
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
  /** Starts the candidates beside the old containers; resolves with them, running. */
  startCandidates (plan: P): Promise<ServiceContainer[]>
  /** After a failed start or admission: the candidates that exist, to remove. */
  strayCandidates (plan: P): Promise<ServiceContainer[]>
  /** After the old containers drained: stop and remove them, and finish (a rename...). */
  retire (plan: P, candidates: ServiceContainer[]): Promise<DeploySummary>
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

export async function runDeploy<P extends StrategyPlan> (strategy: DeployStrategy<P>, deps: DeployDeps, timeouts: Timeouts): Promise<DeployResult> {
  const started = Date.now()
  const { progress } = deps
  return await withDeployLock(deps.admin, strategy.lockKey, async () => {
    const plan = await strategy.plan()
    progress.emit({ step: 'plan', status: 'done', message: plan.message, old: plan.old.map((c) => c.name) })

    progress.emit({ step: 'scale', status: 'start', message: plan.startMessage })
    let candidates: ServiceContainer[] = []
    try {
      candidates = await strategy.startCandidates(plan)
      progress.emit({ step: 'scale', status: 'done', message: `started ${candidates.map((c) => c.name).join(', ')}`, new: candidates.map((c) => c.name) })
      await awaitAdmission(deps, candidates, timeouts.timeoutMs)
    } catch (err) {
      const stray = candidates.length > 0 ? candidates : await strategy.strayCandidates(plan)
      if (stray.length > 0) await rollback(deps, stray)
      throw err
    }

    await drainOld(deps, plan.old, timeouts.drainTimeoutMs)
    const summary = await strategy.retire(plan, candidates)
    const durationMs = Date.now() - started
    progress.emit({ step: 'done', status: 'done', message: summary.message, durationMs })
    return { service: summary.service, old: summary.old, new: summary.new, durationMs }
  })
}
