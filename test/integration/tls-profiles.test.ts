import { mkdtempSync, writeFileSync } from 'node:fs'
import { connect as h2connect } from 'node:http2'
import { request } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { SecureVersion, TLSSocket } from 'node:tls'
import t, { type Test } from 'tap'
import type { HostTlsSettings } from '../../src/routing/desired-state.ts'
import { sslPolicy } from '../../src/tls/policy.ts'
import { installCert, makeCa, makeCert, makeCrl, signClientCert } from '../support/certs.ts'
import { route, startHarness } from '../support/proxy-harness.ts'
import { startUpstream } from '../support/upstream.ts'

// TLS profiles (issue 15, item 7): SSL_POLICY per host and proxy-wide, and mutual TLS, with real
// handshakes on one HTTPS port. Each host's profile picks the TLS server its connection runs on.

const tls = (settings: Partial<HostTlsSettings>) => ({ tls: { httpsMethod: undefined, hsts: undefined, certName: undefined, ...settings } })

interface ClientOptions { host?: string, cert?: string, key?: string, minVersion?: SecureVersion, maxVersion?: SecureVersion, ciphers?: string }
type Outcome = { status: number, code: string | undefined, body: string, protocol: string | null, cipher: string } | { alert: number }

/** One HTTPS/1.1 GET on a fresh connection; a handshake refused by the proxy reads as its alert number. */
async function fetchOver (port: number, servername: string, o: ClientOptions = {}): Promise<Outcome> {
  return await new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1', port, path: '/', servername, rejectUnauthorized: false, agent: false,
      headers: { host: o.host ?? servername }, cert: o.cert, key: o.key, minVersion: o.minVersion, maxVersion: o.maxVersion, ciphers: o.ciphers
    }, (res) => {
      const socket = res.socket as TLSSocket
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const code = res.headers['x-proxyctl-error']
        resolve({ status: res.statusCode ?? 0, code: typeof code === 'string' ? code : undefined, body: Buffer.concat(chunks).toString(), protocol: socket.getProtocol(), cipher: socket.getCipher().name })
      })
    })
    req.on('error', (err) => {
      const m = /alert number (\d+)/.exec(err.message)
      if (m === null) reject(err)
      else resolve({ alert: Number(m[1]) })
    })
    req.end()
  })
}

const PROTOCOL_VERSION = 70
const HANDSHAKE_FAILURE = 40

async function setup (t: Test, names: string[], proxyPolicy?: string) {
  const certsDir = mkdtempSync(join(tmpdir(), 'pxt-prof-'))
  for (const n of names) installCert(certsDir, n, makeCert(n))
  const up = await startUpstream((req, res) => { res.end(`hello ${req.headers.host ?? ''}`) })
  const h = await startHarness({ certsDir })
  let harness = h
  if (proxyPolicy !== undefined) {
    // The harness passes proxy.tls wholesale: rebuild it with the proxy-wide policy.
    await h.stop()
    harness = await startHarness({ certsDir, proxy: { tls: { port: 0, certs: h.certs!, defaultHttpsMethod: 'noredirect', defaultHsts: 'off', sslPolicy: sslPolicy(proxyPolicy) } } })
  }
  t.teardown(async () => { await harness.stop(); await up.close() })
  return { h: harness, up, certsDir }
}

t.test('SSL_POLICY per container: protocol versions and ciphers per host on one port', async (t) => {
  const { h, up } = await setup(t, ['modern.test', 'inter.test', 'aws.test', 'old.test'])
  h.apply([
    route('modern.test', [up.port], tls({ sslPolicy: 'Mozilla-Modern' })),
    route('inter.test', [up.port]),
    route('aws.test', [up.port], tls({ sslPolicy: 'AWS-TLS-1-2-2017-01' })),
    route('old.test', [up.port], tls({ sslPolicy: 'Mozilla-Old' }))
  ])
  await h.waitReady(1)
  const tls12 = { maxVersion: 'TLSv1.2' as const }
  t.same(await fetchOver(h.httpsPort, 'modern.test', tls12), { alert: PROTOCOL_VERSION }, 'Mozilla-Modern: a TLS 1.2-only client is refused (protocol_version)')
  t.match(await fetchOver(h.httpsPort, 'inter.test', tls12), { status: 200, protocol: 'TLSv1.2', body: 'hello inter.test' }, 'Mozilla-Intermediate on the same port: accepted')
  t.match(await fetchOver(h.httpsPort, 'modern.test'), { status: 200, protocol: 'TLSv1.3', body: 'hello modern.test' }, 'Mozilla-Modern over TLS 1.3: served')
  // ECDHE-ECDSA-AES128-SHA256 (CBC) is in AWS-TLS-1-2-2017-01's list, not in Mozilla-Intermediate's.
  const cbc = { maxVersion: 'TLSv1.2' as const, ciphers: 'ECDHE-ECDSA-AES128-SHA256' }
  t.same(await fetchOver(h.httpsPort, 'inter.test', cbc), { alert: HANDSHAKE_FAILURE }, 'a cipher the policy lacks: handshake_failure')
  t.match(await fetchOver(h.httpsPort, 'aws.test', cbc), { status: 200, cipher: 'ECDHE-ECDSA-AES128-SHA256' }, 'the policy that lists it negotiates it')
  // Mozilla-Old asks for TLS 1.0 with @SECLEVEL=0 (nginx.tmpl); OpenSSL 3 refuses it otherwise.
  const tls10 = { minVersion: 'TLSv1' as const, maxVersion: 'TLSv1' as const, ciphers: 'DEFAULT:@SECLEVEL=0' }
  t.match(await fetchOver(h.httpsPort, 'old.test', tls10), { status: 200, protocol: 'TLSv1' }, 'Mozilla-Old: TLS 1.0 served')
  t.same(await fetchOver(h.httpsPort, 'inter.test', tls10), { alert: PROTOCOL_VERSION }, 'Mozilla-Intermediate: TLS 1.0 refused')
  // HTTP/2 on a profile server: the same request path.
  const h2 = await new Promise<number>((resolve, reject) => {
    const s = h2connect(`https://127.0.0.1:${h.httpsPort}`, { servername: 'modern.test', rejectUnauthorized: false })
    s.on('error', reject)
    const st = s.request({ ':path': '/', ':authority': 'modern.test' })
    st.on('response', (hd) => { resolve(Number(hd[':status'])); s.destroy() })
    st.on('error', reject)
    st.end()
  })
  t.equal(h2, 200, 'h2 on the Mozilla-Modern server')
})

t.test('proxy-wide SSL_POLICY is the default for hosts without their own, and for default.crt', async (t) => {
  const { h, up } = await setup(t, ['default', 'a.test', 'b.test'], 'Mozilla-Modern')
  h.apply([route('a.test', [up.port]), route('b.test', [up.port], tls({ sslPolicy: 'Mozilla-Intermediate' }))])
  await h.waitReady(1)
  const tls12 = { maxVersion: 'TLSv1.2' as const }
  t.same(await fetchOver(h.httpsPort, 'a.test', tls12), { alert: PROTOCOL_VERSION }, 'SSL_POLICY=Mozilla-Modern: TLS 1.2 refused')
  t.same(await fetchOver(h.httpsPort, 'unknown.test', tls12), { alert: PROTOCOL_VERSION }, 'the fallback server (default.crt) too')
  t.match(await fetchOver(h.httpsPort, 'b.test', tls12), { status: 200, protocol: 'TLSv1.2' }, 'a container\'s own SSL_POLICY overrides it')
  t.match(await fetchOver(h.httpsPort, 'a.test'), { status: 200, protocol: 'TLSv1.3' })
})

t.test('mutual TLS: ssl_verify_client with certs/<host>.ca.crt, ca.crt and CRLs', async (t) => {
  const { h, up, certsDir } = await setup(t, ['mtls.test', 'opt.test', 'nocafile.test', 'open.test', 'off.test'])
  const caA = makeCa('ca-a')
  const caB = makeCa('ca-b')
  const good = signClientCert(caA, 'alice')
  const revoked = signClientCert(caA, 'mallory')
  const other = signClientCert(caB, 'bob')
  writeFileSync(join(certsDir, 'mtls.test.ca.crt'), caA.cert)
  writeFileSync(join(certsDir, 'mtls.test.crl.pem'), makeCrl(caA, [revoked.cert]))
  writeFileSync(join(certsDir, 'opt.test.ca.crt'), caA.cert)
  writeFileSync(join(certsDir, 'off.test.ca.crt'), caA.cert)
  await h.certs!.load()
  h.apply([
    route('mtls.test', [up.port]),
    route('opt.test', [up.port], tls({ sslVerifyClient: 'optional' })),
    route('open.test', [up.port]),
    route('off.test', [up.port], tls({ sslVerifyClient: 'off' }))
  ])
  await h.waitReady(1)
  const port = h.httpsPort
  t.match(await fetchOver(port, 'mtls.test', good), { status: 200, body: 'hello mtls.test' }, 'a certificate from the host\'s CA: served')
  t.match(await fetchOver(port, 'mtls.test'), { status: 400, code: 'PROXY_ERR_CLIENT_CERT_REQUIRED' }, 'none: 400 (nginx: No required SSL certificate was sent)')
  t.match(await fetchOver(port, 'mtls.test', other), { status: 400, code: 'PROXY_ERR_CLIENT_CERT_INVALID' }, 'another CA\'s: 400 (nginx: The SSL certificate error)')
  t.match(await fetchOver(port, 'mtls.test', revoked), { status: 400, code: 'PROXY_ERR_CLIENT_CERT_INVALID' }, 'revoked in mtls.test.crl.pem: 400')
  t.match(await fetchOver(port, 'opt.test'), { status: 200 }, 'optional: no certificate passes')
  t.match(await fetchOver(port, 'opt.test', other), { status: 400, code: 'PROXY_ERR_CLIENT_CERT_INVALID' }, 'optional: a failing certificate does not')
  t.match(await fetchOver(port, 'opt.test', revoked), { status: 200 }, 'optional: opt.test has no CRL of its own, the global one does not apply')
  t.match(await fetchOver(port, 'off.test'), { status: 200 }, 'label off: nothing verified despite the CA file')
  t.match(await fetchOver(port, 'open.test'), { status: 200 }, 'no CA file: nothing verified')
  t.match(await fetchOver(port, 'open.test', { host: 'mtls.test' }), { status: 421, code: 'PROXY_ERR_MISDIRECTED_REQUEST' }, 'SNI of another host, Host of a verifying one: 421, as nginx')
  t.match(await fetchOver(port, 'mtls.test', { ...good, host: 'open.test' }), { status: 200, body: 'hello open.test' }, 'the other way round: open.test verifies nothing')
  // HTTP/2: the session's socket carries the certificate.
  const h2 = async (o: { cert?: string, key?: string }): Promise<number> => await new Promise((resolve, reject) => {
    const s = h2connect(`https://127.0.0.1:${port}`, { servername: 'mtls.test', rejectUnauthorized: false, ...o })
    s.on('error', reject)
    const st = s.request({ ':path': '/', ':authority': 'mtls.test' })
    st.on('response', (hd) => { resolve(Number(hd[':status'])); s.destroy() })
    st.on('error', reject)
    st.end()
  })
  t.equal(await h2(good), 200, 'h2 with a certificate')
  t.equal(await h2({}), 400, 'h2 without')
  // The global ca.crt applies to hosts without their own CA file, with ca.crl.pem.
  writeFileSync(join(certsDir, 'ca.crt'), caB.cert)
  writeFileSync(join(certsDir, 'ca.crl.pem'), makeCrl(caB, []))
  await h.certs!.load()
  t.match(await fetchOver(port, 'open.test'), { status: 400, code: 'PROXY_ERR_CLIENT_CERT_REQUIRED' }, 'ca.crt: open.test now requires one')
  t.match(await fetchOver(port, 'open.test', other), { status: 200 }, 'a certificate from the global CA: served')
  t.match(await fetchOver(port, 'open.test', good), { status: 400, code: 'PROXY_ERR_CLIENT_CERT_INVALID' }, 'one from CA A: refused')
  t.match(await fetchOver(port, 'mtls.test', good), { status: 200 }, 'mtls.test keeps its own CA')
})
