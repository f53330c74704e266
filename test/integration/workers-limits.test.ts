import { createHash } from 'node:crypto'
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import t, { type Test } from 'tap'
import { DEFAULT_SERVE_OPTIONS, type ServeOptions } from '../../src/config/options.ts'
import { Telemetry } from '../../src/metrics/telemetry.ts'
import { reconcilerOptions } from '../../src/proxy/proxy-setup.ts'
import { Reconciler } from '../../src/routing/reconciler.ts'
import { RouteTableStore } from '../../src/routing/route-table-store.ts'
import { PolicyStore } from '../../src/traffic/policy.ts'
import { WorkerPool } from '../../src/workers/worker-pool.ts'
import { route } from '../support/proxy-harness.ts'
import { startUpstream } from '../support/upstream.ts'
import { waitFor } from '../support/wait.ts'

// Issue 12: with two real worker processes the limits documented per proxy hold in total (each
// worker enforces its share), and /metrics shows each worker's own process figures by slot.

/** One request on its own connection, kept open: its status, or 0 when the proxy closed the connection unanswered. */
function openRequest (port: number, path: string, headers: Record<string, string> = { host: 'app.test' }): { status: Promise<number>, close: () => void } {
  const socket = connect(port, '127.0.0.1')
  socket.on('error', () => {})
  const status = new Promise<number>((resolve) => {
    let head = ''
    socket.on('data', (c: Buffer) => {
      head += c.toString('latin1')
      const m = /^HTTP\/1\.1 (\d{3})/.exec(head)
      if (m !== null) resolve(Number(m[1]))
    })
    socket.once('close', () => { resolve(0) })
  })
  socket.once('connect', () => {
    const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')
    socket.write(`GET ${path} HTTP/1.1\r\n${extra}\r\n`)
  })
  return { status, close: () => { socket.destroy() } }
}

interface Pool { port: number, pool: WorkerPool, policy: PolicyStore, telemetry: Telemetry }

/** Two real worker processes (WorkerPool) routing app.test and secret.test (basic auth) to one upstream. */
async function startPool (t: Test, extra: Partial<ServeOptions>): Promise<Pool> {
  const up = await startUpstream((_req, res) => { res.end('ok') })
  const root = pino({ level: 'silent' })
  const dir = mkdtempSync(join(tmpdir(), 'proxyctl-worker-limits-'))
  mkdirSync(join(dir, 'htpasswd'))
  writeFileSync(join(dir, 'htpasswd', 'secret.test'), `alice:{SHA}${createHash('sha1').update('right').digest('base64')}\n`)
  const options: ServeOptions = { ...DEFAULT_SERVE_OPTIONS, host: '127.0.0.1', port: 0, httpsPort: undefined, nginxRoot: dir, htmlDir: dir, shutdownTimeoutMs: 2_000, ...extra }
  const store = new RouteTableStore()
  const telemetry = new Telemetry(true)
  const policy = new PolicyStore()
  const reconciler = new Reconciler(store, reconcilerOptions(options), root.child({ component: 'routing' }))
  // The count is the pool's (the options' WORKERS is the CPUs here): workers split by it.
  const pool = new WorkerPool({ count: 2, accept: 'reuseport', options, store, reconciler, policy, observer: telemetry.requests, log: root })
  t.teardown(async () => {
    await pool.stop()
    await reconciler.stop()
    await up.close()
  })
  reconciler.apply({ routes: [route('app.test', [up.port]), route('secret.test', [up.port])] })
  await waitFor(() => reconciler.targets().every((x) => x.routable), { what: 'the targets ready' })
  const { port } = await pool.start()
  return { port, pool, policy, telemetry }
}

t.test('two worker processes, MAX_CLIENT_CONNECTIONS=4: connections in total, process figures per worker', async (t) => {
  const { port, pool, telemetry } = await startPool(t, { maxClientConnections: 4 })

  await t.test('MAX_CLIENT_CONNECTIONS=4: at most 4 connections served at once over both workers', async (t) => {
    // 16 connections, each with a request, all kept open: a worker over its share closes the new
    // ones at once (as the single process over the cap). The kernel spreads them over the workers.
    const conns = Array.from({ length: 16 }, (_, i) => openRequest(port, `/c${i}`))
    t.teardown(() => { for (const c of conns) c.close() })
    const statuses = await Promise.all(conns.map(async (c) => await c.status))
    const served = statuses.filter((s) => s === 200).length
    t.ok(served <= 4, `served ${served} of 16 at once (the total is 4)`)
    t.ok(served >= 2, 'both workers served up to their share')
    t.same(statuses.filter((s) => s !== 200 && s !== 0), [], 'the others were closed unanswered')
    for (const c of conns) c.close()
    await waitFor(async () => {
      const again = openRequest(port, '/again')
      const status = await again.status
      again.close()
      return status === 200
    }, { what: 'served again below the cap' })
  })

  await t.test('/metrics has each worker\'s resident memory, heap, CPU and event loop, labelled by slot', async (t) => {
    await pool.refresh()
    const text = await telemetry.metrics.registry.metrics()
    for (const w of ['0', '1']) {
      const rss = new RegExp(`\\nproxyctl_worker_resident_memory_bytes\\{worker="${w}"\\} (\\d+)\\n`).exec(text)
      t.ok(rss !== null, `worker ${w}: resident memory`)
      t.ok(Number(rss?.[1]) > 10 * 1024 * 1024, `worker ${w}: ${Number(rss?.[1]) / 2 ** 20} MiB`)
      t.match(text, new RegExp(`\\nproxyctl_worker_heap_used_bytes\\{worker="${w}"\\} \\d+`))
      t.match(text, new RegExp(`\\nproxyctl_worker_cpu_seconds_total\\{worker="${w}"\\} [\\d.e-]+`))
      t.match(text, new RegExp(`\\nproxyctl_worker_event_loop_busy_seconds_total\\{worker="${w}"\\} [\\d.e-]+`))
      t.match(text, new RegExp(`\\nproxyctl_worker_event_loop_delay_p99_seconds\\{worker="${w}"\\} [\\d.e-]+`))
    }
    t.notMatch(text, /worker="2"/)
  })

})

t.test('two worker processes: a pause\'s queue and the failed-login throttle in total', async (t) => {
  const { port, pool, policy } = await startPool(t, {})

  await t.test('a pause\'s --max-queued 2 holds at most 2 requests over both workers; resume releases them', async (t) => {
    policy.update('app.test', (p) => ({ ...p, pause: { since: Date.now(), maxHoldMs: 20_000, maxQueued: 2 } }))
    // The routing reaches the workers asynchronously: wait until one holds a request.
    const first = openRequest(port, '/held0')
    await waitFor(async () => { await pool.refresh(); return pool.held('app.test') === 1 }, { what: 'a request held' })
    const more = Array.from({ length: 12 }, (_, i) => openRequest(port, `/held${i + 1}`))
    const all = [first, ...more]
    t.teardown(() => { for (const c of all) c.close() })
    // Those over a worker's share get 503 at once: every request is either answered or held.
    let answered = 0
    for (const c of all) void c.status.then(() => { answered++ })
    await waitFor(async () => { await pool.refresh(); return answered + pool.held('app.test') === all.length }, { what: 'every request answered or held' })
    t.equal(pool.held('app.test'), 2, 'held in total: the bound')
    policy.update('app.test', (p) => ({ ...p, pause: undefined }))
    const statuses = await Promise.all(all.map(async (c) => await c.status))
    t.equal(statuses.filter((s) => s === 200).length, 2, 'the held ones are released')
    t.equal(statuses.filter((s) => s === 503).length, 11)
  })

  await t.test('failed logins per address: at most 10 over both workers (5 each), then 429', async (t) => {
    const wrong = `Basic ${Buffer.from('alice:wrong').toString('base64')}`
    const statuses: number[] = []
    // One at a time, each on a new connection: the kernel spreads them over the workers.
    for (let i = 0; i < 24; i++) {
      const c = openRequest(port, '/', { authorization: wrong, host: 'secret.test' })
      statuses.push(await c.status)
      c.close()
    }
    const denied = statuses.filter((s) => s === 401).length
    t.ok(denied <= 10, `${denied} wrong passwords checked (bound 10)`)
    t.ok(denied >= 5, 'each worker allows its share')
    t.equal(statuses.filter((s) => s === 429).length, 24 - denied, 'the rest throttled')
  })
})

t.test('MAX_CLIENT_CONNECTIONS below the worker count fails the start with a clear message', async (t) => {
  const root = pino({ level: 'silent' })
  const dir = mkdtempSync(join(tmpdir(), 'proxyctl-worker-limits-'))
  const options: ServeOptions = { ...DEFAULT_SERVE_OPTIONS, host: '127.0.0.1', port: 0, httpsPort: undefined, nginxRoot: dir, htmlDir: dir, maxClientConnections: 1 }
  const store = new RouteTableStore()
  const reconciler = new Reconciler(store, reconcilerOptions(options), root)
  const pool = new WorkerPool({ count: 2, accept: 'reuseport', options, store, reconciler, observer: new Telemetry(false).requests, log: root })
  t.teardown(async () => { await pool.stop(); await reconciler.stop() })
  await t.rejects(pool.start(), { code: 'PROXY_ERR_INVALID_OPTION', message: /MAX_CLIENT_CONNECTIONS \(1\) is the total over all workers and must be at least WORKERS \(2\)/ })
})
