import { VerificationFailedError } from '../errors.js'
import type { Figures } from '../traffic/version-stats.js'
import type { ServiceContainer } from './plan.js'
import { rollback, type DeployDeps } from './steps.js'

// Verified deploys (issue 13 item 1): judge the new version on its live traffic against the old
// version's figures from before the deploy. judge() is pure; verifyOrRollBack() is the step.

export type P99Limit = { kind: 'relative', factor: number } | { kind: 'absolute', ms: number }

export interface VerifyThresholds {
  /** 0..1: above it the new version fails. */
  maxErrorRate: number
  maxP99: P99Limit
  /** Fewer requests than this to the new version: "not enough traffic". */
  minRequests: number
  /** What "not enough traffic" does. */
  onLowTraffic: 'promote' | 'rollback'
}

export interface VerifyOptions extends VerifyThresholds {
  /** How long the new version is watched (--verify). */
  windowMs: number
}

export const DEFAULT_MAX_ERROR_RATE = 0.01
export const DEFAULT_MAX_P99: P99Limit = { kind: 'relative', factor: 2 }
export const DEFAULT_MIN_REQUESTS = 50
/**
 * A relative p99 limit is never below the old p99 plus this: latency bins are ~20 % wide, so two
 * versions answering in a few milliseconds would otherwise differ by "2x" from one bin's rounding.
 */
export const P99_SLACK_MS = 5
/** A failing error rate ends the window early only once this many errors back it. */
export const EARLY_MIN_ERRORS = 10
const POLL_MS = 1_000
const REPORT_EVERY_MS = 5_000

export type VerdictOutcome = 'passed' | 'failed' | 'not-enough-traffic'

export interface Verdict {
  outcome: VerdictOutcome
  /** Whether the new version stays: passed, or not enough traffic with onLowTraffic=promote. */
  promote: boolean
  /** One sentence per failed threshold, with the figures. */
  failures: string[]
  /** Thresholds not applied, and why (no baseline for a relative p99...). */
  notes: string[]
  baseline: Figures
  live: Figures
}

const pct = (r: number): string => `${(r * 100).toFixed(r !== 0 && r < 0.001 ? 3 : 2).replace(/\.?0+$/, '')}%`
const ms = (v: number | undefined): string => v === undefined ? '-' : `${v} ms`

export function describeFigures (f: Figures): string {
  return `${f.requests} requests, ${f.errors} errors (${pct(f.errorRate)}), p99 ${ms(f.p99Ms)}`
}

/** The p99 the new version may reach; undefined when a relative limit has no baseline to scale. */
export function p99LimitMs (limit: P99Limit, baseline: Figures, minRequests: number): number | undefined {
  if (limit.kind === 'absolute') return limit.ms
  if (baseline.p99Ms === undefined || baseline.requests < minRequests) return undefined
  return Math.max(baseline.p99Ms * limit.factor, baseline.p99Ms + P99_SLACK_MS)
}

export function judge (baseline: Figures, live: Figures, t: VerifyThresholds): Verdict {
  const notes: string[] = []
  if (live.requests < t.minRequests) {
    notes.push(`${live.requests} requests reached the new version, fewer than ${t.minRequests}`)
    return { outcome: 'not-enough-traffic', promote: t.onLowTraffic === 'promote', failures: [], notes, baseline, live }
  }
  const failures: string[] = []
  if (live.errorRate > t.maxErrorRate) {
    failures.push(`error rate ${pct(live.errorRate)} (${live.errors} of ${live.requests}) > ${pct(t.maxErrorRate)}`)
  }
  const limit = p99LimitMs(t.maxP99, baseline, t.minRequests)
  if (limit === undefined) {
    notes.push(`p99 not compared: the old version had ${baseline.requests} requests before the deploy (fewer than ${t.minRequests})`)
  } else if (live.p99Ms !== undefined && live.p99Ms > limit) {
    const rel = t.maxP99.kind === 'relative' ? ` (${t.maxP99.factor}x the old version's ${ms(baseline.p99Ms)})` : ''
    failures.push(`p99 ${ms(live.p99Ms)} > ${ms(Math.round(limit * 10) / 10)}${rel}`)
  }
  return { outcome: failures.length === 0 ? 'passed' : 'failed', promote: failures.length === 0, failures, notes, baseline, live }
}

/** Before the window ends: a failing error rate backed by enough errors decides at once. */
export function earlyFailure (baseline: Figures, live: Figures, t: VerifyThresholds): Verdict | undefined {
  if (live.requests < t.minRequests || live.errors < EARLY_MIN_ERRORS || live.errorRate <= t.maxErrorRate) return undefined
  return judge(baseline, live, { ...t, maxP99: { kind: 'absolute', ms: Number.POSITIVE_INFINITY } })
}

/** The old version's figures before the deploy: what the new one is compared with. */
export async function baselineOf (deps: DeployDeps, old: ServiceContainer[]): Promise<Figures> {
  const { figures } = await deps.admin.figures(old.map((c) => c.id))
  deps.progress.emit({ step: 'verify', status: 'info', message: `baseline (old version, before the deploy): ${describeFigures(figures)}`, figures })
  return figures
}

/**
 * The old containers (drained) kept running in standby while the new ones serve for the window;
 * then the verdict. Failed: the old ones back in rotation at once, the new ones drained and
 * removed, VerificationFailedError with the figures. Passed: returns; the caller retires the old.
 */
export async function verifyOrRollBack (deps: DeployDeps, old: ServiceContainer[], candidates: ServiceContainer[], baseline: Figures, o: VerifyOptions): Promise<Verdict> {
  const { admin } = deps
  for (const c of old) await admin.standby(c.id).catch(() => undefined) // not routed: nothing to keep
  let verdict: Verdict
  try {
    verdict = await watch(deps, candidates, baseline, o, `verifying ${candidates.map((c) => c.name).join(', ')} for ${o.windowMs / 1000}s`)
  } catch (err) {
    // Not judged (the proxy unreachable...): the old version is the one known to work.
    await reinstateOld(deps, old).catch(() => undefined)
    await rollback(deps, candidates).catch(() => undefined)
    throw err
  }
  if (verdict.promote) return verdict
  await reinstateOld(deps, old)
  await rollback(deps, candidates)
  throw new VerificationFailedError(verdictMessage(verdict))
}

/** Watches the candidates' live figures for `o.windowMs`; progress lines carry them. */
export async function watch (deps: DeployDeps, candidates: ServiceContainer[], baseline: Figures, o: VerifyOptions, opening: string): Promise<Verdict> {
  const { admin, progress } = deps
  progress.emit({ step: 'verify', status: 'start', message: opening })
  const started = Date.now()
  let reported = started
  const ids = candidates.map((c) => c.id)
  for (;;) {
    const elapsed = Date.now() - started
    const wait = Math.min(POLL_MS, o.windowMs - elapsed)
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
    const lastMs = Date.now() - started
    const { figures } = await admin.figures(ids, lastMs)
    const done = lastMs >= o.windowMs
    const verdict = done ? judge(baseline, figures, o) : earlyFailure(baseline, figures, o)
    if (verdict !== undefined) {
      progress.emit({
        step: 'verify',
        status: verdict.promote ? 'done' : 'failed',
        message: verdictMessage(verdict),
        verdict: verdict.outcome,
        figures: verdict.live,
        baseline: verdict.baseline,
        failures: verdict.failures
      })
      return verdict
    }
    // At most ~12 lines a window (each one is a history step too).
    if (Date.now() - reported >= Math.max(REPORT_EVERY_MS, o.windowMs / 12)) {
      reported = Date.now()
      progress.emit({ step: 'verify', status: 'info', message: `${Math.round(lastMs / 1000)}s: new version ${describeFigures(figures)}; old before: ${describeFigures(baseline)}`, figures })
    }
  }
}

export function verdictMessage (v: Verdict): string {
  const figures = `new version: ${describeFigures(v.live)}; old version before the deploy: ${describeFigures(v.baseline)}`
  const notes = v.notes.length > 0 ? ` (${v.notes.join('; ')})` : ''
  switch (v.outcome) {
    case 'passed': return `verified: ${figures}${notes}`
    case 'failed': return `verification failed: ${v.failures.join('; ')} — ${figures}; rolled back`
    case 'not-enough-traffic': return `not enough traffic to judge${notes}: ${v.promote ? 'promoted' : 'rolled back'} (--on-low-traffic) — ${figures}`
  }
}

/** The old containers back in rotation at once (they never stopped). */
export async function reinstateOld (deps: DeployDeps, old: ServiceContainer[]): Promise<void> {
  if (old.length === 0) return
  await Promise.all(old.map(async (c) => { await deps.admin.reinstate(c.id).catch(() => undefined) }))
  deps.progress.emit({ step: 'rollback', status: 'info', message: `${old.map((c) => c.name).join(', ')} back in rotation` })
}
