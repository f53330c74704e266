// Verified and canary deploys through the sequencer with a fake admin API and Docker: what is
// called in which order when the new version passes, fails, or the judging itself fails.
import { Writable } from 'node:stream'
import type Docker from 'dockerode'
import t from 'tap'
import type { AdminClient } from '../../src/admin/client/admin-client.ts'
import type { ServiceContainer } from '../../src/deploy/plan.ts'
import { Progress, type ProgressEvent } from '../../src/deploy/progress.ts'
import type { RolloutOptions } from '../../src/deploy/rollout.ts'
import { runDeploy, type DeployStrategy } from '../../src/deploy/sequencer.ts'
import type { Figures } from '../../src/traffic/version-stats.ts'

const c = (name: string): ServiceContainer => ({ id: `id-${name}`, name, running: true })
const f = (requests: number, errors: number, p99Ms = 50): Figures => ({ requests, errors, errorRate: requests === 0 ? 0 : errors / requests, p50Ms: p99Ms, p99Ms })
const verify = { maxErrorRate: 0.01, maxP99: { kind: 'relative', factor: 2 }, minRequests: 50, onLowTraffic: 'promote', windowMs: 30 } as const

function world (live: Array<Figures | Error>) {
  const calls: string[] = []
  const events: ProgressEvent[] = []
  const admin = {
    acquireLock: async () => {},
    releaseLock: async () => {},
    admission: async (ids: string[]) => ({ admitted: true, containers: ids.map((id) => ({ containerId: id, state: 'ready', reason: '', upstreams: [] })) }),
    drain: async (id: string) => { calls.push(`drain ${id}`); return { containerId: id, name: id, drained: true, inflightLeft: 0, longLivedClosed: 0, durationMs: 1 } },
    figures: async (ids: string[], lastMs?: number) => {
      if (lastMs === undefined) { calls.push(`baseline ${ids.join(',')}`); return { figures: f(1000, 0), windowMs: 300_000, upstreams: ids } }
      const next = live.length > 1 ? live.shift()! : live[0]!
      if (next instanceof Error) throw next
      return { figures: next, windowMs: 300_000, upstreams: ids }
    },
    standby: async (id: string) => { calls.push(`standby ${id}`); return { containerId: id, name: id, state: 'standby' } },
    reinstate: async (id: string) => { calls.push(`reinstate ${id}`); return { containerId: id, name: id, state: 'ready' } },
    canary: async (ids: string[], share: number) => { calls.push(`canary ${ids.join(',')} ${share}`); return { hosts: ['app.test'], share, cookie: 'pxc_00000001' } },
    canaryClear: async (ids: string[]) => { calls.push(`clear ${ids.join(',')}`); return { hosts: ['app.test'], share: 0, cookie: null } }
  } as unknown as AdminClient
  const docker = {
    getContainer: (id: string) => ({
      inspect: async () => ({ Id: id, Name: `/${id}`, State: { Running: true, ExitCode: 0 }, Config: { Env: ['VIRTUAL_HOST=app.test'] } }),
      remove: async () => { calls.push(`remove ${id}`) },
      stop: async () => { calls.push(`stop ${id}`) }
    })
  } as unknown as Docker
  const progress = new Progress(false, new Writable({ write: (_c, _e, cb) => { cb() } }))
  progress.onEvent((e) => { events.push(e) })
  const strategy: DeployStrategy = {
    lockKey: 'compose:p/app',
    plan: async () => ({ old: [c('old1')], message: 'replacing old1', startMessage: 'up' }),
    startCandidates: async () => [c('new1')],
    strayCandidates: async () => [],
    retire: async () => { calls.push('retire old1'); return { service: 'app', old: ['old1'], new: ['new1'], message: 'deployed app' } }
  }
  const run = async (rollout: RolloutOptions): Promise<unknown> => await runDeploy(strategy, { docker, admin, progress }, { timeoutMs: 1_000, drainTimeoutMs: 1_000 }, rollout)
  return { calls, events, run }
}

t.test('--verify, good version: old drained then in standby, judged, retired', async (t) => {
  const w = world([f(200, 0)])
  await w.run({ verify })
  t.same(w.calls, ['baseline id-old1', 'drain id-old1', 'standby id-old1', 'retire old1'])
  t.match(w.events.find((e) => e.step === 'verify' && e.status === 'done')?.message, /^verified: new version: 200 requests, 0 errors/)
})

t.test('--verify, failing version: old reinstated before the new one is drained and removed; exit-3 error with the figures', async (t) => {
  const w = world([f(200, 40)])
  await t.rejects(w.run({ verify }), { code: 'PROXY_ERR_VERIFY_FAILED', message: /error rate 20% \(40 of 200\) > 1%/ })
  t.same(w.calls, ['baseline id-old1', 'drain id-old1', 'standby id-old1', 'reinstate id-old1', 'drain id-new1', 'remove id-new1'])
})

t.test('--verify, not enough traffic: promote or roll back as asked', async (t) => {
  const promoted = world([f(3, 0)])
  await promoted.run({ verify })
  t.ok(promoted.calls.includes('retire old1'))
  const rolledBack = world([f(3, 0)])
  await t.rejects(rolledBack.run({ verify: { ...verify, onLowTraffic: 'rollback' } }), { code: 'PROXY_ERR_VERIFY_FAILED', message: /not enough traffic/ })
  t.ok(rolledBack.calls.includes('reinstate id-old1'))
})

t.test('--verify, the judging itself fails (proxy unreachable): old reinstated, new removed, the error passed on', async (t) => {
  const w = world([new Error('socket hang up')])
  await t.rejects(w.run({ verify }), { message: 'socket hang up' })
  t.same(w.calls.slice(-3), ['reinstate id-old1', 'drain id-new1', 'remove id-new1'])
})

t.test('--canary: each step set and judged with the old in rotation; old drained only after 100 %; split cleared', async (t) => {
  const w = world([f(200, 0)])
  await w.run({ verify, canary: { steps: [0.1, 0.5, 1] } })
  t.same(w.calls, ['baseline id-old1', 'canary id-new1 0.1', 'canary id-new1 0.5', 'canary id-new1 1', 'drain id-old1', 'clear id-new1', 'retire old1'])
  t.equal(w.events.filter((e) => e.step === 'verify' && e.status === 'done').length, 3)
})

t.test('--canary, a failing step: share 0 at once, new drained and removed, split cleared, old never drained', async (t) => {
  const w = world([f(200, 0), f(200, 30)])
  await t.rejects(w.run({ verify, canary: { steps: [0.1, 0.5, 1] } }), { code: 'PROXY_ERR_VERIFY_FAILED', message: /canary step 2\/3 \(50%\)/ })
  t.same(w.calls, ['baseline id-old1', 'canary id-new1 0.1', 'canary id-new1 0.5', 'canary id-new1 0', 'drain id-new1', 'remove id-new1', 'clear id-new1'])
})
