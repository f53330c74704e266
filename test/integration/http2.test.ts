// HTTP/2 streams go through H2Request/H2Response (not Node's compatibility layer): everything a
// request can do over HTTP/1.1 must hold over HTTP/2, one stream's trouble staying in that stream.
import { createHash } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { installCert, makeCert } from '../support/certs.ts'
import { h2Request, h2Session } from '../support/https-client.ts'
import { route, startHarness } from '../support/proxy-harness.ts'
import { startUpstream } from '../support/upstream.ts'
import { waitFor } from '../support/wait.ts'

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

async function setup (t: Test, handler: Parameters<typeof startUpstream>[0]) {
  const certsDir = mkdtempSync(join(tmpdir(), 'pxt-certs-'))
  installCert(certsDir, 'h2.test', makeCert('h2.test'))
  const up = await startUpstream(handler)
  const completed: number[] = []
  const h = await startHarness({ certsDir, proxy: { observer: { requestCompleted: (_host, status) => { completed.push(status) } } } })
  h.apply([route('h2.test', [up.port])])
  await h.waitReady(1)
  const session = await h2Session(h.httpsPort, 'h2.test')
  t.teardown(async () => { session.destroy(); await h.stop(); await up.close() })
  return { h, up, session, completed }
}

t.test('request and response bodies stream both ways (4 MiB, backpressure), headers as over HTTP/1.1', async (t) => {
  const { session, up } = await setup(t, (req, res) => {
    res.setHeader('x-seen', JSON.stringify({ host: req.headers.host, proto: req.headers['x-forwarded-proto'], method: req.method, url: req.url }))
    res.setHeader('set-cookie', ['a=1', 'b=2'])
    req.pipe(res)
  })
  const body = Buffer.alloc(4 * 1024 * 1024)
  for (let i = 0; i < body.length; i += 4) body.writeUInt32LE(i, i)
  const r = await h2Request(session, { ':method': 'POST', ':path': '/echo?x=1', ':authority': 'h2.test' }, body)
  t.equal(r.status, 200)
  t.equal(r.body.length, body.length)
  t.equal(sha(r.body), sha(body), 'body intact')
  t.same(JSON.parse(String(r.headers['x-seen'])), { host: 'h2.test', proto: 'https', method: 'POST', url: '/echo?x=1' })
  t.same(r.headers['set-cookie'], ['a=1', 'b=2'], 'two Set-Cookie fields stay two')
  t.match(r.headers['x-request-id'], /^[0-9a-f]{32}$/)
  t.equal(r.headers['strict-transport-security'], 'max-age=31536000')
  t.same(up.requests.filter((r) => r.method !== 'GET' || r.url !== '/').map((r) => `${r.method ?? ''} ${r.url ?? ''} HTTP/${r.httpVersion}`), ['POST /echo?x=1 HTTP/1.1'], 'the upstream saw the one POST, over HTTP/1.1')
})

t.test('Cookie split across HTTP/2 fields reaches the HTTP/1.1 upstream as one header', async (t) => {
  const { session } = await setup(t, (req, res) => { res.end(JSON.stringify(req.headersDistinct.cookie)) })
  // Node's client sends an array as separate fields, as browsers do for HTTP/2.
  const r = await h2Request(session, { ':path': '/', ':authority': 'h2.test', cookie: ['a=1', 'b=2'] })
  t.same(JSON.parse(r.body.toString()), ['a=1; b=2'])
})

t.test('50 concurrent streams on one connection', async (t) => {
  const { session, up } = await setup(t, (req, res) => { setTimeout(() => { res.end(req.url) }, 20) })
  const streams = up.requests.length
  const replies = await Promise.all(Array.from({ length: 50 }, async (_, i) => await h2Request(session, { ':path': `/${i}`, ':authority': 'h2.test' })))
  t.same(replies.map((r) => r.body.toString()), Array.from({ length: 50 }, (_, i) => `/${i}`))
  const seen = up.requests.slice(streams).map((r) => r.url).filter((u) => u !== '/')
  t.same(seen.sort(), Array.from({ length: 50 }, (_, i) => `/${i}`).sort(), 'the upstream saw each of the 50 requests once')
})

t.test('a stream the client resets is a 499 and ends upstream work; the connection keeps serving', async (t) => {
  let hung = 0
  const { session, completed, h } = await setup(t, (req, res) => {
    if (req.url === '/hang') { hung++; req.socket.once('close', () => { res.destroy() }); return }
    res.end('ok')
  })
  const stream = session.request({ ':path': '/hang', ':authority': 'h2.test' })
  stream.on('error', () => {})
  await waitFor(() => hung === 1, { what: 'the upstream to receive the request' })
  stream.close()
  await waitFor(() => completed.includes(499), { what: 'a 499 to be recorded' })
  const target = h.reconciler.targets()[0]!
  await waitFor(() => target.inflight === 0, { what: 'nothing in flight' })
  t.equal((await h2Request(session, { ':path': '/', ':authority': 'h2.test' })).body.toString(), 'ok', 'same session, next stream')
})

t.test('an upstream cut mid-body resets that stream only', async (t) => {
  const { session } = await setup(t, (req, res) => {
    if (req.url === '/cut') {
      res.writeHead(200, { 'content-length': '1000' })
      res.write('partial')
      setImmediate(() => { res.socket?.destroy() })
    } else res.end('ok')
  })
  await t.rejects(h2Request(session, { ':path': '/cut', ':authority': 'h2.test' }), /reset|stream/i)
  t.equal((await h2Request(session, { ':path': '/', ':authority': 'h2.test' })).body.toString(), 'ok')
})

t.test('errors over HTTP/2: unknown host 503, no location 404, CONNECT 405; the connection survives', async (t) => {
  const { session, h, up } = await setup(t, (_req, res) => { res.end('ok') })
  h.apply([route('h2.test', [up.port], { path: '/api' })])
  await waitFor(() => h.store.current.resolve('h2.test')?.match('/') === undefined, { what: 'the /api-only route' })
  const unknown = await h2Request(session, { ':path': '/', ':authority': 'other.test' })
  t.equal(unknown.status, 503)
  t.equal(unknown.headers['x-proxyctl-error'], 'PROXY_ERR_HOST_NOT_FOUND')
  t.equal((await h2Request(session, { ':path': '/nope', ':authority': 'h2.test' })).status, 404)
  t.equal((await h2Request(session, { ':method': 'CONNECT', ':authority': 'upstream.test:443' })).status, 405)
  t.equal((await h2Request(session, { ':path': '/api/x', ':authority': 'h2.test' })).status, 200)
  t.same(up.requests.map((r) => r.url).filter((u) => u !== '/'), ['/api/x'], 'only the routed request reached the upstream')
})

t.test('stop(): GOAWAY to open sessions, the stream in flight finishes, then the sessions are closed', async (t) => {
  const certsDir = mkdtempSync(join(tmpdir(), 'pxt-certs-'))
  installCert(certsDir, 'h2.test', makeCert('h2.test'))
  let arrived: () => void = () => {}
  const reached = new Promise<void>((resolve) => { arrived = resolve })
  const up = await startUpstream((req, res) => {
    if (req.url === '/slow') { arrived(); setTimeout(() => { res.end('finished') }, 300) } else res.end('ok')
  })
  const h = await startHarness({ certsDir })
  t.teardown(async () => { await up.close() })
  h.apply([route('h2.test', [up.port])])
  await h.waitReady(1)
  const busy = await h2Session(h.httpsPort, 'h2.test')
  const idle = await h2Session(h.httpsPort, 'h2.test')
  t.equal((await h2Request(idle, { ':path': '/', ':authority': 'h2.test' })).status, 200)
  let goaway = false
  busy.on('goaway', () => { goaway = true })
  busy.on('error', () => {})
  idle.on('error', () => {})
  const slow = h2Request(busy, { ':path': '/slow', ':authority': 'h2.test' })
  await reached
  await h.stop()
  t.equal((await slow).body.toString(), 'finished', 'the stream in flight completed')
  t.ok(goaway, 'GOAWAY received')
  await waitFor(() => busy.closed && idle.closed, { what: 'both client sessions to be closed by the proxy' })
})
