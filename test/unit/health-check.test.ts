import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { Pool } from 'undici'
import { DEFAULT_HEALTH_CHECK, STARTING_PROBE_INTERVAL_MS, type HealthCheckOptions } from '../../src/config/options.ts'
import { HealthCheck, type HealthCheckConsumer, type HealthCheckResult } from '../../src/health/health-check.ts'
import { Target } from '../../src/routing/target.ts'

// HealthCheck against a real HTTP server on 127.0.0.1:0; the handler is swapped per test.

interface Upstream {
  pool: Pool
  origin: string
  requests: IncomingMessage[]
  handle: (req: IncomingMessage, res: ServerResponse) => void
}

async function upstream (t: Test): Promise<Upstream> {
  const up: Upstream = { pool: undefined as unknown as Pool, origin: '', requests: [], handle: (_req, res) => { res.end('ok') } }
  const server = createServer((req, res) => { up.requests.push(req); up.handle(req, res) })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  up.origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  up.pool = new Pool(up.origin)
  t.teardown(async () => {
    await up.pool.destroy()
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })
  return up
}

const options = (extra: Partial<HealthCheckOptions> = {}): HealthCheckOptions =>
  ({ ...DEFAULT_HEALTH_CHECK, path: '/health', intervalMs: 100, timeoutMs: 1_000, ...extra })

class Spy implements HealthCheckConsumer {
  results: Array<HealthCheckResult & { receivedAt: number }> = []
  awaitingAdmission = false
  #waiters: Array<() => void> = []
  healthCheckCompleted (result: HealthCheckResult): void {
    this.results.push({ ...result, receivedAt: performance.now() })
    for (const w of this.#waiters.splice(0)) w()
  }

  async count (n: number, ms = 5_000): Promise<void> {
    const deadline = Date.now() + ms
    while (this.results.length < n) {
      if (Date.now() > deadline) throw new Error(`${this.results.length} of ${n} results`)
      await new Promise<void>((resolve) => { this.#waiters.push(resolve); setTimeout(resolve, 50) })
    }
  }
}

async function probeStatus (up: Upstream, status: number, pathConfigured: boolean): Promise<HealthCheckResult> {
  up.handle = (_req, res) => { res.statusCode = status; res.end() }
  return await new HealthCheck(up.pool, new Spy(), { options: options({ pathConfigured }), hostHeader: 'a.test' }).probe()
}

t.test('a probe is a GET of the path with the route host, and reports the status', async (t) => {
  const up = await upstream(t)
  const r = await new HealthCheck(up.pool, new Spy(), { options: options(), hostHeader: 'app.example.com' }).probe()
  t.equal(r.ok, true)
  t.equal(r.detail, 'GET /health -> 200')
  t.ok(r.durationMs >= 0 && r.durationMs < 1_000)
  t.ok(Date.parse(r.at) <= Date.now())
  const req = up.requests[0]!
  t.equal(req.method, 'GET')
  t.equal(req.url, '/health')
  t.equal(req.headers.host, 'app.example.com')
  t.equal(req.headers['user-agent'], 'proxyctl-health-check')
})

t.test('status ranges: a configured path passes on 2xx/3xx only; the default path on anything below 500', async (t) => {
  const up = await upstream(t)
  const cases: Array<[number, boolean, boolean]> = [
    // status, pathConfigured, ok
    [200, true, true], [204, true, true], [301, true, true], [399, true, true],
    [400, true, false], [404, true, false], [500, true, false],
    [200, false, true], [302, false, true], [404, false, true], [499, false, true],
    [500, false, false], [503, false, false]
  ]
  for (const [status, pathConfigured, ok] of cases) {
    const r = await probeStatus(up, status, pathConfigured)
    t.equal(r.ok, ok, `${status} with ${pathConfigured ? 'a configured' : 'the default'} path`)
    t.equal(r.detail, `GET /health -> ${status}`)
  }
})

t.test('a probe that gets no answer fails at timeoutMs', async (t) => {
  const up = await upstream(t)
  up.handle = () => {} // never answers
  const started = performance.now()
  const r = await new HealthCheck(up.pool, new Spy(), { options: options({ timeoutMs: 200 }), hostHeader: 'a.test' }).probe()
  const took = performance.now() - started
  t.equal(r.ok, false)
  t.equal(r.detail, 'GET /health failed: timed out after 200ms')
  t.ok(took >= 190 && took < 1_500, `gave up after ${Math.round(took)} ms`)
  t.ok(r.durationMs >= 190, 'durationMs says how long it waited')
})

t.test('a refused connection fails with its error code', async (t) => {
  const up = await upstream(t)
  const closed = new Pool('http://127.0.0.1:1')
  t.teardown(async () => { await closed.destroy() })
  const r = await new HealthCheck(closed, new Spy(), { options: options(), hostHeader: 'a.test' }).probe()
  t.equal(r.ok, false)
  t.equal(r.detail, 'GET /health failed: ECONNREFUSED')
  t.equal(up.requests.length, 0)
})

t.test('the loop probes at intervalMs once admitted, and at most every STARTING_PROBE_INTERVAL_MS while awaiting admission', async (t) => {
  const up = await upstream(t)
  const admitted = new Spy()
  const slow = new HealthCheck(up.pool, admitted, { options: options({ intervalMs: 400 }), hostHeader: 'a.test' })
  slow.start()
  t.teardown(() => { slow.stop() })
  await admitted.count(3)
  slow.stop()
  const gaps = admitted.results.slice(1).map((r, i) => r.receivedAt - admitted.results[i]!.receivedAt)
  for (const g of gaps) t.ok(g >= 390, `admitted: ${Math.round(g)} ms between probes (interval 400)`)

  const waiting = new Spy()
  waiting.awaitingAdmission = true
  const fast = new HealthCheck(up.pool, waiting, { options: options({ intervalMs: 5_000 }), hostHeader: 'a.test' })
  const started = performance.now()
  fast.start()
  t.teardown(() => { fast.stop() })
  await waiting.count(3)
  fast.stop()
  t.ok(waiting.results[0]!.receivedAt - started < 200, 'the first probe runs at once')
  const fastGaps = waiting.results.slice(1).map((r, i) => r.receivedAt - waiting.results[i]!.receivedAt)
  for (const g of fastGaps) {
    t.ok(g >= STARTING_PROBE_INTERVAL_MS - 10 && g < 2_000, `awaiting admission: ${Math.round(g)} ms between probes (interval 5000)`)
  }
})

t.test('settings set while running apply to the next probe', async (t) => {
  const up = await upstream(t)
  const spy = new Spy()
  const hc = new HealthCheck(up.pool, spy, { options: options(), hostHeader: 'a.test' })
  hc.start()
  t.teardown(() => { hc.stop() })
  await spy.count(1)
  hc.settings = { options: options({ path: '/ready' }), hostHeader: 'b.test' }
  await spy.count(3)
  hc.stop()
  t.equal(spy.results.at(-1)!.detail, 'GET /ready -> 200')
  t.equal(up.requests.at(-1)!.headers.host, 'b.test')
})

t.test('stop ends the loop and aborts the probe in flight without reporting it', async (t) => {
  const up = await upstream(t)
  const spy = new Spy()
  const hc = new HealthCheck(up.pool, spy, { options: options({ timeoutMs: 10_000 }), hostHeader: 'a.test' })
  let arrived: () => void = () => {}
  const requestArrived = new Promise<void>((resolve) => { arrived = resolve })
  up.handle = (req) => { arrived(); void req } // holds the probe
  hc.start()
  await requestArrived
  const req = up.requests[0]!
  const aborted = new Promise<number>((resolve) => { req.socket.once('close', () => { resolve(performance.now()) }) })
  const stoppedAt = performance.now()
  hc.stop()
  const closedAt = await aborted
  t.ok(closedAt - stoppedAt < 1_000, `the upstream saw the probe go within ${Math.round(closedAt - stoppedAt)} ms`)
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.equal(spy.results.length, 0, 'the aborted probe is not reported')
  t.equal(up.requests.length, 1, 'and no probe follows')
})

t.test('HealthCheck driving a Target: thresholds admit and eject as the upstream changes', async (t) => {
  const up = await upstream(t)
  let status = 200
  let served = 0
  /** [new state, probes served when it changed] */
  const changedAt: Array<[string, number]> = []
  const target = new Target({
    id: 'c1:80:http', groupId: 'c1', name: 'app', address: '127.0.0.1', port: Number(new URL(up.origin).port), protocol: 'http',
    health: options({ pathConfigured: true, intervalMs: 50, healthyThreshold: 2, unhealthyThreshold: 3 }), externalHealth: 'none'
  }, { connectTimeoutMs: 1_000, responseTimeoutMs: 1_000 }, (c) => { changedAt.push([c.to, served]) })
  const hc = new HealthCheck(target.pool, target, { options: target.spec.health, hostHeader: 'a.test' })
  t.teardown(async () => { hc.stop(); await target.pool.destroy() })
  up.handle = (_req, res) => { served++; res.statusCode = status; res.end() }
  hc.start()
  const until = async (what: string, check: () => boolean): Promise<void> => {
    const deadline = Date.now() + 5_000
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
  }
  await until('ready', () => target.state === 'ready')
  t.same(changedAt, [['ready', 2]], 'admitted on the second passing probe (healthyThreshold 2)')
  status = 404
  const before = served
  await until('unhealthy', () => target.state === 'unhealthy')
  t.equal(changedAt[1]![1] - before, 3, 'ejected on the third failing probe (unhealthyThreshold 3)')
  t.match(target.stateReason, /failed 3x \(GET \/health -> 404\)/)
})
