// `proxyctl dashboard`'s relay against a real admin server on a temp Unix socket: the Host check
// (DNS rebinding), the token and its cookie, and one admin request per path per interval however
// many browsers poll.
import { spawn } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { pino } from 'pino'
import t, { type Test } from 'tap'
import { SocketTransport } from '../../src/admin/client/transports.ts'
import { closeAdminServer, createAdminServer, listenOnSocket } from '../../src/admin/server/admin-server.ts'
import { AdmissionWaiters } from '../../src/admin/server/admission.ts'
import { startDashboardRelay, type DashboardRelay, type DashboardRelayOptions } from '../../src/admin/client/dashboard-relay.ts'
import { RolloutHistory } from '../../src/history/rollout-history.ts'
import { Metrics } from '../../src/metrics/metrics.ts'
import { TrafficStats } from '../../src/metrics/traffic-stats.ts'
import { Reconciler } from '../../src/routing/reconciler.ts'
import { RouteTableStore } from '../../src/routing/route-table-store.ts'
import { get, type Reply } from '../support/http-client.ts'
import { waitFor } from '../support/wait.ts'

const root = fileURLToPath(new URL('../..', import.meta.url))

interface Admin { socketPath: string, requests: Map<string, number> }

/** A real admin server; `requests` counts what reached it, per path. */
async function startAdmin (t: Test): Promise<Admin> {
  const log = pino({ level: 'silent' })
  const store = new RouteTableStore()
  const reconciler = new Reconciler(store, { balancing: 'round-robin', defaultHost: undefined, drainTimeoutMs: 1_000, connectTimeoutMs: 1_000, responseTimeoutMs: 1_000 }, log)
  const server = createAdminServer({
    store, reconciler, version: 'test', drainTimeoutMs: 1_000, longLivedGraceMs: 100, skipped: () => [], traffic: new TrafficStats(), admission: new AdmissionWaiters(store, reconciler, () => []),
    history: new RolloutHistory(undefined, () => 0, log),
    metrics: new Metrics({ inflight: () => 0, upstreamStates: () => ({}), dockerReconnects: () => 0 })
  }, log)
  const requests = new Map<string, number>()
  server.on('request', (req: { url?: string }) => { requests.set(req.url ?? '', (requests.get(req.url ?? '') ?? 0) + 1) })
  const socketPath = join(mkdtempSync(join(tmpdir(), 'pxt-dash-')), 'admin.sock')
  await listenOnSocket(server, socketPath)
  t.teardown(async () => { await closeAdminServer(server); await reconciler.stop() })
  return { socketPath, requests }
}

async function startRelay (t: Test, admin: Admin, o: Partial<DashboardRelayOptions> = {}): Promise<DashboardRelay> {
  const transport = new SocketTransport(admin.socketPath)
  const relay = await startDashboardRelay({ transport, host: '127.0.0.1', port: 0, ...o })
  t.teardown(async () => { await relay.close(); await transport.close() })
  return relay
}

const cookieOf = (r: Reply): string => String(r.headers['set-cookie']?.[0]).split(';')[0]!

t.test('the token: printed in the URL, traded for an HttpOnly SameSite=Strict cookie, required for every path', async (t) => {
  const admin = await startAdmin(t)
  const relay = await startRelay(t, admin)
  const host = `127.0.0.1:${relay.port}`
  const url = new URL(relay.url)
  t.equal(url.origin, `http://${host}`)
  t.equal(url.searchParams.get('token'), relay.token)
  t.ok(Buffer.from(relay.token, 'base64url').length >= 16, 'at least 128 random bits')
  const other = await startRelay(t, admin)
  t.not(other.token, relay.token, 'each relay makes its own')

  t.equal((await get(relay.port, host, '/')).status, 401, 'no token')
  t.equal((await get(relay.port, host, '/v1/status')).status, 401)
  t.equal((await get(relay.port, host, '/?token=nope')).status, 403, 'wrong token in the URL')
  t.equal((await get(relay.port, host, `/?token=${relay.token}x`)).status, 403, 'a longer one')
  t.equal((await get(relay.port, host, '/', { headers: { cookie: `proxyctl_dashboard_${relay.port}=${other.token}` } })).status, 403, 'another relay\'s token')

  const entry = await get(relay.port, host, `/?token=${relay.token}`)
  t.equal(entry.status, 303)
  t.equal(entry.headers.location, '/', 'the token leaves the address bar')
  const setCookie = String(entry.headers['set-cookie']?.[0])
  t.match(setCookie, /; HttpOnly/)
  t.match(setCookie, /; SameSite=Strict/)
  const cookie = cookieOf(entry)
  t.equal(cookie, `proxyctl_dashboard_${relay.port}=${relay.token}`, 'named after the port: cookies are not port-scoped')

  // What the page loads and fetches (status-page.ts: relative v1/status and v1/history).
  const page = await get(relay.port, host, '/', { headers: { cookie: `theme=dark; ${cookie}` } })
  t.equal(page.status, 200)
  t.match(page.body, /fetch\('v1\/status'\)/)
  t.equal(page.headers['cache-control'], 'no-store')
  t.match(JSON.parse((await get(relay.port, host, '/v1/status', { headers: { cookie } })).body), { version: 'test' })
  t.equal((await get(relay.port, host, '/v1/history', { headers: { cookie } })).body, '[]')
  t.match((await get(relay.port, host, '/metrics', { headers: { authorization: `Bearer ${relay.token}` } })).body, /proxyctl_requests_total/, 'a scraper sends the token as a bearer')
  t.equal((await get(relay.port, host, '/metrics', { headers: { authorization: 'Bearer wrong' } })).status, 403)

  t.equal((await get(relay.port, host, '/v1/drain', { headers: { cookie } })).status, 404, 'only the read-only pages are relayed')
  t.equal((await get(relay.port, host, '/v1/status', { method: 'POST', headers: { cookie } })).status, 405)
  t.equal((await get(relay.port, host, '/', { headers: { cookie: `proxyctl_dashboard_${relay.port}=wrong` } })).status, 403, 'a wrong cookie')
  t.equal(admin.requests.get('/v1/drain'), undefined)
})

t.test('the Host header: only the names the relay is reachable as, with its port (DNS rebinding)', async (t) => {
  const admin = await startAdmin(t)
  const relay = await startRelay(t, admin)
  const auth = { authorization: `Bearer ${relay.token}` }
  for (const name of ['127.0.0.1', 'localhost', 'LOCALHOST', '[::1]']) {
    t.equal((await get(relay.port, `${name}:${relay.port}`, '/v1/status', { headers: auth })).status, 200, name)
  }
  const refused = [
    `attacker.example:${relay.port}`, // a rebinding name that now resolves to 127.0.0.1
    'attacker.example',
    `127.0.0.1:${relay.port + 1}`,
    '127.0.0.1',
    `localhost.:${relay.port}`,
    `127.0.0.1.attacker.example:${relay.port}`,
    `[::1]x:${relay.port}`
  ]
  for (const name of refused) {
    const r = await get(relay.port, name, `/?token=${relay.token}`)
    t.equal(r.status, 421, `${name}: refused even with the token`)
    t.equal(r.headers['set-cookie'], undefined, `${name}: no cookie`)
  }
  t.equal(admin.requests.size, 1, 'refused requests never reach the admin API')
})

t.test('bound to another address, that address is a valid Host too', async (t) => {
  const admin = await startAdmin(t)
  const relay = await startRelay(t, admin, { host: 'localhost' })
  t.equal((await get(relay.port, `localhost:${relay.port}`, '/', { headers: { authorization: `Bearer ${relay.token}` } })).status, 200)
  t.match(relay.url, /^http:\/\/localhost:\d+\/\?token=/)
})

t.test('one admin request per path per interval, however many browsers poll', async (t) => {
  const admin = await startAdmin(t)
  let now = 1_000_000
  const relay = await startRelay(t, admin, { now: () => now })
  const host = `127.0.0.1:${relay.port}`
  const headers = { authorization: `Bearer ${relay.token}` }
  const statuses: number[] = []
  const poll = async (): Promise<void> => {
    const replies = await Promise.all([get(relay.port, host, '/v1/status', { headers }), get(relay.port, host, '/v1/history', { headers })])
    statuses.push(...replies.map((r) => r.status))
  }
  // 25 browsers, each polling twice within the second.
  await Promise.all(Array.from({ length: 25 }, poll))
  now += 500
  await Promise.all(Array.from({ length: 25 }, poll))
  t.same(new Set(statuses), new Set([200]), 'every poll answered')
  t.equal(admin.requests.get('/v1/status'), 1, 'one status request for 50 polls')
  t.equal(admin.requests.get('/v1/history'), 1)
  now += 500
  await Promise.all(Array.from({ length: 25 }, poll))
  t.equal(admin.requests.get('/v1/status'), 2, 'the next interval asks again, once')
  t.equal(admin.requests.get('/v1/history'), 2)
})

t.test('an unreachable admin API is 502, asked at most once per interval', async (t) => {
  let now = 0
  let asked = 0
  const relay = await startDashboardRelay({
    host: '127.0.0.1',
    port: 0,
    now: () => now,
    transport: { describe: 'down', close: async () => {}, request: async () => { asked++; throw new Error('connect ENOENT') } }
  })
  t.teardown(async () => { await relay.close() })
  const headers = { authorization: `Bearer ${relay.token}` }
  const replies = await Promise.all(Array.from({ length: 10 }, async () => await get(relay.port, `127.0.0.1:${relay.port}`, '/v1/status', { headers })))
  t.same(replies.map((r) => r.status), Array(10).fill(502))
  t.match(replies[0]!.body, /admin API unreachable: connect ENOENT/)
  t.equal(asked, 1)
  now += 1_000
  t.equal((await get(relay.port, `127.0.0.1:${relay.port}`, '/v1/status', { headers })).status, 502)
  t.equal(asked, 2)
})

t.test('the CLI prints the URL to open, with the token, and stops on SIGTERM', async (t) => {
  const admin = await startAdmin(t)
  const child = spawn(process.execPath, ['--import=@tapjs/typescript/import', join(root, 'src/cli/main.ts'), 'dashboard', '--port', '0', '--admin-socket', admin.socketPath], {
    cwd: root, env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1' }, stdio: ['ignore', 'pipe', 'pipe']
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  let out = ''
  let err = ''
  child.stdout.on('data', (c: Buffer) => { out += c.toString('utf8') })
  child.stderr.on('data', (c: Buffer) => { err += c.toString('utf8') })
  const printed = await waitFor(() => /status page on (http:\/\/127\.0\.0\.1:(\d+)\/\?token=[\w-]+) /.exec(out), { timeoutMs: 30_000, what: `the printed URL (stderr: ${err})` })
  const port = Number(printed[2])
  const entry = await get(port, `127.0.0.1:${port}`, new URL(printed[1]!).pathname + new URL(printed[1]!).search)
  t.equal(entry.status, 303)
  t.equal((await get(port, `127.0.0.1:${port}`, '/v1/status', { headers: { cookie: cookieOf(entry) } })).status, 200)
  child.kill('SIGTERM')
  t.equal(await exited, 0)
})
