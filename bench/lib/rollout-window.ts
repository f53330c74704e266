// What the paced load saw during one rollout's window and before the first one: the figures
// bench/deploy-under-load.ts and bench/swarm-rollout.ts both write per rollout and baseline.
import type { Outcome } from './paced-load.ts'
import { percentileSorted, round } from './util.ts'

export const failedOf = (o: Outcome): boolean => o.error !== undefined || o.status < 200 || o.status > 299

export interface WindowStats {
  requests: number
  failed: number
  non2xx: Record<string, number>
  socketErrors: Record<string, number>
  firstFailureMs: number | null
  lastFailureMs: number | null
  outageMs: number
  /** GETs only: a slow POST takes >= its body time + hold by design. */
  getP99Ms: number
  maxMs: number
  versions: Record<string, number>
}

/** The outcomes scheduled in one rollout's window (in order), failure times from its start. */
export function windowStats (mine: Outcome[], start: number): WindowStats {
  const failed = mine.filter(failedOf)
  const non2xx: Record<string, number> = {}
  const socketErrors: Record<string, number> = {}
  for (const f of failed) {
    if (f.error !== undefined) socketErrors[f.error] = (socketErrors[f.error] ?? 0) + 1
    else non2xx[String(f.status)] = (non2xx[String(f.status)] ?? 0) + 1
  }
  const versions: Record<string, number> = {}
  for (const o of mine) if (o.version !== undefined) versions[o.version] = (versions[o.version] ?? 0) + 1
  const lat = mine.filter((o) => !failedOf(o)).map((o) => o.end - o.t).sort((a, b) => a - b)
  const getLat = mine.filter((o) => !failedOf(o) && o.method === 'GET').map((o) => o.end - o.t).sort((a, b) => a - b)
  return {
    requests: mine.length,
    failed: failed.length,
    non2xx,
    socketErrors,
    firstFailureMs: failed.length > 0 ? Math.round(failed[0]!.t - start) : null,
    lastFailureMs: failed.length > 0 ? Math.round(failed[failed.length - 1]!.t - start) : null,
    outageMs: new Set(failed.map((f) => Math.floor(f.t / 100))).size * 100,
    getP99Ms: round(percentileSorted(getLat, 99), 1),
    maxMs: round(lat[lat.length - 1] ?? 0, 1),
    versions
  }
}

export interface Baseline { requests: number, failed: number, achievedPerSec: number, getP99Ms: number }

/**
 * Before any rollout: if the edge cannot keep up with the rate here, the machine is overloaded
 * and the rollout numbers mostly measure queueing. Rate and p99 from its second half only: the
 * first second is connection set-up and JIT warm-up.
 */
export function baselineStats (outcomes: Outcome[], firstStart: number): Baseline {
  const baseline = outcomes.filter((o) => o.t < firstStart)
  const okWarm = baseline.filter((o) => o.t >= firstStart / 2 && !failedOf(o))
  const getLat = okWarm.filter((o) => o.method === 'GET').map((o) => o.end - o.t).sort((a, b) => a - b)
  return { requests: baseline.length, failed: baseline.filter(failedOf).length, achievedPerSec: round(okWarm.length / Math.max(0.001, firstStart / 2000), 0), getP99Ms: round(percentileSorted(getLat, 99), 1) }
}
