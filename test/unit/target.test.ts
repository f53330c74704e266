import { PassThrough } from 'node:stream'
import t, { type Test } from 'tap'
import { DEFAULT_HEALTH_CHECK } from '../../src/config/options.ts'
import type { TargetSpec } from '../../src/routing/desired-state.ts'
import { Target, targetStateEpoch, type CheckResult, type TargetStateChange } from '../../src/routing/target.ts'

// The Target state machine without sockets: health results and lifecycle signals in, states out.
// The undici Pool is created but never used (no request is sent), and closed at teardown.

const POOL = { connectTimeoutMs: 1_000, responseTimeoutMs: 1_000 }

function spec (extra: Partial<TargetSpec> = {}, health: Partial<TargetSpec['health']> = {}): TargetSpec {
  return {
    id: 'c1:3000:http', groupId: 'c1', name: 'app-1', address: '127.0.0.1', port: 3000, protocol: 'http',
    health: { ...DEFAULT_HEALTH_CHECK, healthyThreshold: 2, unhealthyThreshold: 3, ...health }, externalHealth: 'none', ...extra
  }
}

const pass: CheckResult = { ok: true, at: '', detail: 'GET / -> 200', durationMs: 1 }
const fail: CheckResult = { ok: false, at: '', detail: 'GET / -> 500', durationMs: 1 }

function make (t: Test, s = spec()): { target: Target, changes: Array<[string, string]> } {
  const changes: Array<[string, string]> = []
  const target = new Target(s, POOL, (c: TargetStateChange) => { changes.push([c.from, c.to]) })
  t.teardown(async () => { await target.pool.destroy() })
  return { target, changes }
}

t.test('identity: key, origin (IPv6 in brackets), container references', async (t) => {
  const { target } = make(t, spec({ address: 'fd00::5', protocol: 'https', port: 8443, id: 'abc:8443:https', groupId: 'abcdef', name: 'web-1' }))
  t.equal(target.key, 'abc:8443:https@fd00::5')
  t.equal(target.origin, 'https://[fd00::5]:8443')
  t.equal(target.isContainer('abc'), true, 'an id prefix')
  t.equal(target.isContainer('web-1'), true, 'the name')
  t.equal(target.isContainer('web'), false, 'a name prefix is not a reference')
  t.equal(target.isContainer(''), false, 'the empty reference matches nothing')
})

t.test('starting -> ready after healthyThreshold consecutive passes; a failure restarts the count', async (t) => {
  const { target, changes } = make(t)
  t.equal(target.state, 'starting')
  t.equal(target.awaitingAdmission, true)
  target.healthCheckCompleted(pass)
  target.healthCheckCompleted(fail)
  target.healthCheckCompleted(pass)
  t.equal(target.state, 'starting', 'pass, fail, pass: only one consecutive pass')
  t.equal(target.routable, false)
  const epoch = targetStateEpoch()
  target.healthCheckCompleted(pass)
  t.equal(target.state, 'ready')
  t.equal(target.routable, true)
  t.equal(target.awaitingAdmission, false)
  t.same(changes, [['starting', 'ready']])
  t.equal(target.stateReason, 'health check passed (GET / -> 200)')
  t.equal(targetStateEpoch(), epoch + 1, 'a state change bumps the epoch balancers read')
  t.equal(target.lastCheck, pass)
})

t.test('ready -> unhealthy after unhealthyThreshold consecutive failures, and back after healthyThreshold passes', async (t) => {
  const { target, changes } = make(t)
  target.healthCheckCompleted(pass)
  target.healthCheckCompleted(pass)
  target.healthCheckCompleted(fail)
  target.healthCheckCompleted(fail)
  target.healthCheckCompleted(pass)
  target.healthCheckCompleted(fail)
  target.healthCheckCompleted(fail)
  t.equal(target.state, 'ready', 'two failures, a pass, two failures: never three in a row')
  const epoch = targetStateEpoch()
  target.healthCheckCompleted(fail)
  t.equal(target.state, 'unhealthy')
  t.equal(target.stateReason, 'health check failed 3x (GET / -> 500)')
  target.healthCheckCompleted(fail)
  t.equal(targetStateEpoch(), epoch + 1, 'further failures change nothing')
  target.healthCheckCompleted(pass)
  t.equal(target.state, 'unhealthy')
  target.healthCheckCompleted(pass)
  t.equal(target.state, 'ready')
  t.same(changes, [['starting', 'ready'], ['ready', 'unhealthy'], ['unhealthy', 'ready']])
})

t.test('Docker health gates admission and ejects a ready target', async (t) => {
  const { target, changes } = make(t, spec({ externalHealth: 'starting' }))
  target.healthCheckCompleted(pass)
  target.healthCheckCompleted(pass)
  target.healthCheckCompleted(pass)
  t.equal(target.state, 'starting', 'our probe passes but Docker says starting')
  target.updateSpec(spec({ externalHealth: 'healthy' }))
  t.equal(target.state, 'ready', 'Docker turning healthy admits a target whose probe already passes')
  target.updateSpec(spec({ externalHealth: 'unhealthy' }))
  t.equal(target.state, 'unhealthy')
  t.equal(target.stateReason, 'Docker reports the container unhealthy')
  target.updateSpec(spec({ externalHealth: 'healthy' }))
  t.equal(target.state, 'ready', 'passes counted while unhealthy still count')
  t.same(changes, [['starting', 'ready'], ['ready', 'unhealthy'], ['unhealthy', 'ready']])

  const fresh = make(t, spec({ externalHealth: 'starting' })).target
  fresh.healthCheckCompleted(pass)
  fresh.updateSpec(spec({ externalHealth: 'healthy' }))
  t.equal(fresh.state, 'starting', 'Docker healthy alone does not admit: our probe must pass healthyThreshold times')
  fresh.healthCheckCompleted(pass)
  t.equal(fresh.state, 'ready')
})

t.test('withdraw (signal) -> draining, health ignored; restore -> starting with the pass count reset', async (t) => {
  const { target, changes } = make(t)
  target.healthCheckCompleted(pass)
  target.healthCheckCompleted(pass)
  target.withdraw('kill SIGTERM')
  t.equal(target.state, 'draining')
  t.equal(target.stateReason, 'kill SIGTERM')
  t.equal(target.routable, false)
  target.healthCheckCompleted(pass)
  target.updateSpec(spec({ externalHealth: 'unhealthy' }))
  t.equal(target.state, 'draining', 'neither our probe nor Docker moves a draining target')
  target.updateSpec(spec())
  target.restore('start event')
  t.equal(target.state, 'starting')
  target.healthCheckCompleted(pass)
  t.equal(target.state, 'starting', 'passes before the withdrawal do not count')
  target.healthCheckCompleted(pass)
  t.equal(target.state, 'ready')
  t.same(changes, [['starting', 'ready'], ['ready', 'draining'], ['draining', 'starting'], ['starting', 'ready']])
})

t.test('restore does not bring back a target drained on purpose, nor one that was never withdrawn', async (t) => {
  const { target } = make(t)
  target.restore('start event')
  t.equal(target.state, 'starting')
  t.equal(target.stateReason, 'discovered')
  await target.drain('deploy', 1_000, 1_000)
  target.restore('start event')
  t.equal(target.state, 'draining', 'a drain is final')
  const w = make(t).target
  w.withdraw('kill')
  await w.drain('deploy', 1_000, 1_000)
  w.restore('start event')
  t.equal(w.state, 'draining', 'a drain after a withdrawal is final too')
})

t.test('drain waits for in-flight requests, bounded by its timeout', async (t) => {
  const { target } = make(t)
  target.requestStarted()
  target.requestStarted()
  t.equal(target.inflight, 2)
  const draining = target.drain('deploy', 5_000, 5_000)
  t.equal(target.state, 'draining', 'out of rotation at once')
  target.requestFinished()
  let settled = false
  void draining.then(() => { settled = true })
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(settled, false, 'one request still in flight')
  target.requestFinished()
  const r = await draining
  t.equal(r.drained, true)
  t.equal(r.inflightLeft, 0)
  t.ok(r.durationMs < 5_000, `finished before the timeout (${r.durationMs} ms)`)

  const slow = make(t).target
  slow.requestStarted()
  const started = Date.now()
  const timedOut = await slow.drain('deploy', 150, 150)
  t.equal(timedOut.drained, false)
  t.equal(timedOut.inflightLeft, 1)
  t.ok(Date.now() - started >= 140, 'waited for the timeout')
})

t.test('drain closes long-lived connections after the grace period, not before', async (t) => {
  const { target } = make(t)
  const socket = new PassThrough()
  target.trackLongLived(socket)
  t.equal(target.longLivedCount, 1)
  target.requestStarted()
  const started = Date.now()
  let closedAt = 0
  socket.once('close', () => { closedAt = Date.now() })
  const draining = target.drain('deploy', 5_000, 200)
  await new Promise((resolve) => socket.once('close', resolve))
  t.ok(closedAt - started >= 190 && closedAt - started < 2_000, `closed after the grace, long before the drain timeout (${closedAt - started} ms)`)
  t.equal(target.longLivedCount, 0, 'a closed socket leaves the set')
  target.requestFinished()
  const r = await draining
  t.equal(r.longLivedClosed, 1)
  t.equal(r.drained, true)
})

t.test('dispose: closes the pool when idle, destroys it when requests outlive the timeout', async (t) => {
  const spyOn = (target: Target): string[] => {
    const calls: string[] = []
    const { pool } = target
    for (const name of ['close', 'destroy'] as const) {
      const real = (pool[name] as (...args: unknown[]) => unknown).bind(pool)
      Object.assign(pool, { [name]: (...args: unknown[]) => { calls.push(name); return real(...args) } })
    }
    return calls
  }
  const idle = make(t).target
  const idleCalls = spyOn(idle)
  await idle.dispose(1_000)
  t.equal(idle.state, 'draining')
  t.equal(idle.stateReason, 'removed from configuration')
  t.equal(idleCalls[0], 'close', 'closed gracefully (undici may destroy after closing)')

  const busy = make(t).target
  const busyCalls = spyOn(busy)
  busy.requestStarted()
  const started = Date.now()
  await busy.dispose(100)
  t.ok(Date.now() - started >= 90, 'waited for the timeout')
  t.equal(busyCalls[0], 'destroy', 'destroyed after the timeout')
  t.notOk(busyCalls.includes('close'), 'never closed gracefully')
})
