import type { ServiceContainer } from './plan.js'
import type { DeployDeps } from './steps.js'
import type { Figures } from '../traffic/version-stats.js'
import { baselineOf, verifyOrRollBack, type VerifyOptions } from './verify.js'

// How the new version takes over once admitted (issue 13): at once (the default: drain the old),
// verified on live traffic with the old kept in standby, or by canary steps.

export interface RolloutOptions {
  /** The thresholds; `windowMs` is the verification window, or each canary step's time. */
  verify: VerifyOptions
  /** Canary: the new version's share per step (0..1, ascending, the last 1), each verified. */
  canary?: { steps: number[] } | undefined
}

/** Read before the candidates start: the old version's figures, the baseline. */
export async function rolloutBaseline (deps: DeployDeps, rollout: RolloutOptions | undefined, old: ServiceContainer[]): Promise<Figures | undefined> {
  return rollout === undefined ? undefined : await baselineOf(deps, old)
}

/**
 * After admission: `drainOld` takes the old containers out of rotation. Without rollout options
 * that is all; with them the new version is judged, and on failure the old is back in rotation
 * and the candidates are removed (VerificationFailedError).
 */
export async function takeOver (deps: DeployDeps, rollout: RolloutOptions | undefined, baseline: Figures | undefined, old: ServiceContainer[], candidates: ServiceContainer[], drainOld: () => Promise<void>): Promise<void> {
  await drainOld()
  if (rollout === undefined || baseline === undefined) return
  await verifyOrRollBack(deps, old, candidates, baseline, rollout.verify)
}
