// proxyctl deploy's --verify / --canary flags (issue 13).
import t from 'tap'
import { parseCommand, type DeployCommand } from '../../src/cli/args.ts'
import { parseP99, parsePercent, parseSteps } from '../../src/cli/rollout-flags.ts'

const deploy = (...args: string[]): DeployCommand => parseCommand(['deploy', 'web', ...args]) as DeployCommand

t.test('no rollout flag: a plain deploy', async (t) => {
  t.equal(deploy().rollout, undefined)
})

t.test('--verify with defaults', async (t) => {
  t.same(deploy('--verify', '60s').rollout, {
    verify: { maxErrorRate: 0.01, maxP99: { kind: 'relative', factor: 2 }, minRequests: 50, onLowTraffic: 'promote', windowMs: 60_000 }
  })
})

t.test('--verify with every threshold', async (t) => {
  const r = deploy('--verify', '20s', '--max-error-rate', '0.5%', '--max-p99', '300ms', '--min-requests', '10', '--on-low-traffic', 'rollback').rollout
  t.same(r?.verify, { maxErrorRate: 0.005, maxP99: { kind: 'absolute', ms: 300 }, minRequests: 10, onLowTraffic: 'rollback', windowMs: 20_000 })
})

t.test('--container deploys take --verify too', async (t) => {
  const cmd = parseCommand(['deploy', '--container', 'app', '--image', 'app:2', '--verify', '10s']) as DeployCommand
  t.equal(cmd.rollout?.verify.windowMs, 10_000)
})

t.test('--canary with steps and step time', async (t) => {
  t.same(deploy('--canary', '10%', '--steps', '10,50,100', '--step-time', '30s').rollout?.canary, { steps: [0.1, 0.5, 1] })
  t.equal(deploy('--canary', '10%', '--step-time', '30s').rollout?.verify.windowMs, 30_000)
  t.same(deploy('--canary', '20%').rollout?.canary, { steps: [0.2, 1] }, '100 % added, one step by default')
  t.equal(deploy('--canary', '20%').rollout?.verify.windowMs, 60_000)
  t.same(deploy('--canary', '5', '--steps', '25,50').rollout?.canary, { steps: [0.05, 0.25, 0.5, 1] }, 'the canary share first')
})

t.test('invalid values are usage errors', async (t) => {
  const bad: string[][] = [
    ['--max-error-rate', '1%'],
    ['--steps', '10,100'],
    ['--verify', '60s', '--steps', '10,100'],
    ['--verify', 'soon'],
    ['--verify', '0s'],
    ['--verify', '25h'],
    ['--verify', '1m', '--max-error-rate', '101%'],
    ['--verify', '1m', '--max-error-rate', '-1%'],
    ['--verify', '1m', '--max-p99', '0.5x'],
    ['--verify', '1m', '--max-p99', 'fast'],
    ['--verify', '1m', '--min-requests', '-3'],
    ['--verify', '1m', '--min-requests', '1e9'],
    ['--verify', '1m', '--on-low-traffic', 'maybe'],
    ['--canary', '0%'],
    ['--canary', '10%', '--steps', '50,20'],
    ['--canary', '50%', '--steps', '10,100'],
    ['--canary', '10%', '--steps', Array.from({ length: 30 }, (_, i) => String(i + 11)).join(',')]
  ]
  for (const args of bad) t.throws(() => deploy(...args), { code: 'PROXY_ERR_INVALID_OPTION' }, args.join(' '))
})

t.test('percent and p99 parsers', async (t) => {
  t.equal(parsePercent('1%', 'x'), 0.01)
  t.equal(parsePercent(' 2.5 % ', 'x'), 0.025)
  t.equal(parsePercent('100', 'x'), 1)
  t.same(parseP99('2x'), { kind: 'relative', factor: 2 })
  t.same(parseP99('1.5X'), { kind: 'relative', factor: 1.5 })
  t.same(parseP99('1s'), { kind: 'absolute', ms: 1000 })
  t.same(parseSteps(1, undefined), [1])
})
