import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect as tlsConnect } from 'node:tls'
import t, { type Test } from 'tap'
import type { HostTlsSettings } from '../../src/routing/desired-state.ts'
import { installCert, makeCert } from '../support/certs.ts'
import { get } from '../support/http-client.ts'
import { httpsGet } from '../support/https-client.ts'
import { route, startHarness, type HarnessOptions } from '../support/proxy-harness.ts'
import { startUpstream } from '../support/upstream.ts'

// nginx-proxy 1.7+ (nginx.tmpl, docs/README.md "Default and Missing Certificate", "Certificate
// selection", "How SSL Support Works"), each with real TLS handshakes.

const tls = (settings: Partial<HostTlsSettings>) => ({ tls: { httpsMethod: undefined, hsts: undefined, certName: undefined, ...settings } })

/** One handshake: the certificate's CN, or the TLS alert the server ended it with. */
async function handshake (port: number, servername: string | undefined): Promise<{ cn: string } | { alert: number, code: string | undefined }> {
  return await new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ...(servername === undefined ? {} : { servername }), rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }, () => {
      const cn = socket.getPeerCertificate().subject?.CN
      socket.destroy()
      resolve({ cn: String(cn) })
    })
    socket.on('error', (err: NodeJS.ErrnoException) => {
      const m = /alert number (\d+)/.exec(err.message)
      if (m === null) reject(err)
      else resolve({ alert: Number(m[1]), code: err.code })
    })
  })
}

async function setup (t: Test, certs: string[], opts: HarnessOptions = {}) {
  const certsDir = mkdtempSync(join(tmpdir(), 'pxt-parity-'))
  for (const name of certs) installCert(certsDir, name, makeCert(name === 'default' ? 'default-cert' : name))
  const up = await startUpstream((req, res) => { res.end(`hello ${req.headers.host ?? ''} ${String(req.headers['x-forwarded-proto'])}`) })
  const h = await startHarness({ certsDir, ...opts })
  t.teardown(async () => { await h.stop(); await up.close() })
  return { h, up }
}

t.test('trusted default certificate (TRUST_DEFAULT_CERT default true): a host without one is served over HTTPS and HTTP redirects', async (t) => {
  const { h, up } = await setup(t, ['default'])
  h.apply([route('nocert.test', [up.port]), route('distrust.test', [up.port], tls({ trustDefaultCert: false }))])
  await h.waitReady(1)
  const s = await httpsGet(h.httpsPort, 'nocert.test')
  t.equal(s.peerCN, 'default-cert')
  t.equal(s.status, 200)
  t.equal(s.body, 'hello nocert.test https')
  t.equal(s.headers['strict-transport-security'], 'max-age=31536000', 'HSTS: the host redirects, and its certificate is usable')
  const r = await get(h.port, 'nocert.test', '/x?y=1')
  t.equal(r.status, 301)
  t.equal(r.headers.location, `https://nocert.test:${h.httpsPort}/x?y=1`)
  // The label com.github.nginx-proxy.nginx-proxy.trust-default-cert=false on the container.
  t.same(await handshake(h.httpsPort, 'distrust.test'), { alert: 112, code: 'ERR_SSL_TLSV1_UNRECOGNIZED_NAME' }, 'untrusted per host: ssl_reject_handshake')
  t.equal((await get(h.port, 'distrust.test')).status, 200, '... and served over plain HTTP (ENABLE_HTTP_ON_MISSING_CERT)')
  // The fallback server presents default.crt for names nobody serves, and answers 503.
  const unknown = await httpsGet(h.httpsPort, 'unknown.test')
  t.equal(unknown.peerCN, 'default-cert')
  t.equal(unknown.status, 503)
})

t.test('TRUST_DEFAULT_CERT=false on the proxy: hosts without a certificate are HTTP-only; the label trusts it per host', async (t) => {
  const { h, up } = await setup(t, ['default', 'own.test'], { tls: { trustDefaultCert: false } })
  h.apply([route('nocert.test', [up.port]), route('own.test', [up.port]), route('trusting.test', [up.port], tls({ trustDefaultCert: true }))])
  await h.waitReady(1)
  t.same(await handshake(h.httpsPort, 'nocert.test'), { alert: 112, code: 'ERR_SSL_TLSV1_UNRECOGNIZED_NAME' })
  t.equal((await get(h.port, 'nocert.test')).status, 200, 'redirect switched to noredirect')
  t.same(await handshake(h.httpsPort, 'own.test'), { cn: 'own.test' })
  t.equal((await get(h.port, 'own.test')).status, 301)
  t.same(await handshake(h.httpsPort, 'trusting.test'), { cn: 'default-cert' })
  t.equal((await httpsGet(h.httpsPort, 'trusting.test')).status, 200)
  t.equal((await get(h.port, 'trusting.test')).status, 301)
})

t.test('no default certificate: unknown names, no SNI and hosts without a certificate get the unrecognized_name alert', async (t) => {
  const { h, up } = await setup(t, ['own.test'])
  h.apply([route('own.test', [up.port]), route('nocert.test', [up.port]), route('nohttp.test', [up.port], tls({ httpsMethod: 'nohttp' }))])
  await h.waitReady(1)
  t.same(await handshake(h.httpsPort, 'own.test'), { cn: 'own.test' })
  t.same(await handshake(h.httpsPort, 'unknown.test'), { alert: 112, code: 'ERR_SSL_TLSV1_UNRECOGNIZED_NAME' }, 'a name nobody serves')
  t.same(await handshake(h.httpsPort, undefined), { alert: 112, code: 'ERR_SSL_TLSV1_UNRECOGNIZED_NAME' }, 'no SNI at all')
  t.same(await handshake(h.httpsPort, 'nocert.test'), { alert: 112, code: 'ERR_SSL_TLSV1_UNRECOGNIZED_NAME' }, 'a host without a certificate')
  t.equal((await get(h.port, 'nocert.test')).status, 200, 'ENABLE_HTTP_ON_MISSING_CERT (default true): served over HTTP')
  t.equal((await get(h.port, 'nohttp.test')).status, 200, 'nohttp without a certificate falls back to HTTP too')
  t.equal((await httpsGet(h.httpsPort, 'own.test')).status, 200, 'the listener serves on after refusals')
})

t.test('ENABLE_HTTP_ON_MISSING_CERT=false: redirect and nohttp hosts without a certificate stay HTTPS-only; the container env overrides', async (t) => {
  const { h, up } = await setup(t, [], { tls: { enableHttpOnMissingCert: false } })
  h.apply([
    route('redirect.test', [up.port]),
    route('nohttp.test', [up.port], tls({ httpsMethod: 'nohttp' })),
    route('optin.test', [up.port], tls({ enableHttpOnMissingCert: true }))
  ])
  await h.waitReady(1)
  const r = await get(h.port, 'redirect.test')
  t.equal(r.status, 301, 'redirect stays a redirect...')
  t.equal(r.headers.location, `https://redirect.test:${h.httpsPort}/`)
  t.same(await handshake(h.httpsPort, 'redirect.test'), { alert: 112, code: 'ERR_SSL_TLSV1_UNRECOGNIZED_NAME' }, '... to a handshake that is rejected')
  t.equal((await get(h.port, 'nohttp.test')).status, 503, 'nohttp: no HTTP server, the fallback answers 503')
  t.same(await handshake(h.httpsPort, 'nohttp.test'), { alert: 112, code: 'ERR_SSL_TLSV1_UNRECOGNIZED_NAME' })
  t.equal((await get(h.port, 'optin.test')).status, 200, 'ENABLE_HTTP_ON_MISSING_CERT=true on the container')
})

t.test('a nohttps host never completes a handshake as itself', async (t) => {
  const withDefault = await setup(t, ['plain.test', 'default'])
  withDefault.h.apply([route('plain.test', [withDefault.up.port], tls({ httpsMethod: 'nohttps' }))])
  await withDefault.h.waitReady(1)
  const s = await httpsGet(withDefault.h.httpsPort, 'plain.test')
  t.equal(s.peerCN, 'default-cert', 'the fallback server\'s certificate, not the host\'s own')
  t.equal(s.status, 503)
  t.equal((await get(withDefault.h.port, 'plain.test')).status, 200)
  const bare = await setup(t, ['plain.test'])
  bare.h.apply([route('plain.test', [bare.up.port], tls({ httpsMethod: 'nohttps' }))])
  await bare.h.waitReady(1)
  t.same(await handshake(bare.h.httpsPort, 'plain.test'), { alert: 112, code: 'ERR_SSL_TLSV1_UNRECOGNIZED_NAME' }, 'its own certificate is never presented')
})

t.test('a nohttps host is no candidate on 443: a wildcard host with HTTPS answers its name there, as nginx picks among 443\'s servers', async (t) => {
  const { h, up } = await setup(t, ['a.wild.test', 'wild.test'])
  h.apply([route('a.wild.test', [up.port], tls({ httpsMethod: 'nohttps' })), route('*.wild.test', [up.port])])
  await h.waitReady(1)
  const s = await httpsGet(h.httpsPort, 'a.wild.test')
  t.equal(s.peerCN, 'wild.test', '*.wild.test\'s certificate (its parent-domain file), not a.wild.test\'s')
  t.equal(s.status, 200)
  t.equal((await get(h.port, 'a.wild.test')).status, 200, 'over HTTP the nohttps host itself')
})

t.test('a parent-domain (wildcard) certificate covers one label: a.example.test, not a.b.example.test', async (t) => {
  const { h, up } = await setup(t, ['example.test'])
  h.apply([route('a.example.test', [up.port]), route('a.b.example.test', [up.port]), route('example.test', [up.port])])
  await h.waitReady(1)
  t.same(await handshake(h.httpsPort, 'a.example.test'), { cn: 'example.test' }, 'one label below')
  t.same(await handshake(h.httpsPort, 'example.test'), { cn: 'example.test' }, 'its own name: the exact file')
  t.same(await handshake(h.httpsPort, 'a.b.example.test'), { alert: 112, code: 'ERR_SSL_TLSV1_UNRECOGNIZED_NAME' }, 'two labels below: not covered')
  t.equal((await get(h.port, 'a.b.example.test')).status, 200, '... so that host is HTTP-only')
  t.equal((await get(h.port, 'a.example.test')).status, 301)
})

t.test('a .crt without its key selects nothing: the search stops there (no parent, no default)', async (t) => {
  const certsDir = mkdtempSync(join(tmpdir(), 'pxt-parity-'))
  installCert(certsDir, 'default', makeCert('default-cert'))
  installCert(certsDir, 'example.test', makeCert('example.test'))
  const { writeFileSync } = await import('node:fs')
  writeFileSync(join(certsDir, 'half.example.test.crt'), makeCert('half.example.test').cert)
  const up = await startUpstream((_req, res) => { res.end('ok') })
  const h = await startHarness({ certsDir })
  t.teardown(async () => { await h.stop(); await up.close() })
  h.apply([route('half.example.test', [up.port])])
  await h.waitReady(1)
  t.same(await handshake(h.httpsPort, 'half.example.test'), { alert: 112, code: 'ERR_SSL_TLSV1_UNRECOGNIZED_NAME' })
  t.equal((await get(h.port, 'half.example.test')).status, 200)
})

t.test('nohttp sends HSTS over HTTPS (also on the proxy\'s own errors) and has no HTTP server', async (t) => {
  const { h, up } = await setup(t, ['secure.test', 'down.test', 'open.test'])
  h.apply([
    route('secure.test', [up.port], tls({ httpsMethod: 'nohttp' })),
    route('open.test', [up.port], tls({ httpsMethod: 'noredirect' })),
    route('down.test', [1], tls({ httpsMethod: 'nohttp' }))
  ])
  await h.waitReady(1)
  const s = await httpsGet(h.httpsPort, 'secure.test')
  t.equal(s.status, 200)
  t.equal(s.headers['strict-transport-security'], 'max-age=31536000')
  t.equal((await get(h.port, 'secure.test')).status, 503)
  const down = await httpsGet(h.httpsPort, 'down.test')
  t.ok(down.status >= 502 && down.status <= 504, `no upstream: ${down.status}`)
  t.equal(down.headers['strict-transport-security'], 'max-age=31536000', 'add_header ... always')
  t.equal((await httpsGet(h.httpsPort, 'open.test')).headers['strict-transport-security'], undefined, 'noredirect: no HSTS')
})

t.test('NON_GET_REDIRECT and the non-get-redirect label: OPTIONS, POST, PUT, PATCH, DELETE; GET and HEAD stay 301', async (t) => {
  const { h, up } = await setup(t, ['proxywide.test', 'label.test', 'plain.test'], { tls: { nonGetRedirect: 307 } })
  h.apply([route('proxywide.test', [up.port]), route('label.test', [up.port], tls({ nonGetRedirect: 308 }))])
  await h.waitReady(1)
  for (const [host, expected] of [['proxywide.test', 307], ['label.test', 308]] as const) {
    for (const method of ['GET', 'HEAD']) {
      const r = await get(h.port, host, '/p', { method })
      t.equal(r.status, 301, `${host} ${method}`)
      t.equal(r.headers.location, `https://${host}:${h.httpsPort}/p`)
    }
    for (const method of ['OPTIONS', 'POST', 'PUT', 'PATCH', 'DELETE']) {
      const r = await get(h.port, host, '/p?q=1', { method, body: method === 'POST' ? 'x' : undefined })
      t.equal(r.status, expected, `${host} ${method}`)
      t.equal(r.headers.location, `https://${host}:${h.httpsPort}/p?q=1`)
    }
  }
  const other = await startHarness({ certsDir: h.certs!.dir })
  t.teardown(async () => { await other.stop() })
  other.apply([route('plain.test', [up.port])])
  await other.waitReady(1)
  t.equal((await get(other.port, 'plain.test', '/', { method: 'POST', body: 'x' })).status, 301, 'NON_GET_REDIRECT default: 301')
})
