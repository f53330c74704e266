import t, { type Test } from 'tap'
import { connect, type Socket } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { get, rawRequest } from '../support/http-client.ts'
import { connect as connectH2, constants, type Settings } from 'node:http2'
import { installCert, makeCert } from '../support/certs.ts'
import { route, startHarness, type Harness } from '../support/proxy-harness.ts'
import { startUpstream, startWebSocketUpstream, type Upstream } from '../support/upstream.ts'
import { websocketEcho } from '../support/ws-client.ts'
import { waitFor } from '../support/wait.ts'

// Issue 10: one regression test per hostile input, the crash request first. Each answer comes
// from the proxy itself (x-proxyctl-error) and never reaches the upstream.

/** Requests the proxy forwarded (health probes carry no X-Forwarded-For). */
function forwarded (up: Upstream): number {
  return up.requests.filter((r) => r.headers['x-forwarded-for'] !== undefined).length
}

async function setup (t: Test, opts: Parameters<typeof startHarness>[0] = {}, extra: Parameters<typeof route>[2] = {}): Promise<{ h: Harness, up: Upstream }> {
  const up = await startUpstream((req, res) => { res.end(JSON.stringify({ url: req.url, host: req.headers.host, original: req.headers['x-original-uri'] })) })
  const h = await startHarness(opts)
  t.teardown(async () => { await h.stop(); await up.close() })
  h.apply([route('app.test', [up.port], extra)])
  await h.waitReady(1)
  return { h, up }
}

/** Still serving: a normal request right after answers 200 from the upstream. */
async function stillServes (t: Test, h: Harness, path = '/ok'): Promise<void> {
  t.equal((await get(h.port, 'app.test', path)).status, 200, 'a normal request right after is served')
}

t.test('a WebSocket handshake with an unparseable absolute-form target is a 400, and the proxy lives', async (t) => {
  const { h, up } = await setup(t)
  const reply = await rawRequest(h.port, 'GET http://[/ HTTP/1.1\r\nHost: app.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n')
  t.match(reply, /^HTTP\/1\.1 400 /)
  t.match(reply, /x-proxyctl-error: PROXY_ERR_BAD_REQUEST/)
  t.equal(forwarded(up), 0, 'the upstream saw nothing')
  await stillServes(t, h)
})

t.test('absolute-form: routed by the target host, sent upstream in origin-form with that Host', async (t) => {
  const { h, up } = await setup(t)
  const reply = await rawRequest(h.port, 'GET http://APP.test/x/../y?q=1 HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n')
  t.match(reply, /^HTTP\/1\.1 200 /)
  t.same(JSON.parse(reply.slice(reply.indexOf('\r\n\r\n') + 4)), { url: '/y?q=1', host: 'app.test', original: '/x/../y?q=1' })
  t.equal(forwarded(up), 1)
  for (const [desc, head] of [
    ['Host naming another host', 'GET http://app.test/ HTTP/1.1\r\nHost: other.test\r\n'],
    ['two Host headers', 'GET / HTTP/1.1\r\nHost: app.test\r\nHost: other.test\r\n'],
    ['Host over 253 characters', `GET / HTTP/1.1\r\nHost: ${'a'.repeat(254)}\r\n`],
    ['userinfo in the target', 'GET http://u:p@app.test/ HTTP/1.1\r\nHost: app.test\r\n'],
    ['OPTIONS *', 'OPTIONS * HTTP/1.1\r\nHost: app.test\r\n'],
    ['CONNECT (as nginx)', 'CONNECT app.test:443 HTTP/1.1\r\nHost: app.test:443\r\n']
  ] as const) {
    t.match(await rawRequest(h.port, `${head}\r\n`), /^HTTP\/1\.1 400 [^]*x-proxyctl-error: PROXY_ERR_BAD_REQUEST/, desc)
  }
  t.match(await rawRequest(h.port, 'GET / HTTP/1.1\r\n\r\n'), /^HTTP\/1\.1 400 /, 'no Host in HTTP/1.1 (node:http answers this one itself)')
  t.match(await rawRequest(h.port, 'TRACE / HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 405 /, 'TRACE is 405, as nginx')
  t.equal(forwarded(up), 1, 'none of them reached the upstream')
  await stillServes(t, h)
})

t.test('PRI (the HTTP/2 preface method) over HTTP/1.1-on-TLS is a 400, never forwarded (fuzz seed 460550309)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pri-'))
  installCert(dir, 'app.test', makeCert('app.test'))
  const { h, up } = await setup(t, { certsDir: dir, tls: { defaultHttpsMethod: 'noredirect' } })
  const reply = await new Promise<string>((resolve, reject) => {
    const s = tlsConnect({ port: h.httpsPort, host: '127.0.0.1', servername: 'app.test', ALPNProtocols: ['http/1.1'], rejectUnauthorized: false }, () => {
      s.write('PRI /\r\nHost: app.test\r\n\r\n') // no version: node's parser takes it as a request
    })
    let got = ''
    s.on('data', (c: Buffer) => { got += c.toString('latin1') })
    s.on('close', () => { resolve(got) })
    s.on('error', reject)
  })
  t.match(reply, /^HTTP\/1\.1 400 [^]*x-proxyctl-error: PROXY_ERR_BAD_REQUEST/)
  t.equal(forwarded(up), 0)
})

t.test('paths: dot-segments removed before the VIRTUAL_PATH match and VIRTUAL_DEST; climbing out or bad escapes are 400', async (t) => {
  const { h, up } = await setup(t, {}, { path: '/api', dest: '/v2' })
  const body = async (path: string): Promise<{ status: number, url?: string }> => {
    const r = await rawRequest(h.port, `GET ${path} HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n`)
    const status = Number(r.slice(9, 12))
    return status === 200 ? { status, url: (JSON.parse(r.slice(r.indexOf('\r\n\r\n') + 4)) as { url: string }).url } : { status }
  }
  t.same(await body('/api/x'), { status: 200, url: '/v2/x' })
  t.same(await body('/other/../api/x'), { status: 200, url: '/v2/x' }, 'matched after normalising')
  t.same(await body('/other/%2e%2e/api/x'), { status: 200, url: '/v2/x' }, 'percent-encoded dots too')
  t.same(await body('/api/../secret'), { status: 404 }, '/api/.. leaves the location: no route, not the app behind /api')
  t.same(await body('/api/%2E%2E/%2e%2e/etc/passwd'), { status: 400 })
  t.same(await body('/api/%zz'), { status: 400 })
  t.same(await body('/api/a%2'), { status: 400 })
  t.equal(forwarded(up), 3)
  await stillServes(t, h, '/api/ok')
})

t.test('ACME challenge path with malformed percent-encoding is a 400 (no stack trace), and a well-formed one is served', async (t) => {
  const html = mkdtempSync(join(tmpdir(), 'acme-'))
  const { h } = await setup(t, { proxy: { htmlDir: html } })
  t.match(await rawRequest(h.port, 'GET /.well-known/acme-challenge/%ff HTTP/1.1\r\nHost: app.test\r\n\r\n'), /^HTTP\/1\.1 400 /)
  t.match(await rawRequest(h.port, 'GET /.well-known/acme-challenge/%zz HTTP/1.1\r\nHost: app.test\r\n\r\n'), /^HTTP\/1\.1 400 /)
  t.match(await rawRequest(h.port, 'GET /.well-known/acme-challenge/none HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 404 /)
  await stillServes(t, h)
})

t.test('WebSocket: tunnels without http-proxy; a declined upgrade is relayed; the tunnel idles out; stop closes tunnels', async (t) => {
  const ws = await startWebSocketUpstream()
  const declining = await startUpstream((_req, res) => { res.end('no') }, (_req, socket) => {
    socket.end('HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\ndenied')
  })
  const h = await startHarness({ proxy: { limits: { tunnelIdleTimeoutMs: 300 } } })
  t.teardown(async () => { await h.stop(); await ws.close(); await declining.close() })
  h.apply([route('ws.test', [ws.port]), route('no.test', [declining.port])])
  await h.waitReady(2)
  t.equal(await websocketEcho(h.port, 'ws.test', 'hi'), 'http:hi')
  const declined = await rawRequest(h.port, 'GET /ws HTTP/1.1\r\nHost: no.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n')
  t.match(declined, /^HTTP\/1\.1 403 Forbidden\r\n/)
  t.match(declined, /\r\n\r\ndenied$/)

  // An idle tunnel is closed after tunnelIdleTimeoutMs.
  const idle = await openTunnel(h.port, 'ws.test')
  const closedAt = await new Promise<number>((resolve) => { idle.once('close', () => { resolve(Date.now()) }) })
  t.ok(closedAt > 0, 'idle tunnel closed by the proxy')

  // stop() closes open tunnels instead of waiting for them (SIGTERM must not hang on a ws:// client).
  const h2 = await startHarness()
  h2.apply([route('ws.test', [ws.port])])
  await h2.waitReady(1)
  const open = await openTunnel(h2.port, 'ws.test')
  const closed = new Promise<void>((resolve) => { open.once('close', () => { resolve() }) })
  await h2.stop()
  await closed
  t.ok(open.destroyed, 'tunnel closed by stop()')
})

async function openTunnel (port: number, host: string): Promise<Socket> {
  const s = connect(port, '127.0.0.1')
  s.on('error', () => {})
  s.write(`GET /ws HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`)
  await new Promise<void>((resolve, reject) => {
    s.once('data', (c: Buffer) => { if (c.toString('latin1').startsWith('HTTP/1.1 101')) resolve(); else reject(new Error(c.toString('latin1'))) })
  })
  return s
}

t.test('Expect: 100-continue is answered only after the route and access rules passed', async (t) => {
  const { h, up } = await setup(t, { proxy: { trustDownstreamProxy: true } })
  const ask = (host: string): Promise<string> => new Promise((resolve) => {
    const s = connect(h.port, '127.0.0.1')
    let got = ''
    s.on('data', (c: Buffer) => {
      got += c.toString('latin1')
      if (got.startsWith('HTTP/1.1 100')) s.write('hello')
    })
    s.on('close', () => { resolve(got) })
    s.on('error', () => {})
    s.write(`POST /p HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`)
  })
  const refused = await ask('nobody.test')
  t.match(refused, /^HTTP\/1\.1 503 /, 'no 100 Continue for a host nobody serves')
  const accepted = await ask('app.test')
  t.match(accepted, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /)
  t.equal(forwarded(up), 1)
})

t.test('per-location request-body limit: 413 by Content-Length before forwarding, and while streaming a chunked body', async (t) => {
  const { h, up } = await setup(t, {}, { maxBodyBytes: 10 })
  t.equal((await get(h.port, 'app.test', '/small', { method: 'POST', body: '0123456789' })).status, 200)
  const declared = await rawRequest(h.port, 'POST /big HTTP/1.1\r\nHost: app.test\r\nContent-Length: 11\r\n\r\n01234567890')
  t.match(declared, /^HTTP\/1\.1 413 [^]*x-proxyctl-error: PROXY_ERR_BODY_TOO_LARGE/)
  t.equal(forwarded(up), 1, 'the declared-too-large body never reached the upstream')
  const chunked = await rawRequest(h.port, 'POST /big HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n012345\r\n6\r\n678901\r\n0\r\n\r\n')
  t.match(chunked, /^HTTP\/1\.1 413 /)
  await stillServes(t, h)
})

t.test('limits: client connections capped, a client that stops reading is cut, HTTP/2 advertises 128 streams', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'limits-'))
  installCert(dir, 'app.test', makeCert('app.test'))
  // An upstream that streams up to 256 MiB as fast as it is read, and notes when it was cut.
  let cut = false
  const up = await startUpstream((req, res) => {
    if (req.url !== '/stream') { res.end('ok'); return }
    let left = 4096
    const chunk = Buffer.alloc(64 * 1024, 120)
    const pump = (): void => { while (left-- > 0) if (!res.write(chunk)) { res.once('drain', pump); return } res.end() }
    res.on('close', () => { if (!res.writableFinished) cut = true })
    pump()
  })
  const h = await startHarness({ certsDir: dir, tls: { defaultHttpsMethod: 'noredirect' }, proxy: { limits: { maxClientConnections: 2, clientIdleTimeoutMs: 300 } } })
  t.teardown(async () => { await h.stop(); await up.close() })
  h.apply([route('app.test', [up.port])])
  await h.waitReady(1)

  // A client that asks for a big body and reads none of it is disconnected once nothing moves
  // (the proxy then cuts its upstream request too, which is what the upstream sees).
  const stalled = connect(h.port, '127.0.0.1')
  stalled.on('error', () => {})
  stalled.pause()
  stalled.write('GET /stream HTTP/1.1\r\nHost: app.test\r\n\r\n')
  await waitFor(() => cut, { what: 'the stalled client cut', timeoutMs: 10_000 })
  t.pass('stalled reader disconnected')
  stalled.destroy()

  const a = connect(h.port, '127.0.0.1')
  const b = connect(h.port, '127.0.0.1')
  await Promise.all([a, b].map(async (s) => { await new Promise((resolve) => s.once('connect', resolve)) }))
  t.teardown(() => { a.destroy(); b.destroy() })
  const third = connect(h.port, '127.0.0.1')
  third.on('error', () => {})
  await new Promise<void>((resolve) => { third.once('close', () => { resolve() }) })
  t.pass('a connection over the cap is closed at once')
  a.destroy(); b.destroy()
  await waitFor(async () => (await get(h.port, 'app.test', '/')).status === 200, { what: 'served again below the cap' })

  const session = connectH2(`https://127.0.0.1:${h.httpsPort}`, { servername: 'app.test', rejectUnauthorized: false })
  t.teardown(() => { session.destroy() })
  const settings = await new Promise<Settings>((resolve) => { session.once('remoteSettings', resolve) })
  t.equal(settings.maxConcurrentStreams, 128)

  // An HTTP/2 stream whose reader stalls is reset on its own; the session serves on.
  cut = false
  const stream = session.request({ ':path': '/stream', ':authority': 'app.test' })
  stream.on('error', () => {})
  stream.pause()
  const rstCode = await new Promise<number>((resolve) => { stream.once('close', () => { resolve(stream.rstCode ?? -1) }) })
  t.equal(rstCode, constants.NGHTTP2_CANCEL, 'stalled stream reset (CANCEL)')
  await waitFor(() => cut, { what: 'the upstream request of the stalled stream cut' })
  const again = session.request({ ':path': '/', ':authority': 'app.test' })
  const status = await new Promise<number>((resolve, reject) => { again.once('response', (h) => { resolve(Number(h[':status'])) }); again.once('error', reject) })
  again.resume()
  t.equal(status, 200, 'the same session still serves')
})

t.test('a request body that stops arriving ends with 408 and frees the upstream connection (client_body_timeout; fuzz seed -1556033038)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pxt-body-timeout-'))
  installCert(dir, 'app.test', makeCert('app.test'))
  // The upstream reads the body before it answers, as most apps do, and takes one connection at a time.
  const up = await startUpstream((req, res) => { req.resume(); req.on('end', () => { res.end('ok') }) })
  const h = await startHarness({
    certsDir: dir,
    tls: { defaultHttpsMethod: 'noredirect' },
    proxy: { limits: { clientIdleTimeoutMs: 400 } },
    reconciler: { maxConnections: 1 }
  })
  t.teardown(async () => { await h.stop(); await up.close() })
  h.apply([route('app.test', [up.port])])
  await h.waitReady(1)

  const heads = {
    'chunked, no chunk at all': 'POST / HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n',
    'Content-Length 10, 3 bytes sent': 'POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 10\r\n\r\nabc',
    'the fuzz case: absolute-form GET, chunked, nothing after the head': 'GET http://app.test.:0/?q=1 HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n'
  }
  for (const [desc, head] of Object.entries(heads)) {
    for (const transport of ['tcp', 'tls'] as const) {
      // Both resolve when the proxy closes the connection (rawRequest rejects after 5 s).
      const reply = transport === 'tcp'
        ? await rawRequest(h.port, head)
        : await new Promise<string>((resolve) => {
          const s = tlsConnect({ port: h.httpsPort, host: '127.0.0.1', servername: 'app.test', rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] })
          let got = ''
          s.on('data', (c: Buffer) => { got += c.toString('latin1') })
          s.on('error', () => {})
          s.once('close', () => { resolve(got) })
          s.setTimeout(5_000, () => { s.destroy() })
          s.write(head)
        })
      t.match(reply, /^HTTP\/1\.1 408 [^]*x-proxyctl-error: PROXY_ERR_CLIENT_BODY_TIMEOUT[^]*connection: close/i, `${desc} (${transport}): 408, connection closed`)
      // The one upstream connection is free again: a normal POST is served.
      t.equal((await get(h.port, 'app.test', '/', { method: 'POST', body: 'hello' })).status, 200, `${desc} (${transport}): the upstream serves the next request`)
    }
  }

  // HTTP/2: a stream that announces a body and sends none gets its own 408; the session serves on.
  const session = connectH2(`https://127.0.0.1:${h.httpsPort}`, { servername: 'app.test', rejectUnauthorized: false })
  t.teardown(() => { session.destroy() })
  session.on('error', () => {})
  const stalled = session.request({ ':method': 'POST', ':path': '/', ':authority': 'app.test' }, { endStream: false })
  stalled.on('error', () => {})
  const status = await new Promise<number>((resolve) => { stalled.once('response', (hd) => { resolve(Number(hd[':status'])) }) })
  stalled.resume()
  t.equal(status, 408, 'HTTP/2 stream without its body: 408')
  const again = session.request({ ':method': 'POST', ':path': '/', ':authority': 'app.test' })
  again.end('hello')
  const next = await new Promise<number>((resolve, reject) => { again.once('response', (hd) => { resolve(Number(hd[':status'])) }); again.once('error', reject) })
  again.resume()
  t.equal(next, 200, 'the same session serves the next request')
})
