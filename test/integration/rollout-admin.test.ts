// The admin routes verified deploys and canaries use, on the Unix socket with a real Reconciler
// and real upstreams: figures, standby / reinstate (and their refusals), the canary split, and
// hostile bodies answered 400, never a crash.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import t from 'tap'
import { Client } from 'undici'
import { closeAdminServer, createAdminServer, listenOnSocket } from '../../src/admin/server/admin-server.ts'
import { AdmissionWaiters } from '../../src/admin/server/admission.ts'
import { RolloutHistory } from '../../src/history/rollout-history.ts'
import { Metrics } from '../../src/metrics/metrics.ts'
import { TrafficStats } from '../../src/metrics/traffic-stats.ts'
import { Reconciler } from '../../src/routing/reconciler.ts'
import { RouteTableStore } from '../../src/routing/route-table-store.ts'
import { PolicyStore } from '../../src/traffic/policy.ts'
import { VersionStats } from '../../src/traffic/version-stats.ts'
import { route } from '../support/proxy-harness.ts'
import { startUpstream } from '../support/upstream.ts'
import { waitFor } from '../support/wait.ts'

t.test('figures, standby, reinstate and the canary split over the admin socket', async (t) => {
  const log = pino({ level: 'silent' })
  const store = new RouteTableStore()
  const reconciler = new Reconciler(store, { balancing: 'round-robin', defaultHost: undefined, drainTimeoutMs: 1_000, connectTimeoutMs: 1_000, responseTimeoutMs: 1_000 }, log)
  const versions = new VersionStats()
  const policy = new PolicyStore()
  const server = createAdminServer({
    store, reconciler, version: 'test', drainTimeoutMs: 1_000, longLivedGraceMs: 100, skipped: () => [], traffic: new TrafficStats(),
    admission: new AdmissionWaiters(store, reconciler, () => []),
    history: new RolloutHistory(undefined, () => 0, log),
    metrics: new Metrics({ inflight: () => 0, upstreamStates: () => ({}), dockerReconnects: () => 0 }),
    versions,
    policy
  }, log)
  const socketPath = join(mkdtempSync(join(tmpdir(), 'pxt-rollout-')), 'admin.sock')
  await listenOnSocket(server, socketPath)
  const client = new Client('http://admin', { socketPath })
  const a = await startUpstream((_req, res) => { res.end('a') })
  const b = await startUpstream((_req, res) => { res.end('b') })
  t.teardown(async () => { await client.close(); await closeAdminServer(server); await reconciler.stop(); await a.close(); await b.close() })
  reconciler.apply({ routes: [route('app.test', [a.port, b.port], {}, { intervalMs: 50 })] })
  await waitFor(() => reconciler.targets().every((x) => x.routable), { what: 'both upstreams ready' })
  const old = `local-${a.port}`
  const fresh = `local-${b.port}`

  const call = async (path: string, body: unknown): Promise<{ status: number, json: Record<string, unknown> }> => {
    const r = await client.request({ method: path === '/v1/status' ? 'GET' : 'POST', path, ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}) })
    return { status: r.statusCode, json: await r.body.json() as Record<string, unknown> }
  }

  for (let i = 0; i < 40; i++) versions.requestCompleted(old, i < 4 ? 502 : 200, 10)
  t.match(await call('/v1/figures', { containers: [old] }), { status: 200, json: { figures: { requests: 40, errors: 4, errorRate: 0.1 }, upstreams: [old] } })
  t.match(await call('/v1/figures', { containers: [old, fresh] }), { json: { figures: { requests: 40 } } })
  t.match(await call('/v1/figures', { containers: [] }), { json: { figures: { requests: 0 } } }, 'a first deploy has no old containers')

  t.match(await call('/v1/standby', { containerId: old }), { status: 409, json: { message: /only a drained container/ } }, 'a ready container cannot go to standby')
  t.match(await call('/v1/reinstate', { containerId: old }), { status: 409, json: { message: /not in standby/ } })
  t.match(await call('/v1/drain', { containerId: old, timeoutMs: 500 }), { status: 200 })
  t.match(await call('/v1/standby', { containerId: old }), { status: 200, json: { state: 'standby' } })
  const standby = reconciler.targets().find((x) => x.isContainer(old))!
  standby.healthCheckCompleted({ ok: true, at: '', detail: 'ok', durationMs: 1 })
  t.equal(standby.state, 'standby', 'health checks do not re-admit a standby container')
  const ups = (await call('/v1/status', undefined)).json.upstreams as Array<{ containerId: string, state: string }>
  t.same(ups.map((u) => `${u.containerId} ${u.state}`).sort(), [`${fresh} ready`, `${old} standby`].sort(), 'status shows the standby container')
  t.match(await call('/v1/reinstate', { containerId: old }), { status: 200, json: { state: 'ready' } })
  t.equal(standby.routable, true, 'back in rotation at once')

  const set = await call('/v1/canary', { containers: [fresh], share: 0.25 })
  t.match(set, { status: 200, json: { hosts: ['app.test'], share: 0.25, cookie: /^pxc_[0-9a-f]{8}$/ } })
  t.match(policy.forHost('app.test')?.canary, { newTargets: [fresh], share: 0.25 })
  t.match(await call('/v1/canary', { containers: [fresh], share: 0.5 }), { json: { cookie: set.json.cookie } }, 'the next step keeps the cookie')
  t.match((await call('/v1/status', undefined)).json, { canary: { 'app.test': { share: 0.5, newUpstreams: [fresh], oldUpstreams: [old] } } })
  t.match(await call('/v1/canary/clear', { containers: [fresh] }), { json: { hosts: ['app.test'] } })
  t.equal(policy.forHost('app.test'), undefined)

  const bad: Array<[string, unknown]> = [
    ['/v1/figures', {}],
    ['/v1/figures', { containers: 'x' }],
    ['/v1/figures', { containers: [1] }],
    ['/v1/figures', { containers: [''] }],
    ['/v1/figures', { containers: Array.from({ length: 300 }, (_, i) => `c${i}`) }],
    ['/v1/figures', { containers: [old], lastMs: -1 }],
    ['/v1/figures', { containers: [old], lastMs: 'all' }],
    ['/v1/standby', {}],
    ['/v1/standby', { containerId: 7 }],
    ['/v1/canary', { containers: [fresh] }],
    ['/v1/canary', { containers: [fresh], share: 1.5 }],
    ['/v1/canary', { containers: [fresh], share: -0.1 }],
    ['/v1/canary', { containers: [fresh], share: '1' }],
    ['/v1/canary', { containers: [], share: 0.1 }],
    ['/v1/canary/clear', { containers: null }],
    ['/v1/canary', '{"containers":["x"],"share":1e999}']
  ]
  for (const [path, body] of bad) t.equal((await call(path, body)).status, 400, `${path} ${JSON.stringify(body)}`)
  t.match(await call('/v1/canary', { containers: ['nope'], share: 0.1 }), { status: 404, json: { code: 'PROXY_ERR_TARGET_NOT_FOUND' } })
  t.match(await call('/v1/standby', { containerId: 'nope' }), { status: 404 })
})
