// The verified deploy's judge (issue 13): thresholds, not enough traffic, relative and absolute p99.
import t from 'tap'
import { EARLY_MIN_ERRORS, P99_SLACK_MS, earlyFailure, judge, p99LimitMs, type VerifyThresholds } from '../../src/deploy/verify.ts'
import type { Figures } from '../../src/traffic/version-stats.ts'

const f = (requests: number, errors: number, p99Ms: number | undefined): Figures => ({ requests, errors, errorRate: requests === 0 ? 0 : errors / requests, p50Ms: p99Ms, p99Ms })
const base: VerifyThresholds = { maxErrorRate: 0.01, maxP99: { kind: 'relative', factor: 2 }, minRequests: 50, onLowTraffic: 'promote' }
const old = f(1000, 2, 100)

const cases: Array<{ desc: string, baseline?: Figures, live: Figures, t?: Partial<VerifyThresholds>, outcome: string, promote: boolean, failures: number }> = [
  { desc: 'a healthy new version passes', live: f(500, 2, 120), outcome: 'passed', promote: true, failures: 0 },
  { desc: 'error rate exactly at the limit passes', live: f(1000, 10, 100), outcome: 'passed', promote: true, failures: 0 },
  { desc: 'error rate above the limit fails', live: f(1000, 11, 100), outcome: 'failed', promote: false, failures: 1 },
  { desc: '20 % errors fail', live: f(500, 100, 100), outcome: 'failed', promote: false, failures: 1 },
  { desc: 'p99 above 2x the old one fails', live: f(500, 0, 201), outcome: 'failed', promote: false, failures: 1 },
  { desc: 'p99 at 2x the old one passes', live: f(500, 0, 200), outcome: 'passed', promote: true, failures: 0 },
  { desc: 'both failing: two failures', live: f(500, 50, 900), outcome: 'failed', promote: false, failures: 2 },
  { desc: 'absolute p99 limit', live: f(500, 0, 301), t: { maxP99: { kind: 'absolute', ms: 300 } }, outcome: 'failed', promote: false, failures: 1 },
  { desc: 'absolute p99 limit needs no baseline', baseline: f(0, 0, undefined), live: f(500, 0, 250), t: { maxP99: { kind: 'absolute', ms: 300 } }, outcome: 'passed', promote: true, failures: 0 },
  { desc: 'relative p99 without a baseline is not compared', baseline: f(10, 0, 5), live: f(500, 0, 5000), outcome: 'passed', promote: true, failures: 0 },
  { desc: 'not enough traffic, promote', live: f(49, 49, 9000), outcome: 'not-enough-traffic', promote: true, failures: 0 },
  { desc: 'not enough traffic, roll back', live: f(49, 0, 10), t: { onLowTraffic: 'rollback' }, outcome: 'not-enough-traffic', promote: false, failures: 0 },
  { desc: 'minimum 0 judges even no traffic', live: f(0, 0, undefined), t: { minRequests: 0 }, outcome: 'passed', promote: true, failures: 0 }
]

for (const c of cases) {
  t.test(c.desc, async (t) => {
    const v = judge(c.baseline ?? old, c.live, { ...base, ...c.t })
    t.equal(v.outcome, c.outcome)
    t.equal(v.promote, c.promote)
    t.equal(v.failures.length, c.failures, v.failures.join('; '))
  })
}

t.test('the failure sentence carries the figures', async (t) => {
  const v = judge(old, f(500, 100, 100), base)
  t.match(v.failures[0], /error rate 20% \(100 of 500\) > 1%/)
})

t.test('a relative limit never falls below the old p99 plus the slack', async (t) => {
  t.equal(p99LimitMs({ kind: 'relative', factor: 2 }, f(100, 0, 2), 50), 2 + P99_SLACK_MS)
  t.equal(p99LimitMs({ kind: 'relative', factor: 1.5 }, f(100, 0, 100), 50), 150)
  t.equal(p99LimitMs({ kind: 'relative', factor: 2 }, f(10, 0, 100), 50), undefined)
  t.equal(p99LimitMs({ kind: 'absolute', ms: 300 }, f(0, 0, undefined), 50), 300)
})

t.test('early failure: only a failing error rate backed by enough errors and requests', async (t) => {
  t.equal(earlyFailure(old, f(40, 20, 10), base), undefined, 'below the minimum request count')
  t.equal(earlyFailure(old, f(100, EARLY_MIN_ERRORS - 1, 10), base), undefined, 'too few errors')
  t.equal(earlyFailure(old, f(100, 0, 9000), base), undefined, 'p99 waits for the window')
  const v = earlyFailure(old, f(100, 20, 10), base)
  t.equal(v?.outcome, 'failed')
  t.equal(v?.promote, false)
})
