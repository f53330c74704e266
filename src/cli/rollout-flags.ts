import { parseDurationMs } from '../config/options.js'
import type { RolloutOptions } from '../deploy/rollout.js'
import { DEFAULT_MAX_ERROR_RATE, DEFAULT_MAX_P99, DEFAULT_MIN_REQUESTS, type P99Limit } from '../deploy/verify.js'
import { InvalidOptionError } from '../errors.js'

// `proxyctl deploy` flags for verified and canary deploys (issue 13): strings in, RolloutOptions out (pure).

export const ROLLOUT_FLAGS = {
  verify: { type: 'string' },
  'max-error-rate': { type: 'string' },
  'max-p99': { type: 'string' },
  'min-requests': { type: 'string' },
  'on-low-traffic': { type: 'string' },
  canary: { type: 'string' },
  steps: { type: 'string' },
  'step-time': { type: 'string' }
} as const

export type RolloutFlagValues = { [K in keyof typeof ROLLOUT_FLAGS]?: string | undefined }

export const DEFAULT_STEP_TIME_MS = 60_000
/** Longest verification window or step: a deploy holds its lease (and the old containers) this long. */
export const MAX_VERIFY_MS = 24 * 3_600_000

/** "1%", "0.5 %", or a bare "1" (percent): 0..100 → 0..1. */
export function parsePercent (value: string, what: string, { allowZero = true } = {}): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*%?\s*$/.exec(value)
  const n = m === null ? Number.NaN : Number(m[1])
  if (!(n >= 0 && n <= 100) || (!allowZero && n === 0)) throw new InvalidOptionError(`${what} must be a percentage like 1% (0 to 100), got "${value}"`)
  return n / 100
}

/** "2x" (relative to the old version's p99) or a duration ("300ms", "1s"). */
export function parseP99 (value: string): P99Limit {
  const rel = /^\s*(\d+(?:\.\d+)?)\s*x\s*$/i.exec(value)
  if (rel !== null) {
    const factor = Number(rel[1])
    if (!(factor >= 1)) throw new InvalidOptionError(`--max-p99 as a factor must be at least 1x, got "${value}"`)
    return { kind: 'relative', factor }
  }
  const ms = parseDurationMs(value, '--max-p99 (a factor like 2x, or a duration like 300ms)')
  if (ms <= 0) throw new InvalidOptionError(`--max-p99 must be above 0, got "${value}"`)
  return { kind: 'absolute', ms }
}

/** Percentages ascending, ending at 100 (added when missing), the canary's share first. */
export function parseSteps (canary: number, steps: string | undefined): number[] {
  const list = steps === undefined ? [] : steps.split(',').map((s) => parsePercent(s, '--steps', { allowZero: false }))
  if (list.length > 20) throw new InvalidOptionError('--steps: at most 20 steps')
  if (list[0] !== canary) list.unshift(canary)
  if (list[list.length - 1] !== 1) list.push(1)
  for (let i = 1; i < list.length; i++) {
    if (list[i]! <= list[i - 1]!) throw new InvalidOptionError(`--steps must increase from --canary (${canary * 100}%) to 100%, got "${steps ?? ''}"`)
  }
  return list
}

function window (value: string, what: string): number {
  const ms = parseDurationMs(value, what)
  if (ms < 1_000 || ms > MAX_VERIFY_MS) throw new InvalidOptionError(`${what} must be between 1s and 24h, got "${value}"`)
  return ms
}

/** undefined: a plain deploy (none of the flags). */
export function parseRolloutFlags (v: RolloutFlagValues): RolloutOptions | undefined {
  const judged = v.verify !== undefined || v.canary !== undefined
  const given = (Object.keys(ROLLOUT_FLAGS) as Array<keyof RolloutFlagValues>).filter((k) => v[k] !== undefined).map((k) => `--${k}`)
  if (!judged) {
    if (given.length > 0) throw new InvalidOptionError(`deploy: ${given.join(', ')} go with --verify DURATION or --canary PERCENT`)
    return undefined
  }
  if (v.canary === undefined && (v.steps !== undefined || v['step-time'] !== undefined)) throw new InvalidOptionError('deploy: --steps and --step-time go with --canary PERCENT')
  const onLow = v['on-low-traffic'] ?? 'promote'
  if (onLow !== 'promote' && onLow !== 'rollback') throw new InvalidOptionError(`--on-low-traffic must be promote or rollback, got "${onLow}"`)
  let minRequests = DEFAULT_MIN_REQUESTS
  if (v['min-requests'] !== undefined) {
    if (!/^\s*\d{1,9}\s*$/.test(v['min-requests'])) throw new InvalidOptionError(`--min-requests must be a whole number, got "${v['min-requests']}"`)
    minRequests = Number(v['min-requests'])
  }
  const thresholds = {
    maxErrorRate: v['max-error-rate'] === undefined ? DEFAULT_MAX_ERROR_RATE : parsePercent(v['max-error-rate'], '--max-error-rate'),
    maxP99: v['max-p99'] === undefined ? DEFAULT_MAX_P99 : parseP99(v['max-p99']),
    minRequests,
    onLowTraffic: onLow as 'promote' | 'rollback'
  }
  if (v.canary === undefined) return { verify: { ...thresholds, windowMs: window(v.verify!, '--verify') } }
  const share = parsePercent(v.canary, '--canary', { allowZero: false })
  const stepTimeMs = window(v['step-time'] ?? v.verify ?? `${DEFAULT_STEP_TIME_MS}ms`, v['step-time'] !== undefined ? '--step-time' : '--verify')
  return { verify: { ...thresholds, windowMs: stepTimeMs }, canary: { steps: parseSteps(share, v.steps) } }
}
