import { createHash } from 'node:crypto'
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { createServer as createHttpsServer } from 'node:https'
import { tmpdir } from 'node:os'
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls'
import { join } from 'node:path'
import { createRequire } from 'node:module'
import bcrypt from 'bcryptjs'
import t, { type Test } from 'tap'
import { Agent, request } from 'undici'
import { installCert, makeCert } from '../support/certs.ts'
import { get } from '../support/http-client.ts'
import { h2Get, httpsGet } from '../support/https-client.ts'
import { route, startHarness } from '../support/proxy-harness.ts'
import { startUpstream, startWebSocketUpstream } from '../support/upstream.ts'
import { waitFor } from '../support/wait.ts'
import { websocketEcho } from '../support/ws-client.ts'

const require = createRequire(import.meta.url)
const apacheMd5 = require('apache-md5') as (password: string, salt?: string) => string
const apacheCrypt = require('apache-crypt') as (password: string, salt?: string) => string

const tls = (httpsMethod?: 'redirect' | 'noredirect' | 'nohttp' | 'nohttps', hsts?: string, certName?: string) => ({ tls: { httpsMethod, hsts, certName } })

async function setup (t: Test, opts: Parameters<typeof startHarness>[0] = {}) {
  const certsDir = mkdtempSync(join(tmpdir(), 'pxt-certs-'))
  const up = await startUpstream((req, res) => { res.setHeader('x-seen-proto', String(req.headers['x-forwarded-proto'])); res.end(`hello ${req.headers.host ?? ''}`) })
  const h = await startHarness({ certsDir, ...opts })
  t.teardown(async () => { await h.stop(); await up.close() })
  return { h, up, certsDir }
}

t.test('SNI picks the certificate per host: exact, parent-domain wildcard, CERT_NAME, default', async (t) => {
  const certsDir = mkdtempSync(join(tmpdir(), 'pxt-certs-'))
  installCert(certsDir, 'a.test', makeCert('a.test'))
  installCert(certsDir, 'b.test', makeCert('b.test'))
  installCert(certsDir, 'wild.test', makeCert('*.wild.test', ['*.wild.test', 'wild.test']))
  installCert(certsDir, 'shared', makeCert('shared-cert'))
  installCert(certsDir, 'default', makeCert('default-cert'))
  const up = await startUpstream((req, res) => { res.end(`hello ${req.headers.host ?? ''}`) })
  const h = await startHarness({ certsDir })
  t.teardown(async () => { await h.stop(); await up.close() })
  h.apply([
    route('a.test', [up.port]), route('b.test', [up.port]), route('x.wild.test', [up.port]),
    route('named.test', [up.port], tls(undefined, undefined, 'shared')), route('nocert.test', [up.port])
  ])
  await h.waitReady(1)
  const a = await httpsGet(h.httpsPort, 'a.test')
  t.equal(a.peerCN, 'a.test')
  t.equal(a.body, 'hello a.test')
  t.equal((await httpsGet(h.httpsPort, 'b.test')).peerCN, 'b.test')
  const wild = await httpsGet(h.httpsPort, 'x.wild.test')
  t.equal(wild.peerCN, '*.wild.test', 'a sub-domain uses its parent domain\'s certificate')
  t.equal(wild.status, 200)
  t.equal((await httpsGet(h.httpsPort, 'named.test')).peerCN, 'shared-cert', 'CERT_NAME')
  const noCert = await httpsGet(h.httpsPort, 'nocert.test')
  t.equal(noCert.peerCN, 'default-cert', 'default certificate for names without one')
  t.equal(noCert.status, 200, 'a host without its own certificate is served with the trusted default one (nginx-proxy 1.7)')
  t.equal((await get(h.port, 'nocert.test')).status, 301, '... and plain HTTP redirects to it')
  t.equal((await httpsGet(h.httpsPort, 'unknown.test')).peerCN, 'default-cert')
})

t.test('a missing or mismatched pair is logged and skipped; the rest keep serving', async (t) => {
  const { h, up, certsDir } = await setup(t)
  installCert(certsDir, 'good.test', makeCert('good.test'))
  const mismatched = makeCert('bad.test')
  writeFileSync(join(certsDir, 'bad.test.crt'), mismatched.cert)
  writeFileSync(join(certsDir, 'bad.test.key'), makeCert('other').key)
  writeFileSync(join(certsDir, 'lonely.test.crt'), makeCert('lonely.test').cert)
  await h.certs!.load()
  t.same(h.certs!.names, ['good.test'])
  h.apply([route('good.test', [up.port])])
  await h.waitReady(1)
  t.equal((await httpsGet(h.httpsPort, 'good.test')).status, 200)
})

t.test('HTTPS_METHOD redirect / noredirect / nohttp / nohttps, and HSTS', async (t) => {
  const { h, up, certsDir } = await setup(t)
  for (const host of ['redirect.test', 'noredirect.test', 'nohttp.test', 'nohttps.test', 'hstsoff.test', 'custom.test']) installCert(certsDir, host, makeCert(host))
  await h.certs!.load()
  h.apply([
    route('redirect.test', [up.port]),
    route('noredirect.test', [up.port], tls('noredirect')),
    route('nohttp.test', [up.port], tls('nohttp')),
    route('nohttps.test', [up.port], tls('nohttps')),
    route('hstsoff.test', [up.port], tls('redirect', 'off')),
    route('custom.test', [up.port], tls(undefined, 'max-age=60; includeSubDomains'))
  ])
  await h.waitReady(1)
  const r = await get(h.port, 'redirect.test', '/p?q=1')
  t.equal(r.status, 301)
  t.equal(r.headers.location, `https://redirect.test:${h.httpsPort}/p?q=1`)
  const s = await httpsGet(h.httpsPort, 'redirect.test')
  t.equal(s.status, 200)
  t.equal(s.headers['strict-transport-security'], 'max-age=31536000', 'HSTS on by default with redirect')
  t.equal(s.headers['x-seen-proto'], 'https')
  t.equal((await get(h.port, 'noredirect.test')).status, 200)
  const nr = await httpsGet(h.httpsPort, 'noredirect.test')
  t.equal(nr.status, 200)
  t.equal(nr.headers['strict-transport-security'], undefined, 'no HSTS with noredirect')
  t.equal((await get(h.port, 'nohttp.test')).status, 503)
  t.equal((await httpsGet(h.httpsPort, 'nohttp.test')).status, 200)
  t.equal((await get(h.port, 'nohttps.test')).status, 200)
  await t.rejects(httpsGet(h.httpsPort, 'nohttps.test'), /SSL alert number 112/, 'nohttps: no HTTPS server, and no default certificate')
  t.equal((await httpsGet(h.httpsPort, 'hstsoff.test')).headers['strict-transport-security'], undefined, 'HSTS=off')
  t.equal((await httpsGet(h.httpsPort, 'custom.test')).headers['strict-transport-security'], 'max-age=60; includeSubDomains')
})

t.test('HTTP/2 is negotiated by a real HTTP/2 client; HTTP/1.1 still works', async (t) => {
  const { h, up, certsDir } = await setup(t)
  installCert(certsDir, 'h2.test', makeCert('h2.test'))
  await h.certs!.load()
  h.apply([route('h2.test', [up.port])])
  await h.waitReady(1)
  const r = await h2Get(h.httpsPort, 'h2.test', '/two')
  t.equal(r.alpn, 'h2')
  t.equal(r.status, 200)
  t.equal(r.body, 'hello h2.test', 'Host reaches the upstream from :authority')
  t.equal(r.headers['strict-transport-security'], 'max-age=31536000')
  const one = await httpsGet(h.httpsPort, 'h2.test')
  t.not(one.alpn, 'h2', 'a client without ALPN h2 gets HTTP/1.1')
  t.equal(one.status, 200)
})

t.test('TLS policy as nginx-proxy\'s default (Mozilla-Intermediate): the client\'s suite order, no CBC, TLS >= 1.2', async (t) => {
  const { h, up, certsDir } = await setup(t)
  installCert(certsDir, 'p.test', makeCert('p.test'))
  installCert(certsDir, 'default', makeCert('default-cert'))
  await h.certs!.load()
  h.apply([route('p.test', [up.port])])
  await h.waitReady(1)
  for (const servername of ['p.test', 'unknown.test']) {
    // Node prefers its own order unless told otherwise; nginx follows the client's.
    t.equal(await handshake(h.httpsPort, { servername, ciphers: 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384' }), 'TLSv1.3 TLS_AES_128_GCM_SHA256', `${servername}: client's first TLS 1.3 suite`)
    t.equal(await handshake(h.httpsPort, { servername, ciphers: 'TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256' }), 'TLSv1.3 TLS_AES_256_GCM_SHA384', `${servername}: ... whichever it is`)
    t.equal(await handshake(h.httpsPort, { servername, maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' }), 'TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256', `${servername}: TLS 1.2 AEAD`)
    t.match(await handshake(h.httpsPort, { servername, maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA' }), /^failed/, `${servername}: TLS 1.2 CBC suites refused`)
    t.match(await handshake(h.httpsPort, { servername, minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }), /^failed/, `${servername}: TLS 1.1 refused`)
  }
})

t.test('a certificate replaced under continuous HTTPS load: new certificate served, 0 failed requests', async (t) => {
  const { h, up, certsDir } = await setup(t)
  installCert(certsDir, 'renew.test', makeCert('renew.test', ['renew.test', 'old.renew.test']))
  await h.certs!.load()
  h.apply([route('renew.test', [up.port])])
  await h.waitReady(1)
  const fingerprint = (): string => h.certs!.get('renew.test')!.cert.toString('utf8')
  const before = fingerprint()
  let stop = false
  let ok = 0
  const failures: string[] = []
  const deadline = Date.now() + 30_000
  const loops = Array.from({ length: 10 }, async () => {
    // A new connection every 20 requests, so new handshakes pick up the new certificate.
    while (!stop && Date.now() < deadline) {
      const dispatcher = new Agent({ connect: { rejectUnauthorized: false, servername: 'renew.test' } })
      for (let i = 0; i < 20 && !stop; i++) {
        try {
          const res = await request(`https://127.0.0.1:${h.httpsPort}/`, { dispatcher, headers: { host: 'renew.test' } })
          await res.body.dump()
          if (res.statusCode === 200) ok++
          else failures.push(String(res.statusCode))
        } catch (err) {
          failures.push((err as Error).message)
        }
      }
      await dispatcher.close()
    }
  })
  await waitFor(() => ok > 200, { what: 'load under way' })
  installCert(certsDir, 'renew.test', makeCert('renew.test', ['renew.test', 'new.renew.test']))
  await waitFor(() => fingerprint() !== before, { timeoutMs: 10_000, what: 'the new certificate loaded' })
  const served = await waitFor(async () => {
    const r = await httpsGet(h.httpsPort, 'renew.test')
    return r.status === 200 && r.peerCN === 'renew.test' ? r : undefined
  })
  t.ok(served)
  const okAtSwap = ok
  await waitFor(() => ok > okAtSwap + 200, { what: 'load after the swap' })
  stop = true
  await Promise.all(loops)
  t.same(failures, [], `${ok} requests, ${failures.length} failed`)
  // The new certificate's SAN proves it is the one served.
  const sock = await new Promise<string>((resolve, reject) => {
    const s = require('node:tls').connect({ host: '127.0.0.1', port: h.httpsPort, servername: 'renew.test', rejectUnauthorized: false }, () => {
      resolve(String(s.getPeerCertificate().subjectaltname)); s.end()
    })
    s.on('error', reject)
  })
  t.match(sock, /new\.renew\.test/)
})

t.test('basic auth: 401 without credentials, 200 for each htpasswd hash format', async (t) => {
  const htpasswdDir = mkdtempSync(join(tmpdir(), 'pxt-htpasswd-'))
  const users: Record<string, string> = {
    bcrypt: bcrypt.hashSync('pw-bcrypt', 5).replace(/^\$2[ab]\$/, '$2y$'),
    apr1: apacheMd5('pw-apr1'),
    sha1: `{SHA}${createHash('sha1').update('pw-sha1').digest('base64')}`,
    crypt: apacheCrypt('pw-crypt')
  }
  writeFileSync(join(htpasswdDir, 'secret.test'), Object.entries(users).map(([u, h]) => `${u}:${h}`).join('\n') + '\n')
  const { h, up } = await setup(t, { htpasswdDir })
  h.apply([route('secret.test', [up.port]), route('open.test', [up.port])])
  await h.waitReady(1)
  const basic = (u: string, p: string): Record<string, string> => ({ authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` })
  const none = await get(h.port, 'secret.test')
  t.equal(none.status, 401)
  t.equal(none.headers['www-authenticate'], 'Basic realm="Restricted secret.test"')
  for (const u of Object.keys(users)) {
    t.equal((await get(h.port, 'secret.test', '/', { headers: basic(u, `pw-${u}`) })).status, 200, `${u} with the right password`)
    t.equal((await get(h.port, 'secret.test', '/', { headers: basic(u, 'wrong') })).status, 401, `${u} with a wrong password`)
  }
  t.equal((await get(h.port, 'secret.test', '/', { headers: basic('nobody', 'x') })).status, 401)
  t.equal((await get(h.port, 'open.test')).status, 200, 'hosts without an htpasswd file are open')
})

t.test('an ACME challenge file is served over plain HTTP for a host that redirects to HTTPS', async (t) => {
  const htmlDir = mkdtempSync(join(tmpdir(), 'pxt-html-'))
  mkdirSync(join(htmlDir, '.well-known', 'acme-challenge'), { recursive: true })
  writeFileSync(join(htmlDir, '.well-known', 'acme-challenge', 'tok123'), 'tok123.keyauth')
  const { h, up, certsDir } = await setup(t, { proxy: { htmlDir } })
  installCert(certsDir, 'acme.test', makeCert('acme.test'))
  await h.certs!.load()
  h.apply([route('acme.test', [up.port])])
  await h.waitReady(1)
  t.equal((await get(h.port, 'acme.test', '/')).status, 301)
  const r = await get(h.port, 'acme.test', '/.well-known/acme-challenge/tok123')
  t.equal(r.status, 200)
  t.equal(r.body, 'tok123.keyauth')
  t.equal((await get(h.port, 'acme.test', '/.well-known/acme-challenge/missing')).status, 404)
  t.equal((await get(h.port, 'acme.test', '/.well-known/acme-challenge/../../../etc/passwd')).status, 400, 'climbs above the root: refused before any file lookup (issue 10)')
})

t.test('WebSocket over TLS (wss, HTTP/1.1 upgrade): tunnelled, the app told X-Forwarded-Proto https', async (t) => {
  const certsDir = mkdtempSync(join(tmpdir(), 'pxt-certs-'))
  installCert(certsDir, 'wss.test', makeCert('wss.test'))
  installCert(certsDir, 'tlsonly.test', makeCert('tlsonly.test'))
  installCert(certsDir, 'default', makeCert('default-cert'))
  const up = await startWebSocketUpstream()
  const h = await startHarness({ certsDir, tls: { trustDefaultCert: false } })
  t.teardown(async () => { await h.stop(); await up.close() })
  h.apply([route('wss.test', [up.port]), route('tlsonly.test', [up.port], tls('nohttp')), route('nocert.test', [up.port])])
  await h.waitReady(1)
  t.equal(await websocketEcho(h.httpsPort, 'wss.test', 'hello', '/ws', { tls: true }), 'https:hello')
  t.equal(await websocketEcho(h.httpsPort, 'tlsonly.test', 'again', '/ws', { tls: true }), 'https:again')
  t.equal(await websocketEcho(h.port, 'nocert.test', 'plain'), 'http:plain', 'a host without a certificate keeps ws://')
  // The same HTTPS_METHOD rules as for plain requests.
  await t.rejects(websocketEcho(h.port, 'wss.test', 'x'), /no upgrade: HTTP 301/, 'ws:// on a redirecting host is redirected, as nginx-proxy does')
  await t.rejects(websocketEcho(h.port, 'tlsonly.test', 'x'), /no upgrade: HTTP 503/, 'nohttp: no ws://')
  await t.rejects(websocketEcho(h.httpsPort, 'nocert.test', 'x', '/ws', { tls: true }), /SSL alert number 112/, 'no certificate of its own, default untrusted: no wss://')
})

t.test('HTTPS HTTP/1.1 has the same request-headers timeout as HTTP: slow headers get a 408', async (t) => {
  const certsDir = mkdtempSync(join(tmpdir(), 'pxt-certs-'))
  installCert(certsDir, 'default', makeCert('default-cert'))
  const h = await startHarness({ certsDir, proxy: { requestHeadersTimeoutMs: 1_000 } })
  t.teardown(async () => { await h.stop() })
  const started = Date.now()
  const answer = await new Promise<string>((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port: h.httpsPort, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }, () => { s.write('GET / HTTP/1.1\r\nHost: slow') })
    let got = ''
    s.on('data', (c: Buffer) => { got += c.toString('latin1') })
    const timer = setTimeout(() => { s.destroy(); reject(new Error('still open after 10 s')) }, 10_000)
    s.on('close', () => { clearTimeout(timer); resolve(got) })
    s.on('error', reject)
  })
  t.match(answer, /^HTTP\/1\.1 408/)
  t.ok(Date.now() - started < 5_000, `closed after ${Date.now() - started}ms (Node's own default: 60 s)`)
})

t.test('VIRTUAL_PROTO=https reaches the upstream over TLS', async (t) => {
  const pair = makeCert('upstream.internal')
  const server = createHttpsServer({ cert: pair.cert, key: pair.key }, (req, res) => { res.end(`tls upstream ${String((req.socket as import('node:tls').TLSSocket).encrypted)}`) })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as import('node:net').AddressInfo).port
  const h = await startHarness()
  t.teardown(async () => { await h.stop(); server.closeAllConnections(); server.close() })
  h.apply([route('secure-upstream.test', [port], {}, {}, 'https')])
  await h.waitReady(1)
  const r = await get(h.port, 'secure-upstream.test')
  t.equal(r.status, 200)
  t.equal(r.body, 'tls upstream true')
})

/** "TLSv1.3 TLS_AES_128_GCM_SHA256", or "failed: ..." when the server refuses the handshake. */
async function handshake (port: number, opts: ConnectionOptions): Promise<string> {
  return await new Promise((resolve) => {
    const s = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...opts }, () => {
      resolve(`${s.getProtocol() ?? '?'} ${s.getCipher().name}`)
      s.destroy()
    })
    s.once('error', (err) => { resolve(`failed: ${err.message}`) })
  })
}
