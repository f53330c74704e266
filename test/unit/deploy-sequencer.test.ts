// The deploy sequencer with a fake strategy, a fake admin API and a fake Docker: the order of the
// steps, what is rolled back when, and the messages a failed admission carries. No Docker.
import { Writable } from 'node:stream'
import type Docker from 'dockerode'
import t from 'tap'
import type { AdmissionResponse, ContainerAdmission } from '../../src/admin/api.ts'
import type { AdminClient } from '../../src/admin/client/admin-client.ts'
import type { ServiceContainer } from '../../src/deploy/plan.ts'
import { Progress, type ProgressEvent } from '../../src/deploy/progress.ts'
import { runDeploy, type DeployStrategy, type StrategyPlan } from '../../src/deploy/sequencer.ts'

const c = (name: string): ServiceContainer => ({ id: `id-${name}`, name, running: true })

interface World {
  calls: string[]
  events: ProgressEvent[]
  admissions: AdmissionResponse[]
  exited: Set<string>
  run: (strategy?: Partial<DeployStrategy>, timeoutMs?: number) => Promise<unknown>
}

function world (): World {
  const calls: string[] = []
  const events: ProgressEvent[] = []
  const admissions: AdmissionResponse[] = []
  const exited = new Set<string>()
  const admin = {
    acquireLock: async (key: string) => { calls.push(`lock ${key}`) },
    releaseLock: async (key: string) => { calls.push(`release ${key}`) },
    admission: async (ids: string[], timeoutMs: number) => {
      calls.push(`admission ${ids.join(',')} ${timeoutMs > 0 ? 'wait' : 'now'}`)
      return admissions.shift() ?? { admitted: true, containers: ids.map((id) => ({ containerId: id, state: 'ready', reason: '', upstreams: [] })) }
    },
    drain: async (id: string) => {
      calls.push(`drain ${id}`)
      return { containerId: id, name: id, drained: true, inflightLeft: 0, longLivedClosed: 0, durationMs: 1 }
    }
  } as unknown as AdminClient
  const docker = {
    getContainer: (id: string) => ({
      inspect: async () => ({ Id: id, Name: `/${id}`, State: { Running: !exited.has(id), ExitCode: exited.has(id) ? 3 : 0 }, Config: { Env: ['VIRTUAL_HOST=app.test'] } }),
      remove: async () => { calls.push(`remove ${id}`) },
      stop: async () => { calls.push(`stop ${id}`) },
      logs: async () => Buffer.from(`last words of ${id}\n`)
    })
  } as unknown as Docker
  const progress = new Progress(false, new Writable({ write: (_c, _e, cb) => { cb() } }))
  progress.onEvent((e) => { events.push(e) })
  const run = async (overrides: Partial<DeployStrategy> = {}, timeoutMs = 10_000): Promise<unknown> => {
    const strategy: DeployStrategy = {
      lockKey: 'compose:p/app',
      plan: async (): Promise<StrategyPlan> => { calls.push('plan'); return { old: [c('old1')], message: 'replacing old1', startMessage: 'up --scale app=2' } },
      startCandidates: async () => { calls.push('start'); return [c('new1')] },
      strayCandidates: async () => { calls.push('stray'); return [c('stray1')] },
      retire: async (plan, candidates) => {
        calls.push(`retire ${plan.old.map((o) => o.name).join(',')} for ${candidates.map((n) => n.name).join(',')}`)
        return { service: 'app', old: ['old1'], new: ['new1'], message: 'deployed app' }
      },
      ...overrides
    }
    return await runDeploy(strategy, { docker, admin, progress }, { timeoutMs, drainTimeoutMs: 1_000 })
  }
  return { calls, events, admissions, exited, run }
}

const steps = (events: ProgressEvent[]): string[] => events.filter((e) => e.status !== 'info').map((e) => `${e.step}:${e.status}`)

t.test('a deploy: lease, plan, start, one admission request, drain, retire, done; lease released', async (t) => {
  const w = world()
  t.match(await w.run(), { service: 'app', old: ['old1'], new: ['new1'] })
  t.same(w.calls, ['lock compose:p/app', 'plan', 'start', 'admission id-new1 wait', 'drain id-old1', 'retire old1 for new1', 'release compose:p/app'])
  t.same(steps(w.events), ['plan:done', 'scale:start', 'scale:done', 'admit:start', 'admit:done', 'drain:start', 'drain:done', 'done:done'])
  t.same(w.events.filter((e) => e.step === 'admit' && e.status === 'info').map((e) => e.message), ['new1 is ready'])
})

t.test('admission answers pending, then ready: asked again, no rollback', async (t) => {
  const w = world()
  const pending: ContainerAdmission = { containerId: 'id-new1', state: 'pending', reason: 'starting', upstreams: [] }
  w.admissions.push({ admitted: false, containers: [pending] })
  await w.run()
  t.same(w.calls.filter((x) => x.startsWith('admission')), ['admission id-new1 wait', 'admission id-new1 wait'])
  t.equal(w.calls.includes('remove id-new1'), false)
})

t.test('the proxy will not route a candidate: rolled back, the old one neither drained nor retired', async (t) => {
  const w = world()
  w.admissions.push({ admitted: false, containers: [{ containerId: 'id-new1', state: 'skipped', reason: 'VIRTUAL_PORT "eighty" is not a port', upstreams: [] }] })
  await t.rejects(w.run(), { code: 'PROXY_ERR_DEPLOY_FAILED', message: /will not route new container new1: VIRTUAL_PORT "eighty"/ })
  t.same(w.calls, ['lock compose:p/app', 'plan', 'start', 'admission id-new1 wait', 'drain id-new1', 'remove id-new1', 'release compose:p/app'])
  t.same(steps(w.events).slice(-2), ['rollback:start', 'rollback:done'])
})

t.test('a candidate that stopped: its exit code and logs in the error, rolled back', async (t) => {
  const w = world()
  w.exited.add('id-new1')
  w.admissions.push({ admitted: false, containers: [{ containerId: 'id-new1', state: 'stopped', reason: 'die event', upstreams: [] }] })
  await t.rejects(w.run(), { code: 'PROXY_ERR_DEPLOY_FAILED', message: /new container new1 exited with code 3 before it became ready\nlast words of id-new1/ })
  t.ok(w.calls.includes('remove id-new1'), 'removed')
  t.equal(w.calls.some((x) => x.startsWith('retire')), false)
})

t.test('not ready by the deadline: a timeout naming the last check and the logs, rolled back', async (t) => {
  const w = world()
  const check = { ok: false, at: '', detail: 'GET /hc -> 500', durationMs: 2 }
  w.admissions.push({
    admitted: false,
    containers: [{ containerId: 'id-new1', state: 'pending', reason: '', upstreams: [{ id: 'u', containerId: 'id-new1', name: 'new1', origin: 'http://10.0.0.2:3000', state: 'unhealthy', reason: '', inflight: 0, longLived: 0, lastCheck: check }] }]
  })
  await t.rejects(w.run({}, 0), { code: 'PROXY_ERR_DEPLOY_TIMEOUT', message: /not ready within 0s\nnew1: http:\/\/10\.0\.0\.2:3000 unhealthy, last check: GET \/hc -> 500\n--- last log lines of new1 ---\nlast words of id-new1/ })
  t.same(w.calls.filter((x) => x.startsWith('admission')), ['admission id-new1 now'], 'one answer, then the deadline')
  t.ok(w.calls.includes('remove id-new1'))
})

t.test('starting the candidates fails: what the strategy reports as started is removed; the lease is released', async (t) => {
  const w = world()
  await t.rejects(w.run({ startCandidates: async () => { w.calls.push('start'); throw new Error('compose up failed') } }), { message: 'compose up failed' })
  t.same(w.calls, ['lock compose:p/app', 'plan', 'start', 'stray', 'drain id-stray1', 'remove id-stray1', 'release compose:p/app'])
})

t.test('a plan that fails releases the lease and starts nothing', async (t) => {
  const w = world()
  await t.rejects(w.run({ plan: async () => { throw new Error('no such project') } }), { message: 'no such project' })
  t.same(w.calls, ['lock compose:p/app', 'release compose:p/app'])
})

t.test('a strategy that paces the rollout (Swarm): admits and drains through the gates, the sequencer does neither again', async (t) => {
  const w = world()
  const swarmNew = (name: string): ServiceContainer => ({ ...c(name), proxied: true })
  await w.run({
    startCandidates: async (_plan, gates) => {
      w.calls.push('start')
      await gates.admit([swarmNew('new1')], 5_000)
      await gates.drain([c('old1')])
      return [swarmNew('new1')]
    }
  })
  t.same(w.calls, ['lock compose:p/app', 'plan', 'start', 'admission id-new1 wait', 'drain id-old1', 'retire old1 for new1', 'release compose:p/app'], 'one admission, one drain: none repeated after start')
})

t.test('a strategy with its own rollback (docker service rollback): used instead of removing candidates', async (t) => {
  const w = world()
  w.admissions.push({ admitted: false, containers: [{ containerId: 'id-new1', state: 'skipped', reason: 'no network shared', upstreams: [] }] })
  await t.rejects(w.run({
    startCandidates: async (_plan, gates) => { w.calls.push('start'); await gates.admit([{ ...c('new1'), proxied: true }], 5_000); return [] },
    rollback: async () => { w.calls.push('platform rollback') }
  }), { code: 'PROXY_ERR_DEPLOY_FAILED', message: /will not route new container new1/ })
  t.same(w.calls, ['lock compose:p/app', 'plan', 'start', 'admission id-new1 wait', 'platform rollback', 'release compose:p/app'], 'no candidate removed, the old one not drained')
})
