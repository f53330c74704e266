import { mkdirSync, mkdtempSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { connect, type TLSSocket } from 'node:tls'
import { pino } from 'pino'
import t from 'tap'
import { Client } from 'undici'
import { DEFAULT_SERVE_OPTIONS, type ServeOptions } from '../../src/config/options.ts'
import { Telemetry } from '../../src/metrics/telemetry.ts'
import { reconcilerOptions } from '../../src/proxy/proxy-setup.ts'
import { Reconciler } from '../../src/routing/reconciler.ts'
import { RouteTableStore } from '../../src/routing/route-table-store.ts'
import { PolicyStore } from '../../src/traffic/policy.ts'
import { WorkerPool } from '../../src/workers/worker-pool.ts'
import { installCert, makeCert } from '../support/certs.ts'
import { route as harnessRoute } from '../support/proxy-harness.ts'
import { startUpstream } from '../support/upstream.ts'
import { waitFor } from '../support/wait.ts'

// --workers 2 without Docker: the primary's side (WorkerPool) with a Reconciler fed routes
// directly, two real worker processes on one port, a real upstream. What the Docker test checks
// end to end, here piece by piece: exact counts, status sums, drains on every worker, whole log
// lines, a killed worker replaced.

// Served on both ports: HTTP without the redirect to HTTPS.
const route: typeof harnessRoute = (host, ports, extra = {}, health = {}) =>
  harnessRoute(host, ports, { tls: { httpsMethod: 'noredirect', hsts: undefined, certName: undefined }, ...extra }, health)

/** A TLS connection's handshake: whether it resumed `session`, and the session it was given. */
async function handshake (port: number, session?: Buffer): Promise<{ reused: boolean, session: Buffer | undefined }> {
  return await new Promise((resolve, reject) => {
    const socket: TLSSocket = connect({ host: '127.0.0.1', port, servername: 'app.test', rejectUnauthorized: false, session, ALPNProtocols: ['http/1.1'] })
    let given: Buffer | undefined
    socket.on('session', (s: Buffer) => { given = s })
    socket.once('secureConnect', () => {
      // TLS 1.3 sends the ticket after the handshake: read it, then close.
      socket.write('GET /tls HTTP/1.1\r\nhost: app.test\r\nconnection: close\r\n\r\n')
      socket.resume()
      socket.once('end', () => { resolve({ reused: socket.isSessionReused(), session: given }) })
    })
    socket.once('error', reject)
  })
}

interface AccessLine { msg?: string, component?: string, pid?: number, path?: string, status?: number, host?: string }

async function get (port: number, path: string, agent = false): Promise<{ status: number, body: string }> {
  return await new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path, headers: { host: 'app.test' }, agent }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (c: string) => { body += c }).on('end', () => { resolve({ status: res.statusCode ?? 0, body }) })
    }).on('error', reject).end()
  })
}

t.test('two worker processes serve one port with the primary\'s routing', async (t) => {
  const up = await startUpstream((req, res) => {
    const delay = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('delay') ?? 0)
    setTimeout(() => res.end('ok'), delay)
  })
  // The primary's log destination: every worker's line arrives here through the pool's relay.
  let logText = ''
  const sink = new Writable({ write (chunk: Buffer, _enc, cb) { logText += chunk.toString('utf8'); cb() } })
  const root = pino({ level: 'info' }, sink)
  const dir = mkdtempSync(join(tmpdir(), 'proxyctl-workers-'))
  mkdirSync(join(dir, 'certs'))
  installCert(join(dir, 'certs'), 'app.test', makeCert('app.test'))
  const options: ServeOptions = { ...DEFAULT_SERVE_OPTIONS, host: '127.0.0.1', port: 0, httpsPort: 0, nginxRoot: dir, htmlDir: dir, workers: 2, shutdownTimeoutMs: 5_000 }
  const store = new RouteTableStore()
  const telemetry = new Telemetry(true)
  const reconciler = new Reconciler(store, reconcilerOptions(options), root.child({ component: 'routing' }))
  const pool = new WorkerPool({ count: 2, accept: 'reuseport', options, store, reconciler, policy: new PolicyStore(), observer: telemetry.requests, log: root })
  let stopped = false
  t.teardown(async () => {
    if (!stopped) await pool.stop()
    await reconciler.stop()
    await up.close()
  })
  reconciler.apply({ routes: [route('app.test', [up.port], {}, { intervalMs: 100 })] })
  await waitFor(() => reconciler.targets()[0]?.routable, { what: 'the target ready' })
  const { port, httpsPort } = await pool.start()
  const target = reconciler.targets()[0]!
  const lines = (): AccessLine[] => logText.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as AccessLine)
  const access = (): AccessLine[] => lines().filter((l) => l.component === 'access' && l.host === 'app.test')

  await t.test('every request any worker answered is counted once in the primary\'s telemetry and metrics', async (t) => {
    // Long paths make the access log's batches large, so both workers write big chunks at once.
    const pad = 'x'.repeat(1_500)
    const clients = Array.from({ length: 20 }, () => new Client(`http://127.0.0.1:${port}`))
    let ok = 0
    await Promise.all(clients.map(async (c, i) => {
      for (let n = 0; n < 20; n++) {
        const res = await c.request({ method: 'GET', path: `/count?c=${i}&n=${n}&pad=${pad}`, headers: { host: 'app.test' } })
        await res.body.dump()
        if (res.statusCode === 200) ok++
      }
      await c.close()
    }))
    t.equal(ok, 400)
    await pool.refresh()
    t.same(telemetry.traffic.get('app.test'), { requests: 400, errors: 0 }, 'traffic stats: exactly the requests answered')
    const text = await telemetry.metrics.registry.metrics()
    t.match(text, /proxyctl_requests_total\{host="app\.test",status_class="2xx",upstream="local-\d+"\} 400\n/, '/metrics: exactly 400')
    t.match(text, /proxyctl_request_duration_seconds_count\{host="app\.test"\} 400\n/)
    await waitFor(() => access().filter((l) => l.path?.startsWith('/count') === true).length === 400, { what: '400 access lines' })
    const pids = new Set(access().map((l) => l.pid))
    t.equal(pids.size, 2, 'both workers served')
    t.notOk(pids.has(process.pid), 'none by the primary')
  })

  await t.test('the access log\'s lines stay whole with two workers writing at once', async (t) => {
    // lines() would have thrown on a line cut or interleaved; check the count too.
    const all = lines()
    t.ok(all.length >= 400)
    t.ok(all.every((l) => typeof l === 'object' && l !== null))
  })

  await t.test('status sums in-flight requests over the workers, and a drain waits for them on every worker', async (t) => {
    const slow = Array.from({ length: 12 }, async (_, i) => {
      const r = await get(port, `/slow?delay=700&i=${i}`)
      return { ...r, endedAt: Date.now() }
    })
    await waitFor(async () => { await pool.refresh(); return pool.load(target.key)?.inflight === 12 }, { what: '12 requests in flight over the workers' })
    t.equal(target.inflight, 0, 'the primary holds none itself')
    const drainStarted = Date.now()
    const result = await reconciler.drain(target.groupId, 5_000, 100)
    const drainedAt = Date.now()
    const done = await Promise.all(slow)
    t.ok(done.every((r) => r.status === 200), 'every in-flight request finished')
    t.ok(done.every((r) => r.endedAt <= drainedAt + 50), 'the drain resolved only after all of them had')
    t.ok(drainedAt - drainStarted >= 500, 'it waited')
    t.equal(result?.drained, true)
    t.equal(result?.inflightLeft, 0)
    const slowLines = await waitFor(() => { const l = access().filter((x) => x.path?.startsWith('/slow') === true); return l.length === 12 ? l : undefined }, { what: '12 slow access lines' })
    t.equal(new Set(slowLines.map((l) => l.pid)).size, 2, 'the slow requests were on both workers')
    t.equal((await get(port, '/after-drain')).status, 503, 'no worker routes to the drained target')
    // A new Target for the same upstream (the drained one is removed), admitted by its health check.
    reconciler.apply({ routes: [] })
    reconciler.apply({ routes: [route('app.test', [up.port], {}, { intervalMs: 100 })] })
  })

  await t.test('a killed worker is replaced while the other keeps serving', async (t) => {
    // Back in rotation: a fresh target for the same container (restore re-admits through health checks).
    await waitFor(async () => (await get(port, '/ready')).status === 200, { what: 'routable again' })
    const [victim, survivor] = pool.pids
    t.ok(victim !== undefined && survivor !== undefined)
    process.kill(victim!, 'SIGKILL')
    await waitFor(() => lines().some((l) => l.msg === 'Worker exited; starting another'), { what: 'the exit logged' })
    // Requests on new connections while the worker is being replaced: all answered.
    const during = await Promise.all(Array.from({ length: 40 }, async (_, i) => (await get(port, `/during?i=${i}`)).status))
    t.same(during.filter((s) => s !== 200), [], 'no request failed')
    await waitFor(() => pool.pids[0] !== undefined && pool.pids[0] !== victim, { what: 'a new worker' })
    const replacement = pool.pids[0]!
    await waitFor(async () => {
      await get(port, '/after')
      return access().some((l) => l.pid === replacement)
    }, { what: 'the new worker serving', timeoutMs: 10_000 })
    t.equal(pool.pids[1], survivor, 'the other worker was left alone')
  })

  await t.test('a TLS session from one worker resumes on the other (one set of ticket keys)', async (t) => {
    const first = await handshake(httpsPort!)
    t.ok(first.session !== undefined, 'a session ticket')
    const reused = await Promise.all(Array.from({ length: 16 }, async () => (await handshake(httpsPort!, first.session)).reused))
    t.same(reused, Array(16).fill(true), 'every new connection resumed it, whichever worker it reached')
    await waitFor(() => access().filter((l) => l.path === '/tls').length === 17, { what: '17 TLS access lines' })
    t.equal(new Set(access().filter((l) => l.path === '/tls').map((l) => l.pid)).size, 2, 'on both workers')
  })

  await t.test('a second proxy cannot share the workers\' port (SO_REUSEPORT would let it)', async (t) => {
    const second = new WorkerPool({ count: 2, accept: 'reuseport', options: { ...options, port }, store, reconciler, observer: telemetry.requests, log: root })
    await t.rejects(second.start(), { code: 'PROXY_ERR_INVALID_OPTION', message: new RegExp(`cannot listen for HTTP on 127\\.0\\.0\\.1:${port}: EADDRINUSE`) })
    await second.stop()
    t.equal((await get(port, '/still')).status, 200, 'the first one still serves')
  })

  await t.test('SIGHUP reaches every worker; stop lets in-flight requests finish', async (t) => {
    t.equal(await pool.reload(), 2)
    const slow = get(port, '/last?delay=500')
    await waitFor(async () => { await pool.refresh(); return pool.inflight === 1 }, { what: 'one request in flight' })
    await pool.stop()
    stopped = true
    t.same(await slow, { status: 200, body: 'ok' })
    await t.rejects(get(port, '/gone'), 'the port is closed once every worker stopped')
  })
})
