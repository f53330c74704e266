import { mkdtempSync } from 'node:fs'
import { createServer, connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { installCert, makeCert } from '../support/certs.ts'
import { get } from '../support/http-client.ts'
import { httpsGet } from '../support/https-client.ts'
import { freePort } from '../support/ports.ts'
import { route, startHarness } from '../support/proxy-harness.ts'
import { startUpstream } from '../support/upstream.ts'
import { waitFor } from '../support/wait.ts'

// issue 15, item 4: nginx-proxy's EXTERNAL_HTTP_PORT / EXTERNAL_HTTPS_PORT (and the
// external_http(s)_port keys of VIRTUAL_HOST_MULTIPORTS): the host's server block listens on that
// port instead of the proxy's, and its HTTP->HTTPS redirect names it (nginx.tmpl: `listen
// {{ $vhost.external_http_port }}`, `https://$host:{{ external_https_port }}$request_uri`).

async function refused (port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const s = connect(port, '127.0.0.1')
    s.once('connect', () => { s.destroy(); resolve(false) })
    s.once('error', () => { resolve(true) })
  })
}

t.test('a host on its own HTTP port: listener opened with the table, served only there, closed when no host uses it', async (t) => {
  const up = await startUpstream((req, res) => { res.end(`${req.headers.host ?? ''} ${String(req.headers['x-forwarded-port'])}`) })
  const h = await startHarness()
  t.teardown(async () => { await h.stop(); await up.close() })
  const extra = await freePort()
  t.ok(await refused(extra), 'nothing listens there before a host asks for it')
  h.apply([route('own.test', [up.port], { externalPorts: { http: extra } }), route('plain.test', [up.port])])
  await h.waitReady(1)
  const r = await waitFor(async () => { const x = await get(extra, 'own.test').catch(() => undefined); return x?.status === 200 ? x : undefined }, { what: 'own.test on its port' })
  t.equal(r.body, `own.test ${extra}`, 'X-Forwarded-Port is the port the request came in on')
  t.equal((await get(h.port, 'own.test')).status, 503, 'not served on the proxy\'s own port (nginx: no server block for it there)')
  t.equal((await get(extra, 'plain.test')).status, 503, 'a host on the default port is not served on the extra one')
  t.equal((await get(h.port, 'plain.test')).status, 200)

  h.apply([route('plain.test', [up.port])])
  await waitFor(async () => await refused(extra), { what: 'the extra listener closed' })
  t.equal((await get(h.port, 'plain.test')).status, 200, 'the default listener is untouched')
})

t.test('EXTERNAL_HTTP_PORT equal to the proxy\'s own port is served there, with no second listener', async (t) => {
  const up = await startUpstream((_req, res) => { res.end('ok') })
  const h = await startHarness()
  t.teardown(async () => { await h.stop(); await up.close() })
  h.apply([route('same.test', [up.port], { externalPorts: { http: h.port } })])
  await h.waitReady(1)
  t.equal((await get(h.port, 'same.test')).status, 200)
})

t.test('a port in use is logged and skipped, other ports still open; it is retried on the next table', async (t) => {
  const up = await startUpstream((_req, res) => { res.end('ok') })
  const h = await startHarness()
  const busy = await freePort()
  const blocker = createServer()
  await new Promise<void>((resolve) => blocker.listen(busy, '127.0.0.1', resolve))
  t.teardown(async () => { await h.stop(); await up.close(); blocker.close() })
  const free = await freePort()
  h.apply([route('busy.test', [up.port], { externalPorts: { http: busy } }), route('free.test', [up.port], { externalPorts: { http: free } })])
  await h.waitReady(1)
  await waitFor(async () => (await get(free, 'free.test').catch(() => undefined))?.status === 200, { what: 'free.test on its port' })
  t.equal((await get(h.port, 'free.test')).status, 503)
  await new Promise<void>((resolve) => blocker.close(() => { resolve() }))
  h.apply([route('busy.test', [up.port], { externalPorts: { http: busy } }), route('free.test', [up.port], { externalPorts: { http: free } }), route('x.test', [up.port])])
  await waitFor(async () => (await get(busy, 'busy.test').catch(() => undefined))?.status === 200, { what: 'busy.test once its port is free' })
})

t.test('HTTPS on a host\'s own port; the HTTP redirect names it, as nginx-proxy does', async (t) => {
  const certsDir = mkdtempSync(join(tmpdir(), 'pxt-certs-'))
  installCert(certsDir, 'synapse.test', makeCert('synapse.test'))
  installCert(certsDir, 'matrix.test', makeCert('matrix.test'))
  const up = await startUpstream((req, res) => { res.end(`${String(req.headers['x-forwarded-proto'])}:${String(req.headers['x-forwarded-port'])}`) })
  const h = await startHarness({ certsDir })
  t.teardown(async () => { await h.stop(); await up.close() })
  const https = await freePort()
  const http = await freePort()
  h.apply([
    route('synapse.test', [up.port], { externalPorts: { https } }),
    route('matrix.test', [up.port], { externalPorts: { http, https } })
  ])
  await h.waitReady(1)
  const r = await waitFor(async () => { const x = await httpsGet(https, 'synapse.test').catch(() => undefined); return x?.status === 200 ? x : undefined }, { what: 'synapse.test over HTTPS on its port' })
  t.equal(r.body, `https:${https}`)
  t.equal(r.peerCN, 'synapse.test')
  // No server for it on the proxy's HTTPS port and no default certificate: nginx's ssl_reject_handshake.
  await t.rejects(httpsGet(h.httpsPort, 'synapse.test'), /unrecognized name/, 'not on the proxy\'s HTTPS port')
  const redirect = await get(h.port, 'synapse.test', '/p?q=1')
  t.equal(redirect.status, 301)
  t.equal(redirect.headers.location, `https://synapse.test:${https}/p?q=1`, 'the redirect names the host\'s HTTPS port')
  const own = await waitFor(async () => { const x = await get(http, 'matrix.test', '/x').catch(() => undefined); return x?.status === 301 ? x : undefined }, { what: 'matrix.test over HTTP on its port' })
  t.equal(own.headers.location, `https://matrix.test:${https}/x`, 'redirect server on the host\'s HTTP port, to its HTTPS port')
  t.equal((await get(h.port, 'matrix.test')).status, 503, 'no redirect server on the proxy\'s HTTP port for it')
})

t.test('a host whose containers are all unreachable answers 502 (nginx-proxy: server 127.0.0.1 down)', async (t) => {
  const h = await startHarness()
  t.teardown(async () => { await h.stop() })
  h.apply([route('gone.test', [])])
  const r = await get(h.port, 'gone.test')
  t.equal(r.status, 502)
  t.equal(r.headers['x-proxyctl-error'], 'PROXY_ERR_NO_REACHABLE_UPSTREAM')
  t.equal((await get(h.port, 'other.test')).status, 503, 'an unknown host is still 503')
})
