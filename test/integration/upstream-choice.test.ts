// Which upstream a request goes to, and when it may go to a second one: the default balancing
// (least outstanding requests) and the rule that a request body already sent is never replayed.
import t from 'tap'
import { DEFAULT_SERVE_OPTIONS } from '../../src/config/options.ts'
import { get } from '../support/http-client.ts'
import { route, startHarness } from '../support/proxy-harness.ts'
import { startUpstream } from '../support/upstream.ts'
import { waitFor } from '../support/wait.ts'

t.test('least-outstanding ("--balancing ... default least-outstanding"): with one replica busy on a slow request, the next requests go to the free one', async (t) => {
  t.equal(DEFAULT_SERVE_OPTIONS.balancing, 'least-outstanding', 'the default strategy')
  let release: () => void = () => {}
  const held = new Promise<void>((resolve) => { release = resolve })
  const replica = async (name: string): Promise<Awaited<ReturnType<typeof startUpstream>>> => await startUpstream((req, res) => {
    if (req.url === '/slow') { void held.then(() => { res.end(name) }); return }
    res.end(name)
  })
  const a = await replica('a')
  const b = await replica('b')
  const h = await startHarness({ reconciler: { balancing: DEFAULT_SERVE_OPTIONS.balancing } })
  t.teardown(async () => { release(); await h.stop(); await a.close(); await b.close() })
  h.apply([route('lo.test', [a.port, b.port])])
  await h.waitReady(2)
  const slow = get(h.port, 'lo.test', '/slow')
  const busy = await waitFor(() => a.requests.some((r) => r.url === '/slow') ? 'a' : b.requests.some((r) => r.url === '/slow') ? 'b' : undefined, { what: 'the slow request at a replica' })
  const free = busy === 'a' ? 'b' : 'a'
  const answers: string[] = []
  for (let i = 0; i < 10; i++) answers.push((await get(h.port, 'lo.test', `/next?i=${i}`)).body)
  t.same(answers, Array.from({ length: 10 }, () => free), `all 10 went to ${free} while ${busy} held a request`)
  release()
  t.equal((await slow).body, busy, 'the slow request completed on the busy replica')
  // Once both are idle again, ties rotate: both replicas serve.
  const after = new Set<string>()
  for (let i = 0; i < 4; i++) after.add((await get(h.port, 'lo.test', `/after?i=${i}`)).body)
  t.same([...after].sort(), ['a', 'b'], 'both replicas serve once idle')
})

t.test('"A request body that was already sent is never replayed": an upstream that reads a POST body then resets gives 502, the other upstream never sees the POST', async (t) => {
  const body = 'x'.repeat(10_000)
  const readByA: Array<{ url: string, bytes: number }> = []
  // a: reads a POST's whole body, then resets the connection before answering; resets GET /reset
  // the same way (a GET without a body may be retried); answers everything else (health checks).
  const a = await startUpstream((req, res) => {
    if (req.method === 'POST' || req.url === '/reset') {
      let bytes = 0
      req.on('data', (c: Buffer) => { bytes += c.length })
      req.on('end', () => { readByA.push({ url: req.url ?? '', bytes }); req.socket.resetAndDestroy() })
      return
    }
    res.end('a')
  })
  const b = await startUpstream((req, res) => { req.resume(); req.on('end', () => { res.end('b') }) })
  const h = await startHarness()
  t.teardown(async () => { await h.stop(); await a.close(); await b.close() })
  h.apply([route('post.test', [a.port, b.port])])
  await h.waitReady(2)
  const statuses = new Map<string, number>()
  // Round-robin alternates: within four POSTs at least one lands on a.
  for (let i = 0; i < 4 && readByA.length === 0; i++) {
    const url = `/orders?i=${i}`
    statuses.set(url, (await get(h.port, 'post.test', url, { method: 'POST', body, headers: { 'content-type': 'text/plain' } })).status)
  }
  const sent = readByA.find((r) => r.url.startsWith('/orders'))
  t.ok(sent !== undefined, `a POST reached a (statuses: ${JSON.stringify([...statuses])})`)
  t.equal(sent?.bytes, body.length, 'a read the whole body before the reset')
  t.equal(statuses.get(sent?.url ?? ''), 502, 'the client got 502')
  t.same(b.requests.filter((r) => r.method === 'POST' && r.url === sent?.url).map((r) => r.url), [], 'b never saw that POST')
  // The same reset on a GET without a body is retried on b: the reset above would have been replayed if allowed.
  let reset: { status: number, body: string } | undefined
  for (let i = 0; i < 4 && !readByA.some((r) => r.url === '/reset'); i++) reset = await get(h.port, 'post.test', '/reset')
  t.ok(readByA.some((r) => r.url === '/reset'), 'a GET /reset reached a')
  t.equal(reset?.status, 200)
  t.equal(reset?.body, 'b', 'the GET was retried on b')
})
