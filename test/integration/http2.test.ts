// HTTP/2 streams go through H2Request/H2Response (not Node's compatibility layer): everything a
// request can do over HTTP/1.1 must hold over HTTP/2, one stream's trouble staying in that stream.
import { createHash } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ClientHttp2Session } from 'node:http2'
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
  // Before anything that can fail: a session that never negotiates h2 must not leave the proxy
  // and the upstream open (the test process then never ends).
  let session: ClientHttp2Session | undefined
  t.teardown(async () => { session?.destroy(); await h.stop(); await up.close() })
  h.apply([route('h2.test', [up.port])])
  await h.waitReady(1)
  session = await h2Session(h.httpsPort, 'h2.test')
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

t.test('upstream response headers HTTP/2 cannot carry as sent: merged or dropped, never a crash; the session serves on', async (t) => {
  const many = Array.from({ length: 100 }, (_, i) => [`X-Many-${i}`, 'v'.repeat(40)]).flat()
  const huge = Array.from({ length: 2000 }, (_, i) => [`X-Huge-${i}`, 'v'.repeat(100)]).flat()
  const { session } = await setup(t, (req, res) => {
    // A flat list goes out as written: repeated single-value fields, connection-specific ones.
    if (req.url === '/dup') res.writeHead(200, ['Content-Type', 'text/plain', 'content-type', 'text/html', 'Vary', 'a', 'Vary', 'b', 'HTTP2-Settings', 'AAMAAABkAAQAoAAAAAIAAAAA', 'TE', 'gzip', 'Content-Length', '2'])
    else if (req.url === '/vary') res.writeHead(200, ['Vary', 'a', 'VARY', 'b', 'Set-Cookie', 'c=1', 'set-cookie', 'd=2', 'Content-Length', '2'])
    else if (req.url === '/many') res.writeHead(200, [...many, 'Content-Length', '2'])
    else if (req.url === '/huge') res.writeHead(200, [...huge, 'Content-Length', '2'])
    res.end('ok')
  })
  const dup = await h2Request(session, { ':path': '/dup', ':authority': 'h2.test' })
  t.equal(dup.status, 200)
  t.equal(dup.body.toString(), 'ok')
  t.equal(dup.headers['content-type'], 'text/plain, text/html', 'two Content-Types: one field, as the HTTP/1.1 client would read them')
  t.notOk('http2-settings' in dup.headers, 'HTTP2-Settings dropped')
  t.notOk('te' in dup.headers, 'TE dropped')
  const vary = await h2Request(session, { ':path': '/vary', ':authority': 'h2.test' })
  t.equal(vary.headers.vary, 'a, b')
  t.same(vary.headers['set-cookie'], ['c=1', 'd=2'])
  const m = await h2Request(session, { ':path': '/many', ':authority': 'h2.test' })
  t.equal(m.status, 200)
  t.equal(Object.keys(m.headers).filter((k) => k.startsWith('x-many-')).length, 100, '100 fields relayed (the Node client takes at most 128)')
  // 200 KB of fields: over undici's limit, the upstream's answer is refused (502), the stream alone.
  const huge2 = await h2Request(session, { ':path': '/huge', ':authority': 'h2.test' }).then((r) => r.status, (err: Error) => err.message)
  t.ok(huge2 === 502 || /reset/.test(String(huge2)), `huge header list: 502 or a reset stream (${String(huge2)})`)
  t.equal((await h2Request(session, { ':path': '/', ':authority': 'h2.test' })).body.toString(), 'ok', 'the same session serves on')
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
  let stopped = false
  const sessions: ClientHttp2Session[] = []
  t.teardown(async () => { for (const s of sessions) s.destroy(); if (!stopped) await h.stop(); await up.close() })
  h.apply([route('h2.test', [up.port])])
  await h.waitReady(1)
  const busy = await h2Session(h.httpsPort, 'h2.test')
  sessions.push(busy)
  const idle = await h2Session(h.httpsPort, 'h2.test')
  sessions.push(idle)
  t.equal((await h2Request(idle, { ':path': '/', ':authority': 'h2.test' })).status, 200)
  let goaway = false
  busy.on('goaway', () => { goaway = true })
  busy.on('error', () => {})
  idle.on('error', () => {})
  const slow = h2Request(busy, { ':path': '/slow', ':authority': 'h2.test' })
  await reached
  stopped = true
  await h.stop()
  t.equal((await slow).body.toString(), 'finished', 'the stream in flight completed')
  t.ok(goaway, 'GOAWAY received')
  await waitFor(() => busy.closed && idle.closed, { what: 'both client sessions to be closed by the proxy' })
})
