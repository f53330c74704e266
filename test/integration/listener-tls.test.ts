import { mkdtempSync, writeFileSync } from 'node:fs'
import { connect as netConnect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect as tlsConnect } from 'node:tls'
import t, { type Test } from 'tap'
import type { HostTlsSettings } from '../../src/routing/desired-state.ts'
import { installCert, makeCert } from '../support/certs.ts'
import { get } from '../support/http-client.ts'
import { route, startHarness, type HarnessOptions } from '../support/proxy-harness.ts'
import { startUpstream } from '../support/upstream.ts'

// ENABLE_HTTP2 and the http2.enable label (ALPN per host), client CA files, ENABLE_IPV6.

const tls = (settings: Partial<HostTlsSettings>) => ({ tls: { httpsMethod: undefined, hsts: undefined, certName: undefined, ...settings } })

/** The ALPN protocol the server picked for a client offering `offer`, or the alert it ended the handshake with. */
async function alpn (port: number, servername: string, offer: string[]): Promise<string | false | null | { alert: number }> {
  return await new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false, ALPNProtocols: offer }, () => { const p = s.alpnProtocol; s.destroy(); resolve(p) })
    s.on('error', (err) => {
      const m = /alert number (\d+)/.exec(err.message)
      if (m === null) reject(err)
      else resolve({ alert: Number(m[1]) })
    })
  })
}

async function setup (t: Test, names: string[], opts: HarnessOptions = {}) {
  const certsDir = mkdtempSync(join(tmpdir(), 'pxt-ltls-'))
  for (const n of names) installCert(certsDir, n, makeCert(n))
  const up = await startUpstream((req, res) => { res.end(`hello ${req.headers.host ?? ''}`) })
  const h = await startHarness({ certsDir, ...opts })
  t.teardown(async () => { await h.stop(); await up.close() })
  return { h, up, certsDir }
}

t.test('ENABLE_HTTP2 default and the http2.enable label: ALPN offers h2 only to hosts with HTTP/2', async (t) => {
  const { h, up } = await setup(t, ['on.test', 'off.test'])
  h.apply([route('on.test', [up.port]), route('off.test', [up.port], tls({ http2: false }))])
  await h.waitReady(1)
  t.equal(await alpn(h.httpsPort, 'on.test', ['h2', 'http/1.1']), 'h2')
  t.equal(await alpn(h.httpsPort, 'off.test', ['h2', 'http/1.1']), 'http/1.1', 'label false: http/1.1 although h2 was offered first')
  t.same(await alpn(h.httpsPort, 'off.test', ['h2']), { alert: 120 }, 'a client offering only h2: no_application_protocol, as nginx')
  t.equal(await alpn(h.httpsPort, 'off.test', []), false, 'no ALPN at all: HTTP/1.1 without negotiation')
})

t.test('ENABLE_HTTP2=false: http/1.1 for every host unless its label says true', async (t) => {
  const { h, up } = await setup(t, ['a.test', 'b.test'], { tls: {} })
  // The harness passes proxy.tls wholesale: rebuild it with enableHttp2 off.
  await h.stop()
  const h2 = await startHarness({ certsDir: h.certs!.dir, proxy: { tls: { port: 0, certs: h.certs!, defaultHttpsMethod: 'redirect', defaultHsts: 'off', enableHttp2: false } } })
  t.teardown(async () => { await h2.stop() })
  h2.apply([route('a.test', [up.port]), route('b.test', [up.port], tls({ http2: true }))])
  await h2.waitReady(1)
  t.equal(await alpn(h2.httpsPort, 'a.test', ['h2', 'http/1.1']), 'http/1.1')
  t.equal(await alpn(h2.httpsPort, 'b.test', ['h2', 'http/1.1']), 'h2', 'the label turns it back on for its host')
})

t.test('a host a client CA applies to completes its handshake (the certificate is checked per request: tls-profiles.test.ts)', async (t) => {
  const { h, up, certsDir } = await setup(t, ['default', 'mtls.test', 'open.test', 'optout.test'])
  writeFileSync(join(certsDir, 'mtls.test.ca.crt'), makeCert('client-ca').cert)
  writeFileSync(join(certsDir, 'optout.test.ca.crt'), makeCert('client-ca').cert)
  await h.certs!.load()
  h.apply([
    route('mtls.test', [up.port], tls({ httpsMethod: 'redirect' })),
    route('open.test', [up.port]),
    route('optout.test', [up.port], tls({ sslVerifyClient: 'off' }))
  ])
  await h.waitReady(1)
  t.equal(await alpn(h.httpsPort, 'mtls.test', ['http/1.1']), 'http/1.1', 'mtls.test.ca.crt: the handshake completes with its certificate')
  const r = await get(h.port, 'mtls.test')
  t.equal(r.status, 301, 'its HTTP side redirects, as any host with a certificate')
  t.equal(await alpn(h.httpsPort, 'open.test', ['http/1.1']), 'http/1.1', 'a host without a CA file is unaffected')
  t.equal(await alpn(h.httpsPort, 'optout.test', ['http/1.1']), 'http/1.1', 'ssl_verify_client=off: nginx verifies nothing, served')
  writeFileSync(join(certsDir, 'ca.crt'), makeCert('global-ca').cert)
  await h.certs!.load()
  t.equal(await alpn(h.httpsPort, 'open.test', ['http/1.1']), 'http/1.1', 'a global ca.crt: still a handshake')
})

t.test('ENABLE_IPV6: listening on :: serves IPv6 and IPv4 clients', async (t) => {
  const v6 = await new Promise<boolean>((resolve) => {
    const s = netConnect({ host: '::1', port: 9 }); s.on('error', (e: NodeJS.ErrnoException) => { resolve(e.code === 'ECONNREFUSED') }); s.on('connect', () => { s.destroy(); resolve(true) })
  })
  if (!v6) { t.plan(0, 'skipped: no IPv6 loopback (::1) on this machine'); return }
  const up = await startUpstream((req, res) => { res.end(`${req.headers['x-real-ip'] ?? ''}`) })
  const h = await startHarness({ proxy: { host: '::', trustDownstreamProxy: false } })
  t.teardown(async () => { await h.stop(); await up.close() })
  h.apply([route('six.test', [up.port])])
  await h.waitReady(1)
  const over6 = await new Promise<string>((resolve, reject) => {
    const s = netConnect({ host: '::1', port: h.port }, () => { s.write('GET / HTTP/1.1\r\nHost: six.test\r\nConnection: close\r\n\r\n') })
    const chunks: Buffer[] = []
    s.on('data', (c: Buffer) => chunks.push(c)); s.on('end', () => { resolve(Buffer.concat(chunks).toString()) }); s.on('error', reject)
  })
  t.match(over6, /^HTTP\/1\.1 200[\s\S]*\r\n\r\n::1$/, 'over ::1, X-Real-IP ::1')
  const over4 = await get(h.port, 'six.test')
  t.equal(over4.status, 200, 'IPv4 on the same listener (dual-stack)')
  t.equal(over4.body, '127.0.0.1', 'X-Real-IP shows the IPv4 address without ::ffff:')
})
