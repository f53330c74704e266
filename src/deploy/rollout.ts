import { VerificationFailedError } from '../errors.js'
import type { Figures } from '../traffic/version-stats.js'
import type { ServiceContainer } from './plan.js'
import { rollback, type DeployDeps } from './steps.js'
import { baselineOf, verdictMessage, verifyOrRollBack, watch, type VerifyOptions } from './verify.js'

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
  if (rollout === undefined || baseline === undefined) {
    await drainOld()
    return
  }
  if (rollout.canary !== undefined && old.length > 0) {
    await canarySteps(deps, rollout.canary.steps, rollout.verify, baseline, candidates, drainOld)
    return
  }
  await drainOld()
  await verifyOrRollBack(deps, old, candidates, baseline, rollout.verify)
}

const pct = (share: number): string => `${Math.round(share * 1000) / 10}%`

/**
 * Canary: the old containers stay in rotation while the new ones get a growing share of the
 * clients (sticky, traffic/canary.ts), each step judged over its time. A failed step sets the
 * share to 0 at once, then drains and removes the new containers. After the last step (100 %)
 * the old containers are drained and the split removed; the caller retires them.
 */
async function canarySteps (deps: DeployDeps, steps: number[], o: VerifyOptions, baseline: Figures, candidates: ServiceContainer[], drainOld: () => Promise<void>): Promise<void> {
  const { admin, progress } = deps
  const ids = candidates.map((c) => c.id)
  let rolledBack = false
  const undo = async (why: string): Promise<void> => {
    rolledBack = true
    await admin.canary(ids, 0).catch(() => undefined)
    progress.emit({ step: 'rollback', status: 'info', message: `canary back to 0% (${why})` })
    await rollback(deps, candidates)
  }
  try {
    for (const [i, share] of steps.entries()) {
      const set = await admin.canary(ids, share)
      progress.emit({ step: 'canary', status: 'info', message: `step ${i + 1}/${steps.length}: ${pct(share)} of clients on ${candidates.map((c) => c.name).join(', ')} (${set.hosts.join(', ')}; cookie ${set.cookie ?? '-'})`, share, hosts: set.hosts })
      const verdict = await watch(deps, candidates, baseline, o, `step ${i + 1}/${steps.length} (${pct(share)}): judging the new version for ${o.windowMs / 1000}s`)
      if (!verdict.promote) {
        await undo(`step ${i + 1} failed`)
        throw new VerificationFailedError(`canary step ${i + 1}/${steps.length} (${pct(share)}): ${verdictMessage(verdict)}`)
      }
    }
    await drainOld()
  } catch (err) {
    // Anything else going wrong mid-rollout (the proxy unreachable...): back to the old version too.
    if (!rolledBack) await undo((err as Error).message).catch(() => undefined)
    throw err
  } finally {
    await admin.canaryClear(ids).catch(() => undefined)
  }
}
