// The admin API's HTTP layer on its Unix socket: routes, JSON bodies, errors. (What each route
// does with the proxy is exercised end to end by the Docker tests.)
import { mkdtempSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import t from 'tap'
import { Client } from 'undici'
import { closeAdminServer, createAdminServer, listenOnSocket } from '../../src/admin/admin-server.ts'
import { RolloutHistory } from '../../src/history/rollout-history.ts'
import { Metrics } from '../../src/metrics/metrics.ts'
import { TrafficStats } from '../../src/metrics/traffic-stats.ts'
import { Reconciler } from '../../src/routing/reconciler.ts'
import { RouteTableStore } from '../../src/routing/route-table-store.ts'

t.test('routes, JSON errors and the socket\'s mode', async (t) => {
  const log = pino({ level: 'silent' })
  const store = new RouteTableStore()
  const reconciler = new Reconciler(store, { balancing: 'round-robin', defaultHost: undefined, drainTimeoutMs: 1_000, connectTimeoutMs: 1_000, responseTimeoutMs: 1_000 }, log)
  const traffic = new TrafficStats()
  const server = createAdminServer({
    store, reconciler, version: 'test', drainTimeoutMs: 1_000, longLivedGraceMs: 100, skipped: () => [], traffic,
    history: new RolloutHistory(undefined, () => 0, log),
    metrics: new Metrics({ inflight: () => 0, upstreamStates: () => ({}), dockerReconnects: () => 0 })
  }, log)
  const socketPath = join(mkdtempSync(join(tmpdir(), 'pxt-admin-')), 'nested', 'admin.sock')
  await listenOnSocket(server, socketPath)
  const client = new Client('http://admin', { socketPath })
  t.teardown(async () => { await client.close(); await closeAdminServer(server); await reconciler.stop() })
  t.equal(statSync(socketPath).mode & 0o777, 0o600, 'socket is 0600')

  const call = async (method: 'GET' | 'POST', path: string, body?: string): Promise<{ status: number, type: string, json: Record<string, unknown> | undefined, text: string }> => {
    const r = await client.request({ method, path, ...(body !== undefined ? { body, headers: { 'content-type': 'application/json' } } : {}) })
    const text = await r.body.text()
    const type = String(r.headers['content-type'])
    return { status: r.statusCode, type, text, json: type.startsWith('application/json') ? JSON.parse(text) as Record<string, unknown> : undefined }
  }
  t.same((await call('GET', '/v1/health')).json, { ok: true })
  t.match((await call('GET', '/v1/status')).json, { version: 'test', hosts: [], upstreams: [] })
  t.match(await call('GET', '/'), { status: 200, type: /^text\/html/ })
  t.match(await call('GET', '/metrics'), { status: 200, type: /^text\/plain/, text: /proxyctl_requests_total/ })
  t.match(await call('GET', '/nope'), { status: 404, json: { code: 'PROXY_ERR_ADMIN' } })
  t.match(await call('DELETE' as 'GET', '/v1/health'), { status: 404 }, 'wrong method')
  t.match(await call('POST', '/v1/locks', 'not json'), { status: 400, json: { code: 'PROXY_ERR_ADMIN', message: /JSON object/ } })
  t.match(await call('POST', '/v1/locks', '[1,2]'), { status: 400 })
  t.match(await call('POST', '/v1/locks', '{"key":"svc"}'), { status: 400, json: { message: /required/ } })
  t.match(await call('POST', '/v1/locks', '{"key":"svc","holder":"a","ttlMs":10000}'), { status: 200, json: { key: 'svc', holder: 'a' } })
  t.match(await call('POST', '/v1/locks', '{"key":"svc","holder":"b","ttlMs":10000}'), { status: 409, json: { code: 'PROXY_ERR_DEPLOY_IN_PROGRESS' } })
  t.same((await call('POST', '/v1/locks/release', '{"key":"svc","holder":"a"}')).json, { released: true })
  t.match(await call('POST', '/v1/drain', '{"containerId":"missing"}'), { status: 404, json: { code: 'PROXY_ERR_TARGET_NOT_FOUND' } })
  const started = await call('POST', '/v1/deploys', '{"service":"web"}')
  t.equal(started.status, 200)
  const id = String(started.json?.id)
  t.match(await call('POST', `/v1/deploys/${id}/steps`, '{"step":"plan","status":"done"}'), { status: 200 })
  t.match(await call('POST', '/v1/deploys/unknown/steps', '{}'), { status: 404 })
  t.match(await call('POST', `/v1/deploys/${id}/finish`, '{"outcome":"succeeded"}'), { status: 200, json: { outcome: 'succeeded' } })
  t.equal(((await call('GET', '/v1/history')).json as unknown as unknown[]).length, 1)
})
