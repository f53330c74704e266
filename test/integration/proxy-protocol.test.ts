import { mkdtempSync } from 'node:fs'
import { connect as h2connect } from 'node:http2'
import { request as httpsRequest } from 'node:https'
import { connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect as tlsConnect, type TLSSocket } from 'node:tls'
import t, { type Test } from 'tap'
import { installCert, makeCert } from '../support/certs.ts'
import { get } from '../support/http-client.ts'
import { route, startHarness, type HarnessOptions } from '../support/proxy-harness.ts'
import { freePort } from '../support/ports.ts'
import { startUpstream } from '../support/upstream.ts'
import { waitFor } from '../support/wait.ts'

// ENABLE_PROXY_PROTOCOL (nginx `listen 80 proxy_protocol`): the client address comes from the
// balancer's PROXY header on every listener; a connection without a valid header is closed.

const SIG = Buffer.from('0d0a0d0a000d0a515549540a', 'hex')

function v2Ipv4 (src: [number, number, number, number], port: number, command = 0x21): Buffer {
  const b = Buffer.alloc(28)
  SIG.copy(b, 0)
  b[12] = command
  b[13] = 0x11
  b.writeUInt16BE(12, 14)
  Buffer.from(src).copy(b, 16)
  Buffer.from([10, 0, 0, 1]).copy(b, 20)
  b.writeUInt16BE(port, 24)
  b.writeUInt16BE(443, 26)
  return b
}

async function setup (t: Test, opts: HarnessOptions = {}) {
  const certsDir = mkdtempSync(join(tmpdir(), 'pxt-pp-'))
  installCert(certsDir, 'pp.test', makeCert('pp.test'))
  const up = await startUpstream((req, res) => {
    res.end(JSON.stringify({ xff: req.headers['x-forwarded-for'], realIp: req.headers['x-real-ip'] }))
  })
  const h = await startHarness({ certsDir, ...opts, proxy: { proxyProtocol: true, trustDownstreamProxy: false, ...opts.proxy } })
  t.teardown(async () => { await h.stop(); await up.close() })
  h.apply([route('pp.test', [up.port], { tls: { httpsMethod: 'noredirect', hsts: undefined, certName: undefined } })])
  await h.waitReady(1)
  return { h, up }
}

async function open (port: number): Promise<Socket> {
  return await new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => { s.setNoDelay(true); resolve(s) })
    s.once('error', reject)
  })
}

/** Writes each piece as its own write, in order; then everything the server sends until it closes. */
async function exchange (port: number, pieces: Array<string | Buffer>): Promise<string> {
  const s = await open(port)
  const chunks: Buffer[] = []
  const closed = new Promise<string>((resolve) => {
    s.on('data', (c: Buffer) => chunks.push(c))
    s.on('close', () => { resolve(Buffer.concat(chunks).toString('latin1')) })
    s.on('error', () => {})
  })
  for (const p of pieces) await new Promise<void>((resolve) => { s.write(p, () => { resolve() }) })
  return await closed
}

const REQUEST = 'GET / HTTP/1.1\r\nHost: pp.test\r\nX-Forwarded-For: 6.6.6.6\r\nConnection: close\r\n\r\n'

function forwarded (raw: string): { xff?: string, realIp?: string } {
  if (!raw.startsWith('HTTP/1.1 200')) throw new Error(`expected a 200, got ${JSON.stringify(raw.slice(0, 40))}`)
  const body = raw.slice(raw.indexOf('\r\n\r\n') + 4)
  return JSON.parse(body) as { xff?: string, realIp?: string }
}

/** TLS (ALPN as given) over a TCP connection that first carried `header`. */
async function tlsAfter (port: number, header: Buffer, alpn: string[]): Promise<TLSSocket> {
  const raw = await open(port)
  await new Promise<void>((resolve) => { raw.write(header, () => { resolve() }) })
  return await new Promise((resolve, reject) => {
    const s = tlsConnect({ socket: raw, servername: 'pp.test', rejectUnauthorized: false, ALPNProtocols: alpn }, () => { resolve(s) })
    s.once('error', reject)
  })
}

t.test('HTTP: v1 and v2 headers name the client in X-Forwarded-For and X-Real-IP, split or not', async (t) => {
  const { h } = await setup(t)
  const v1 = forwarded(await exchange(h.port, ['PROXY TCP4 203.0.113.7 10.0.0.1 51000 80\r\n' + REQUEST]))
  t.same(v1, { xff: '203.0.113.7', realIp: '203.0.113.7' }, 'v1 in the same packet as the request; the client\'s own X-Forwarded-For is not trusted')
  const split = forwarded(await exchange(h.port, ['PRO', 'XY TCP6 2001:db8::7 ::1 1 80', '\r', '\nGET / HT', REQUEST.slice(8)]))
  t.same(split, { xff: '2001:db8::7', realIp: '2001:db8::7' }, 'v1 split across packets, mid-line and mid-CRLF')
  const header = v2Ipv4([198, 51, 100, 9], 4242)
  const v2 = forwarded(await exchange(h.port, [header.subarray(0, 5), header.subarray(5, 14), Buffer.concat([header.subarray(14), Buffer.from(REQUEST)])]))
  t.same(v2, { xff: '198.51.100.9', realIp: '198.51.100.9' }, 'v2 split across packets')
  const local = forwarded(await exchange(h.port, [v2Ipv4([1, 2, 3, 4], 1, 0x20), REQUEST]))
  t.same(local, { xff: '127.0.0.1', realIp: '127.0.0.1' }, 'v2 LOCAL: the connection\'s own address')
  const unknown = forwarded(await exchange(h.port, ['PROXY UNKNOWN\r\n', REQUEST]))
  t.same(unknown, { xff: '127.0.0.1', realIp: '127.0.0.1' }, 'v1 UNKNOWN: the connection\'s own address')
})

t.test('HTTP: connections without a valid header are closed without an answer, and the proxy keeps serving', async (t) => {
  const { h } = await setup(t)
  t.equal(await exchange(h.port, [REQUEST]), '', 'a plain request: closed, no bytes')
  t.equal(await exchange(h.port, ['PROXY TCP4 1.2.3.4 5.6.7.8 99999 80\r\n' + REQUEST]), '', 'a bad port: closed')
  t.equal(await exchange(h.port, ['PROXY TCP4 1.2.3.4 5.6.7.8 1 80\n' + REQUEST]), '', 'no CR: closed')
  t.equal(await exchange(h.port, [`PROXY UNKNOWN ${'x'.repeat(200)}\r\n`]), '', 'a line past 107 bytes: closed')
  const big = Buffer.alloc(16 + 8_192)
  SIG.copy(big, 0); big[12] = 0x21; big[13] = 0x11; big.writeUInt16BE(8_192, 14)
  t.equal(await exchange(h.port, [big]), '', 'a v2 length past the cap: closed before it is all read')
  // A header that stops half-way is closed by the header timeout (the harness: 2 s), not held open.
  t.equal(await exchange(h.port, ['PROXY TCP4 1.2.3.4']), '', 'a header cut short: closed by the timeout')
  t.same(forwarded(await exchange(h.port, ['PROXY TCP4 192.0.2.1 10.0.0.1 1 80\r\n' + REQUEST])), { xff: '192.0.2.1', realIp: '192.0.2.1' }, 'still serving')
})

t.test('HTTPS: the header comes before the ClientHello; HTTP/1.1 and HTTP/2 see the PROXY address', async (t) => {
  const { h } = await setup(t)
  const s1 = await tlsAfter(h.httpsPort, Buffer.from('PROXY TCP4 203.0.113.50 10.0.0.1 1 443\r\n'), ['http/1.1'])
  t.equal(s1.alpnProtocol, 'http/1.1')
  const r1 = await new Promise<string>((resolve, reject) => {
    const req = httpsRequest({ createConnection: () => s1, path: '/', headers: { host: 'pp.test' } }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => { resolve(Buffer.concat(chunks).toString()) })
    })
    req.on('error', reject)
    req.end()
  })
  t.same(JSON.parse(r1), { xff: '203.0.113.50', realIp: '203.0.113.50' }, 'HTTP/1.1 over TLS')
  s1.destroy()
  const s2 = await tlsAfter(h.httpsPort, v2Ipv4([198, 51, 100, 77], 9), ['h2'])
  t.equal(s2.alpnProtocol, 'h2')
  const session = h2connect('https://pp.test', { createConnection: () => s2 })
  t.teardown(() => { session.destroy() })
  const r2 = await new Promise<string>((resolve, reject) => {
    const stream = session.request({ ':path': '/', ':authority': 'pp.test' })
    const chunks: Buffer[] = []
    stream.on('data', (c: Buffer) => chunks.push(c))
    stream.on('end', () => { resolve(Buffer.concat(chunks).toString()) })
    stream.on('error', reject)
  })
  t.same(JSON.parse(r2), { xff: '198.51.100.77', realIp: '198.51.100.77' }, 'HTTP/2')
})

t.test('HTTPS: a ClientHello without a header first is closed before TLS starts', async (t) => {
  const { h } = await setup(t)
  const err = await new Promise<Error | undefined>((resolve) => {
    const s = tlsConnect({ host: '127.0.0.1', port: h.httpsPort, servername: 'pp.test', rejectUnauthorized: false }, () => { s.destroy(); resolve(undefined) })
    s.on('error', resolve)
  })
  t.ok(err !== undefined, `handshake failed: ${String(err?.message)}`)
})

t.test('extra listeners (EXTERNAL_HTTP_PORT) read the header too', async (t) => {
  const extra = await freePort()
  const { h } = await setup(t)
  const up = await startUpstream((req, res) => { res.end(JSON.stringify({ xff: req.headers['x-forwarded-for'], realIp: req.headers['x-real-ip'] })) })
  t.teardown(async () => { await up.close() })
  h.apply([route('ext.test', [up.port], { externalPorts: { http: extra } })])
  await h.waitReady(1)
  // The extra listener opens after the table swap: poll until it answers a valid request.
  const raw = await waitFor(async () => {
    const r = await exchange(extra, ['PROXY TCP4 203.0.113.99 10.0.0.1 1 80\r\n', REQUEST.replace('pp.test', 'ext.test')]).catch(() => '')
    return r.startsWith('HTTP/1.1 200') ? r : undefined
  }, { what: 'ext.test on its own port' })
  t.same(forwarded(raw), { xff: '203.0.113.99', realIp: '203.0.113.99' })
  t.equal(await exchange(extra, [REQUEST.replace('pp.test', 'ext.test')]), '', 'without a header: closed')
})

t.test('TRUST_DOWNSTREAM_PROXY=true: X-Forwarded-For is the PROXY address alone, as nginx-proxy\'s $proxy_protocol_addr', async (t) => {
  const { h } = await setup(t, { proxy: { trustDownstreamProxy: true } })
  t.same(forwarded(await exchange(h.port, ['PROXY TCP4 203.0.113.7 10.0.0.1 51000 80\r\n' + REQUEST])), { xff: '203.0.113.7', realIp: '203.0.113.7' })
})

t.test('off (the default): nothing is read ahead, a PROXY line is just a bad request', async (t) => {
  const { h } = await setup(t, { proxy: { proxyProtocol: false } })
  const r = await get(h.port, 'pp.test', '/', { headers: { 'x-forwarded-for': '6.6.6.6' } })
  t.same(JSON.parse(r.body), { xff: '127.0.0.1', realIp: '127.0.0.1' })
  t.match(await exchange(h.port, ['PROXY TCP4 1.2.3.4 5.6.7.8 1 80\r\n' + REQUEST]), /^HTTP\/1\.1 400/)
})
