import { createServer } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import t from 'tap'
import { serveOptionsFromEnv } from '../../src/config/env.ts'
import type { ContainerInfo } from '../../src/docker/container-info.ts'
import { parseContainer } from '../../src/docker/virtual-host.ts'
import { peekClientHello } from '../../src/tls/client-hello.ts'

function container (env: Record<string, string>, labels: Record<string, string> = {}): ContainerInfo {
  return { id: 'c1', name: 'app-1', running: true, env, labels, exposedPorts: [], networks: [{ name: 'n', id: 'n1', ipAddress: '172.20.0.2' }], networkMode: 'bridge', health: 'none' }
}

const TRUST = 'com.github.nginx-proxy.nginx-proxy.trust-default-cert'
const NON_GET = 'com.github.nginx-proxy.nginx-proxy.non-get-redirect'

t.test('per-container TRUST_DEFAULT_CERT label, ENABLE_HTTP_ON_MISSING_CERT env, non-get-redirect label', async (t) => {
  const cases: Array<{ desc: string, env?: Record<string, string>, labels?: Record<string, string>, tls: Record<string, unknown>, warnings: number }> = [
    { desc: 'none set: proxy values', tls: { httpsMethod: undefined, hsts: undefined, certName: undefined }, warnings: 0 },
    { desc: 'label false', labels: { [TRUST]: 'false' }, tls: { httpsMethod: undefined, hsts: undefined, certName: undefined, trustDefaultCert: false }, warnings: 0 },
    { desc: 'env false', env: { ENABLE_HTTP_ON_MISSING_CERT: 'false' }, tls: { httpsMethod: undefined, hsts: undefined, certName: undefined, enableHttpOnMissingCert: false }, warnings: 0 },
    { desc: '307', labels: { [NON_GET]: '307' }, tls: { httpsMethod: undefined, hsts: undefined, certName: undefined, nonGetRedirect: 307 }, warnings: 0 },
    { desc: '302 is not documented: warning, proxy value', labels: { [NON_GET]: '302' }, tls: { httpsMethod: undefined, hsts: undefined, certName: undefined }, warnings: 1 },
    { desc: 'not a boolean: warning', labels: { [TRUST]: 'maybe' }, tls: { httpsMethod: undefined, hsts: undefined, certName: undefined }, warnings: 1 }
  ]
  for (const c of cases) {
    const r = parseContainer(container({ VIRTUAL_HOST: 'a.test', ...c.env }, c.labels))
    if (r.kind !== 'ok') { t.fail(c.desc); continue }
    t.same(r.routes.tls, c.tls, c.desc)
    t.equal(r.routes.warnings.length, c.warnings, `${c.desc}: warnings`)
  }
})

t.test('proxy env: TRUST_DEFAULT_CERT, ENABLE_HTTP_ON_MISSING_CERT, NON_GET_REDIRECT', async (t) => {
  t.same(serveOptionsFromEnv({ TRUST_DEFAULT_CERT: 'false', ENABLE_HTTP_ON_MISSING_CERT: 'false', NON_GET_REDIRECT: '308' }), { trustDefaultCert: false, enableHttpOnMissingCert: false, nonGetRedirect: 308 })
  t.throws(() => serveOptionsFromEnv({ NON_GET_REDIRECT: '302' }), { code: 'PROXY_ERR_INVALID_OPTION' })
})

t.test('peekClientHello reads the SNI of a real ClientHello, whole, cut short, or split across records', async (t) => {
  const hello = await new Promise<Buffer>((resolve, reject) => {
    const server = createServer((socket) => {
      socket.once('data', (d) => { resolve(d); socket.destroy(); server.close() })
    }).listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port
      const c = tlsConnect({ host: '127.0.0.1', port, servername: 'sni.example.test', rejectUnauthorized: false })
      c.on('error', () => {})
    })
    server.on('error', reject)
  })
  t.same(peekClientHello(hello), { kind: 'hello', servername: 'sni.example.test' })
  t.same(peekClientHello(hello.subarray(0, 40)), { kind: 'incomplete' })
  // The same handshake message in two records (RFC 8446 §5.1 allows fragmenting it).
  const body = hello.subarray(5)
  const cut = 60
  const record = (part: Buffer): Buffer => Buffer.concat([Buffer.from([0x16, 0x03, 0x01, part.length >> 8, part.length & 0xff]), part])
  const split = Buffer.concat([record(body.subarray(0, cut)), record(body.subarray(cut))])
  t.same(peekClientHello(split), { kind: 'hello', servername: 'sni.example.test' })
  t.same(peekClientHello(split.subarray(0, 5 + cut + 3)), { kind: 'incomplete' })
  t.same(peekClientHello(Buffer.from('GET / HTTP/1.1\r\n\r\n')), { kind: 'other' }, 'plain HTTP on the TLS port: left to OpenSSL')
})
