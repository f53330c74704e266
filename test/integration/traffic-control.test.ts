// Issue 13 items 3-4 on real sockets: pause holds a host's requests (HTTP/1.1, HTTP/2 streams,
// WebSocket upgrades) and releases them in order; maintenance answers 503 + a page except for
// allowed peers. Driven through the admin API on a Unix socket, as the CLI drives it.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import t, { type Test } from 'tap'
import { closeAdminServer, createAdminServer, listenOnSocket } from '../../src/admin/server/admin-server.ts'
import { AdmissionWaiters } from '../../src/admin/server/admission.ts'
import { AdminClient } from '../../src/admin/client/admin-client.ts'
import { SocketTransport } from '../../src/admin/client/transports.ts'
import { RolloutHistory } from '../../src/history/rollout-history.ts'
import { Metrics } from '../../src/metrics/metrics.ts'
import { TrafficStats } from '../../src/metrics/traffic-stats.ts'
import { PolicyStore } from '../../src/traffic/policy.ts'
import { DEFAULT_MAINTENANCE_PAGE } from '../../src/traffic/maintenance.ts'
import { installCert, makeCert } from '../support/certs.ts'
import { get, type Reply } from '../support/http-client.ts'
import { h2Request, h2Session } from '../support/https-client.ts'
import { route, startHarness, type Harness } from '../support/proxy-harness.ts'
import { startUpstream, startWebSocketUpstream, type Upstream } from '../support/upstream.ts'
import { websocketEcho } from '../support/ws-client.ts'
import { waitFor } from '../support/wait.ts'

interface Setup { h: Harness, up: Upstream, other: Upstream, admin: AdminClient, policy: PolicyStore, seen: string[] }

async function setup (t: Test, upstreamConnections?: number, clientIdleTimeoutMs?: number): Promise<Setup> {
  const log = pino({ level: 'silent' })
  const htmlDir = mkdtempSync(join(tmpdir(), 'pxt-html-'))
  mkdirSync(join(htmlDir, '.well-known', 'acme-challenge'), { recursive: true })
  writeFileSync(join(htmlDir, '.well-known', 'acme-challenge', 'tok'), 'challenge-answer')
  const certsDir = mkdtempSync(join(tmpdir(), 'pxt-certs-'))
  installCert(certsDir, 'app.test', makeCert('app.test'))
  const seen: string[] = []
  const up = await startUpstream((req, res) => {
    // The proxy's health checks (GET /) are never held: counted apart.
    if (req.url !== '/') seen.push(`${req.method ?? ''} ${req.url ?? ''}`)
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      setTimeout(() => { res.end(`${req.method ?? ''} ${req.url ?? ''} ${Buffer.concat(chunks).toString()}`) }, req.url === '/slow' ? 400 : 0)
    })
  })
  const other = await startUpstream((_req, res) => { res.end('other') })
  const policy = new PolicyStore()
  const h = await startHarness({ certsDir, tls: { defaultHttpsMethod: 'noredirect' }, proxy: { policy, htmlDir, ...(clientIdleTimeoutMs !== undefined ? { limits: { clientIdleTimeoutMs } } : {}) }, ...(upstreamConnections !== undefined ? { reconciler: { maxConnections: upstreamConnections } } : {}) })
  h.apply([route('app.test', [up.port]), route('other.test', [other.port])])
  await h.waitReady(2)
  const server = createAdminServer({
    store: h.store, reconciler: h.reconciler, version: 'test', drainTimeoutMs: 1_000, longLivedGraceMs: 100, skipped: () => [], traffic: new TrafficStats(),
    admission: new AdmissionWaiters(h.store, h.reconciler, () => []),
    history: new RolloutHistory(undefined, () => 0, log),
    metrics: new Metrics({ inflight: () => 0, upstreamStates: () => ({}), dockerReconnects: () => 0 }),
    policy,
    held: (host) => h.proxy.held(host)
  }, log)
  const socketPath = join(mkdtempSync(join(tmpdir(), 'pxt-tc-')), 'admin.sock')
  await listenOnSocket(server, socketPath)
  const admin = new AdminClient(new SocketTransport(socketPath))
  t.teardown(async () => { await admin.close(); await closeAdminServer(server); await h.stop(); await up.close(); await other.close() })
  return { h, up, other, admin, policy, seen }
}

/** Resolves with the reply, recording when it came; `settled()` says whether it has. */
function track (p: Promise<Reply>): { p: Promise<Reply & { at: number }>, settled: () => boolean } {
  let done = false
  const q = p.then((r) => { done = true; return { ...r, at: Date.now() } }, (err: unknown) => { done = true; throw err })
  return { p: q, settled: () => done }
}

t.test('pause holds new requests (bodies unread) while in-flight ones finish; resume releases them in arrival order', async (t) => {
  // One upstream connection: the app sees requests in the order the proxy dispatched them.
  const { h, admin, seen, up } = await setup(t, 1)
  const slow = track(get(h.port, 'app.test', '/slow'))
  await waitFor(() => h.reconciler.targets().some((x) => x.inflight === 1), { what: 'the slow request in flight' })
  const paused = await admin.pause({ target: 'app.test', maxHoldMs: 10_000, maxQueued: 100 })
  t.same(paused.hosts, ['app.test'])
  t.match(paused.trafficControl['app.test'], { pause: { maxHoldMs: 10_000, maxQueued: 100 } })
  const held: Array<ReturnType<typeof track>> = []
  for (let i = 0; i < 6; i++) {
    held.push(track(i % 2 === 0 ? get(h.port, 'app.test', `/get-${i}`) : get(h.port, 'app.test', `/post-${i}`, { method: 'POST', body: `body-${i}` })))
    // Arrival order is what the test checks: each request is held before the next is sent.
    await waitFor(() => h.proxy.held('app.test') === i + 1, { what: `${i + 1} held` })
  }
  t.match((await admin.status()).trafficControl, { 'app.test': { pause: { held: 6 } } }, 'status shows the held count')
  t.equal((await slow.p).status, 200, 'the request in flight when the pause began finished')
  t.equal((await get(h.port, 'other.test')).body, 'other', 'another host is not paused')
  t.equal((await get(h.port, 'app.test', '/.well-known/acme-challenge/tok')).body, 'challenge-answer', 'ACME challenges are answered during a pause')
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.same(held.map((x) => x.settled()), [false, false, false, false, false, false], 'nothing held was answered')
  t.same(seen.filter((s) => s !== 'GET /slow'), [], 'nothing held reached the app')
  const checks = h.reconciler.targets().find((x) => x.spec.port === (up.port))?.lastCheck
  t.ok(checks !== undefined && checks.ok && Date.now() - Date.parse(checks.at) < 1_000, 'health checks kept reaching the app during the pause')
  const resumedAt = Date.now()
  const resumed = await admin.resume({ target: 'app.test' })
  t.same(resumed.changed, ['app.test'])
  const replies = await Promise.all(held.map(async (x) => await x.p))
  t.same(replies.map((r) => r.status), [200, 200, 200, 200, 200, 200])
  t.same(replies.map((r) => r.body), ['GET /get-0 ', 'POST /post-1 body-1', 'GET /get-2 ', 'POST /post-3 body-3', 'GET /get-4 ', 'POST /post-5 body-5'], 'POST bodies arrive whole')
  t.same(seen.filter((s) => s !== 'GET /slow'), ['GET /get-0', 'POST /post-1', 'GET /get-2', 'POST /post-3', 'GET /get-4', 'POST /post-5'], 'released in arrival order')
  t.ok(replies.every((r) => r.at >= resumedAt), 'answered only after resume')
  t.same((await admin.status()).trafficControl, {}, 'no longer shown as paused')
})

t.test('past --max-hold: 503 with Retry-After; beyond --max-queued: 503 at once; other hosts unaffected', async (t) => {
  const { h, admin } = await setup(t)
  await admin.pause({ target: 'app.test', maxHoldMs: 300, maxQueued: 2 })
  const started = Date.now()
  const a = get(h.port, 'app.test', '/a')
  const b = get(h.port, 'app.test', '/b')
  await new Promise((resolve) => setTimeout(resolve, 50))
  const full = await get(h.port, 'app.test', '/c')
  t.equal(full.status, 503, 'the third of a queue of 2')
  t.equal(full.headers['retry-after'], '5')
  t.equal(full.headers['x-proxyctl-error'], 'PROXY_ERR_PAUSE_QUEUE_FULL')
  t.ok(Date.now() - started < 250, 'refused at once')
  const [ra, rb] = await Promise.all([a, b])
  const waited = Date.now() - started
  t.same([ra.status, rb.status], [503, 503])
  t.equal(ra.headers['retry-after'], '5')
  t.equal(ra.headers['x-proxyctl-error'], 'PROXY_ERR_PAUSE_TIMEOUT')
  t.ok(waited >= 280 && waited < 2_000, `held ${waited} ms for a 300 ms max hold`)
  t.equal((await get(h.port, 'other.test')).status, 200)
})

t.test('a client that hangs up while held leaves the queue', async (t) => {
  const { h, admin, seen } = await setup(t)
  await admin.pause({ target: 'app.test', maxHoldMs: 10_000, maxQueued: 1 })
  const req = request({ host: '127.0.0.1', port: h.port, path: '/leaver', headers: { host: 'app.test' }, agent: false })
  req.on('error', () => {})
  req.end()
  await new Promise((resolve) => setTimeout(resolve, 100))
  req.destroy()
  // Its place is free again: the next request is held (not refused as over the bound of 1).
  const next = await waitFor(async () => {
    const r = track(get(h.port, 'app.test', '/stayer'))
    await new Promise((resolve) => setTimeout(resolve, 150))
    if (r.settled()) { await r.p; return undefined }
    return r
  }, { timeoutMs: 5_000, what: 'a held request after the leaver' })
  await admin.resume({ target: 'app.test' })
  t.equal((await next.p).status, 200)
  t.notOk(seen.includes('GET /leaver'), 'the request of the client who left never reached the app')
})

t.test('HTTP/2 streams and WebSocket upgrades are held and released too', async (t) => {
  const { h, admin, policy } = await setup(t)
  const ws = await startWebSocketUpstream()
  t.teardown(async () => { await ws.close() })
  h.apply([route('app.test', [ws.port])])
  await waitFor(() => h.reconciler.targets().some((x) => x.spec.port === ws.port && x.routable))
  const session = await h2Session(h.httpsPort, 'app.test')
  t.teardown(() => { session.destroy() })
  await admin.pause({ target: 'app.test', maxHoldMs: 10_000, maxQueued: 10 })
  let h2Done = false
  let wsDone = false
  const h2 = h2Request(session, { ':method': 'GET', ':path': '/h2', ':authority': 'app.test' }).then((r) => { h2Done = true; return r })
  const echo = websocketEcho(h.port, 'app.test', 'hi').then((r) => { wsDone = true; return r })
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.same([h2Done, wsDone], [false, false], 'both held')
  t.equal(policy.forHost('app.test')?.pause?.maxQueued, 10)
  await admin.resume({ target: 'app.test' })
  t.equal((await h2).status, 200, 'the HTTP/2 stream answered after resume')
  t.equal(await echo, 'http:hi', 'the WebSocket tunnel opened after resume')
})

t.test('maintenance: 503 + Retry-After + the page, except for allowed peers (never X-Forwarded-For); off restores routing', async (t) => {
  const { h, admin } = await setup(t)
  const on = await admin.maintenanceOn({ target: 'app.test', allow: ['10.0.0.0/8'] })
  t.same(on.hosts, ['app.test'])
  t.same(on.trafficControl['app.test']?.maintenance?.allow, ['10.0.0.0/8'])
  const r = await get(h.port, 'app.test', '/any/path', { headers: { 'x-forwarded-for': '10.1.2.3' } })
  t.equal(r.status, 503)
  t.equal(r.headers['retry-after'], '120')
  t.match(r.headers['content-type'], /^text\/html/)
  t.equal(r.body, DEFAULT_MAINTENANCE_PAGE, 'the built-in page; X-Forwarded-For in the allowed range changes nothing')
  t.equal((await get(h.port, 'other.test')).status, 200, 'other hosts are served')
  t.equal((await get(h.port, 'app.test', '/.well-known/acme-challenge/tok')).body, 'challenge-answer', 'ACME challenges still answered')
  const page = '<!doctype html><h1>Back at 3 — promise</h1>'
  await admin.maintenanceOn({ target: 'app.test', allow: ['127.0.0.0/8'], page })
  const allowed = await get(h.port, 'app.test', '/through')
  t.equal(allowed.status, 200, 'a peer in the allow list reaches the app')
  await admin.maintenanceOn({ target: 'app.test', allow: [], page })
  const custom = await get(h.port, 'app.test')
  t.equal(custom.body, page, 'the user\'s page, UTF-8 intact')
  t.match((await admin.status()).trafficControl?.['app.test'], { maintenance: { customPage: true, allow: [] } })
  const off = await admin.maintenanceOff({ target: 'app.test' })
  t.same(off.changed, ['app.test'])
  t.equal((await get(h.port, 'app.test')).status, 200, 'routing restored')
  t.same((await admin.maintenanceOff({ target: 'app.test' })).changed, [], 'off again changes nothing')
})

t.test('the admin API validates every input and resolves containers to the hosts they serve', async (t) => {
  const { admin, up } = await setup(t)
  await t.rejects(admin.maintenanceOn({ target: 'app.test', allow: ['10.0.0.0/99'] }), { code: 'PROXY_ERR_INVALID_OPTION', message: /prefix length/ })
  await t.rejects(admin.maintenanceOn({ target: 'app.test', allow: ['evil.example'] }), { message: /not an IP address or CIDR/ })
  await t.rejects(admin.maintenanceOn({ target: 'app.test', page: 'x'.repeat(300 * 1024) }), { message: /at most 262144 bytes/ })
  await t.rejects(admin.pause({ target: 'app.test', maxHoldMs: -1 }), { message: /maxHoldMs/ })
  await t.rejects(admin.pause({ target: 'app.test', maxQueued: 1.5 }), { message: /maxQueued/ })
  await t.rejects(admin.pause({ target: '' }), { message: /target/ })
  await t.rejects(admin.pause({ target: 'web' }), { code: 'PROXY_ERR_INVALID_OPTION', message: /neither a routed host nor a container/ })
  await t.rejects(admin.transport.request('POST', '/v1/pause', { target: 'app.test', containers: 'x' }).then((r) => { if (r.status !== 400) throw new Error('accepted'); throw new Error('400') }), { message: '400' })
  const byContainer = await admin.pause({ target: `local-${up.port}` })
  t.same(byContainer.hosts, ['app.test'], 'a container name resolves to the host it serves')
  const byService = await admin.resume({ target: 'web', containers: [`local-${up.port}`] })
  t.same(byService.changed, ['app.test'], 'a compose service, as the CLI sends it (its containers), too')
  const unrouted = await admin.maintenanceOn({ target: 'later.example.com' })
  t.same([unrouted.hosts, unrouted.unrouted], [['later.example.com'], true], 'a host no container serves yet is accepted, and said so')
})

t.test('a hold longer than the client idle timeout is not cut by it (HTTP/1.1 and HTTP/2); the timeout applies again afterwards', async (t) => {
  const { h, admin } = await setup(t, undefined, 300)
  await admin.pause({ target: 'app.test', maxHoldMs: 10_000, maxQueued: 10 })
  const session = await h2Session(h.httpsPort, 'app.test')
  t.teardown(() => { session.destroy() })
  const h1 = get(h.port, 'app.test', '/h1')
  const h2 = h2Request(session, { ':method': 'GET', ':path': '/h2', ':authority': 'app.test' })
  await waitFor(() => h.proxy.held('app.test') === 2, { what: 'both held' })
  await new Promise((resolve) => setTimeout(resolve, 900))
  t.equal(h.proxy.held('app.test'), 2, 'still held three idle timeouts later')
  await admin.resume({ target: 'app.test' })
  t.equal((await h1).status, 200)
  t.equal((await h2).status, 200)
})

t.test('requests still held when the proxy stops get 503 with Retry-After at once, not after their max hold', async (t) => {
  const policy = new PolicyStore()
  const up = await startUpstream((_req, res) => { res.end('ok') })
  const h = await startHarness({ proxy: { policy } })
  t.teardown(async () => { await up.close() })
  h.apply([route('app.test', [up.port])])
  await h.waitReady(1)
  policy.update('app.test', (p) => ({ ...p, pause: { since: Date.now(), maxHoldMs: 60_000, maxQueued: 10 } }))
  const held = get(h.port, 'app.test')
  await waitFor(() => h.proxy.held('app.test') === 1, { what: 'one held' })
  const stopping = Date.now()
  await h.stop()
  const r = await held
  t.equal(r.status, 503)
  t.equal(r.headers['retry-after'], '5')
  t.ok(Date.now() - stopping < 3_000, 'answered during the stop')
})
