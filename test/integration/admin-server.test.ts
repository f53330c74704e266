// The admin API's HTTP layer on its Unix socket: routes, JSON bodies, errors. (What each route
// does with the proxy is exercised end to end by the Docker tests.)
import { mkdtempSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import t from 'tap'
import { Client, Pool } from 'undici'
import { createServer } from 'node:http'
import { PassThrough } from 'node:stream'
import type { AddressInfo } from 'node:net'
import type { AdmissionResponse, SkippedContainer } from '../../src/admin/api.ts'
import { closeAdminServer, createAdminServer, listenOnSocket } from '../../src/admin/server/admin-server.ts'
import { AdmissionWaiters } from '../../src/admin/server/admission.ts'
import { adminSession } from '../../src/cli/commands/admin-request.ts'
import { RolloutHistory } from '../../src/history/rollout-history.ts'
import { Metrics } from '../../src/metrics/metrics.ts'
import { TrafficStats } from '../../src/metrics/traffic-stats.ts'
import { Reconciler } from '../../src/routing/reconciler.ts'
import { RouteTableStore } from '../../src/routing/route-table-store.ts'
import { route } from '../support/proxy-harness.ts'
import { waitFor } from '../support/wait.ts'

t.test('routes, JSON errors and the socket\'s mode', async (t) => {
  const log = pino({ level: 'silent' })
  const store = new RouteTableStore()
  const reconciler = new Reconciler(store, { balancing: 'round-robin', defaultHost: undefined, drainTimeoutMs: 1_000, connectTimeoutMs: 1_000, responseTimeoutMs: 1_000 }, log)
  const traffic = new TrafficStats()
  const server = createAdminServer({
    store, reconciler, version: 'test', drainTimeoutMs: 1_000, longLivedGraceMs: 100, skipped: () => [], traffic,
    admission: new AdmissionWaiters(store, reconciler, () => []),
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

t.test('POST /v1/admission: held until ready, skipped, stopped or the capped timeout; bounded; dropped on hang-up', async (t) => {
  const log = pino({ level: 'silent' })
  const store = new RouteTableStore()
  const reconciler = new Reconciler(store, { balancing: 'round-robin', defaultHost: undefined, drainTimeoutMs: 1_000, connectTimeoutMs: 1_000, responseTimeoutMs: 1_000 }, log)
  let skipped: SkippedContainer[] = []
  const admission = new AdmissionWaiters(store, reconciler, () => skipped, { maxWaiters: 2, maxWaitMs: 3_000 })
  const server = createAdminServer({
    store, reconciler, version: 'test', drainTimeoutMs: 1_000, longLivedGraceMs: 100, skipped: () => skipped, traffic: new TrafficStats(), admission,
    history: new RolloutHistory(undefined, () => 0, log),
    metrics: new Metrics({ inflight: () => 0, upstreamStates: () => ({}), dockerReconnects: () => 0 })
  }, log)
  let healthy = false
  const app = createServer((_req, res) => { res.writeHead(healthy ? 200 : 500).end() })
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve))
  const port = (app.address() as AddressInfo).port
  const socketPath = join(mkdtempSync(join(tmpdir(), 'pxt-admit-')), 'admin.sock')
  await listenOnSocket(server, socketPath)
  const client = new Pool('http://admin', { socketPath, connections: 4, headersTimeout: 0, bodyTimeout: 0 })
  t.teardown(async () => { await client.close(); admission.close(); await closeAdminServer(server); await reconciler.stop(); app.close() })
  const admit = async (body: unknown, signal?: AbortSignal): Promise<{ status: number, json: AdmissionResponse & { code?: string }, ms: number }> => {
    const started = Date.now()
    const r = await client.request({ method: 'POST', path: '/v1/admission', body: JSON.stringify(body), headers: { 'content-type': 'application/json' }, signal })
    return { status: r.statusCode, json: await r.body.json() as AdmissionResponse & { code?: string }, ms: Date.now() - started }
  }
  const id = `local-${port}`
  reconciler.apply({ routes: [route('admit.test', [port], {}, { intervalMs: 50, healthyThreshold: 1 })] })

  // Pending until the upstream passes its check: the answer comes from the state change, long before the timeout.
  const held = admit({ containerIds: [id], timeoutMs: 10_000 })
  await waitFor(() => admission.size === 1, { what: 'the request held' })
  healthy = true
  const ready = await held
  t.equal(ready.status, 200)
  t.equal(ready.json.admitted, true)
  t.same(ready.json.containers.map((c) => [c.containerId, c.state]), [[id, 'ready']])
  t.equal(ready.json.containers[0]!.upstreams[0]!.state, 'ready')
  t.ok(ready.ms < 2_000, `answered on the state change (${ready.ms} ms), not at the 3 s cap`)
  t.equal(admission.size, 0, 'the waiter is gone')

  // Unknown container: pending until the timeout; the proxy's cap (3 s here) bounds a longer one.
  const unknown = await admit({ containerIds: ['nosuch'], timeoutMs: 120_000 })
  t.same(unknown.json, { admitted: false, containers: [{ containerId: 'nosuch', state: 'pending', reason: 'not in the route table', upstreams: [] }] })
  t.ok(unknown.ms >= 2_950 && unknown.ms < 8_000, `held for the capped 3 s (${unknown.ms} ms)`)

  // A stop event for a waited-on container answers at once, as does a skipped one.
  const stopping = admit({ containerIds: ['c0ffee'], timeoutMs: 10_000 })
  await waitFor(() => admission.size === 1, { what: 'the request held' })
  admission.containerStopped('c0ffee1234', 'container x die event')
  t.match((await stopping).json, { admitted: false, containers: [{ containerId: 'c0ffee', state: 'stopped', reason: 'container x die event' }] })
  admission.containerStarted('c0ffee1234')
  skipped = [{ containerId: 'bad1', name: 'bad', reason: 'VIRTUAL_PORT "eighty" is not a port' }]
  t.match((await admit({ containerIds: ['bad1', id], timeoutMs: 10_000 })).json, {
    admitted: false, containers: [{ containerId: 'bad1', state: 'skipped', reason: /VIRTUAL_PORT/ }, { containerId: id, state: 'ready' }]
  })

  // Bounded: at most maxWaiters held at once (503), and a client that hangs up is dropped.
  const aborts = [new AbortController(), new AbortController()]
  const hanging = aborts.map(async (a) => await admit({ containerIds: ['nosuch'], timeoutMs: 10_000 }, a.signal).catch((err: Error) => err))
  await waitFor(() => admission.size === 2, { what: 'two requests held' })
  const third = await admit({ containerIds: ['nosuch'], timeoutMs: 10_000 })
  t.equal(third.status, 503, 'a third waiter is refused')
  const abortedAt = Date.now()
  for (const a of aborts) a.abort()
  await Promise.all(hanging)
  await waitFor(() => admission.size === 0, { timeoutMs: 5_000, intervalMs: 10, what: 'the hung-up waiters dropped' })
  const droppedMs = Date.now() - abortedAt
  t.ok(droppedMs < 1_500, `dropped ${droppedMs} ms after the hang-up, not at the 3 s cap`)

  t.match(await admit({ containerIds: [], timeoutMs: 10 }), { status: 400 })
  t.match(await admit({ containerIds: [id], timeoutMs: 'soon' }), { status: 400 })
  t.match(await admit({ containerIds: Array.from({ length: 257 }, (_, i) => `c${i}`), timeoutMs: 10 }), { status: 400 })
})

t.test('admin-request --stdio: one process answers many requests, by id, concurrently; finishes them when stdin ends', async (t) => {
  const log = pino({ level: 'silent' })
  const store = new RouteTableStore()
  const reconciler = new Reconciler(store, { balancing: 'round-robin', defaultHost: undefined, drainTimeoutMs: 1_000, connectTimeoutMs: 1_000, responseTimeoutMs: 1_000 }, log)
  const admission = new AdmissionWaiters(store, reconciler, () => [])
  const server = createAdminServer({
    store, reconciler, version: 'session', drainTimeoutMs: 1_000, longLivedGraceMs: 100, skipped: () => [], traffic: new TrafficStats(), admission,
    history: new RolloutHistory(undefined, () => 0, log),
    metrics: new Metrics({ inflight: () => 0, upstreamStates: () => ({}), dockerReconnects: () => 0 })
  }, log)
  const socketPath = join(mkdtempSync(join(tmpdir(), 'pxt-session-')), 'admin.sock')
  await listenOnSocket(server, socketPath)
  t.teardown(async () => { admission.close(); await closeAdminServer(server); await reconciler.stop() })
  const input = new PassThrough()
  const output = new PassThrough()
  const lines: Array<{ id: number | null, status: number, text: string }> = []
  let buffered = ''
  output.setEncoding('utf8')
  output.on('data', (c: string) => {
    buffered += c
    for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) { lines.push(JSON.parse(buffered.slice(0, nl)) as typeof lines[number]); buffered = buffered.slice(nl + 1) }
  })
  const done = adminSession(socketPath, input, output)
  input.write(`${JSON.stringify({ id: 1, method: 'POST', path: '/v1/admission', body: { containerIds: ['nosuch'], timeoutMs: 400 } })}\n`)
  input.write(`${JSON.stringify({ id: 2, method: 'GET', path: '/v1/status' })}\n{"id":3,"method":"GET","pa`)
  input.write('th":"/nope"}\nnot json\n')
  await waitFor(() => lines.length >= 3, { what: 'the quick answers' })
  t.same(lines.map((l) => [l.id, l.status]).sort(), [[2, 200], [3, 404], [null, 400]].sort(), 'status and 404 answered while the admission request is held')
  t.equal(lines.some((l) => l.id === 1), false, 'the held request is not answered yet')
  input.end()
  t.equal(await done, 0)
  const held = lines.find((l) => l.id === 1)
  t.equal(held?.status, 200, 'the held request answered before the session exits')
  t.match(JSON.parse(held?.text ?? '{}'), { admitted: false, containers: [{ containerId: 'nosuch', state: 'pending' }] })
  t.match(JSON.parse(lines.find((l) => l.id === 2)?.text ?? '{}'), { version: 'session' })
})
