import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import t, { type Test } from 'tap'
import type { Logger } from '../../src/logger.ts'
import { VhostStore } from '../../src/vhost/vhost-store.ts'
import { get } from '../support/http-client.ts'
import { route, startHarness, type Harness } from '../support/proxy-harness.ts'
import { startUpstream, type Upstream } from '../support/upstream.ts'
import { waitFor } from '../support/wait.ts'

// Issue 15, item 8: nginx-proxy users' /etc/nginx/vhost.d files, honoured by the data plane.

interface Setup { h: Harness, up: Upstream, dir: string, warnings: string[] }

async function setup (t: Test, files: Record<string, string>, extra: Parameters<typeof route>[2] = {}): Promise<Setup> {
  const dir = mkdtempSync(join(tmpdir(), 'pxt-vhostd-'))
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text)
  const warnings: string[] = []
  const sink = new Writable({ write (chunk: Buffer, _enc, cb) { for (const l of chunk.toString().split('\n')) if (l !== '') { const o = JSON.parse(l) as { level: number, msg: string }; if (o.level === 40) warnings.push(o.msg) } cb() } })
  const log: Logger = pino<never>({ level: 'warn' }, sink)
  const vhost = new VhostStore(dir, log)
  await vhost.load()
  vhost.watch()
  // Held replies are never answered; the proxy's read timeout is what ends them.
  const up = await startUpstream((req, res) => {
    if (req.url === '/hang') return
    let size = 0
    req.on('data', (c: Buffer) => { size += c.length })
    req.on('end', () => { res.end(JSON.stringify({ size })) })
  })
  // The pool's own response timeout is long: a 504 here can only come from the vhost.d file.
  const h = await startHarness({ proxy: { vhost }, reconciler: { responseTimeoutMs: 120_000 } })
  t.teardown(async () => { vhost.stop(); await h.stop(); await up.close() })
  h.apply([route('app.test', [up.port], extra), route('other.test', [up.port])])
  await h.waitReady(1)
  return { h, up, dir, warnings }
}

const body = (n: number): { method: string, body: string } => ({ method: 'POST', body: 'x'.repeat(n) })

t.test('client_max_body_size from vhost.d/<host>: 413 above it, served below; default applies to other hosts', async (t) => {
  const { h } = await setup(t, { 'app.test': 'client_max_body_size 10;\n', default: 'client_max_body_size 100;\n' })
  const over = await get(h.port, 'app.test', '/', body(11))
  t.equal(over.status, 413)
  t.equal(over.headers['x-proxyctl-error'], 'PROXY_ERR_BODY_TOO_LARGE')
  t.equal((await get(h.port, 'app.test', '/', body(10))).status, 200)
  t.equal((await get(h.port, 'other.test', '/', body(50))).status, 200, 'default file: 100 bytes')
  t.equal((await get(h.port, 'other.test', '/', body(101))).status, 413)
  // Streamed (chunked) bodies are counted too.
  const chunked = await get(h.port, 'app.test', '/', { method: 'POST', body: 'x'.repeat(64), headers: { 'transfer-encoding': 'chunked' } })
  t.equal(chunked.status, 413)
})

t.test('the proxyctl.max-body-size label, set on the location itself, wins over vhost.d', async (t) => {
  const { h } = await setup(t, { 'app.test_location': 'client_max_body_size 10;\n' }, { maxBodyBytes: 1000 })
  t.equal((await get(h.port, 'app.test', '/', body(500))).status, 200)
  t.equal((await get(h.port, 'app.test', '/', body(1001))).status, 413)
})

t.test('proxy_read_timeout from vhost.d: an upstream that never answers gets 504', async (t) => {
  const { h } = await setup(t, { 'app.test': 'proxy_read_timeout 300ms;\nadd_header X-Always on always;\n' })
  const reply = await get(h.port, 'app.test', '/hang')
  t.equal(reply.status, 504)
  t.equal(reply.headers['x-proxyctl-error'], 'UND_ERR_HEADERS_TIMEOUT')
  t.equal(reply.headers['x-always'], 'on', 'add_header ... always is on the proxy\'s own 504 too')
})

t.test('add_header: on success responses, beside the upstream\'s; without always not on errors', async (t) => {
  const { h } = await setup(t, { 'app.test': 'add_header X-Frame-Options DENY;\nadd_header X-Served-By "proxyctl vhost.d";\nclient_max_body_size 1;\n' })
  const ok = await get(h.port, 'app.test', '/')
  t.equal(ok.status, 200)
  t.equal(ok.headers['x-frame-options'], 'DENY')
  t.equal(ok.headers['x-served-by'], 'proxyctl vhost.d')
  const refused = await get(h.port, 'app.test', '/', body(2))
  t.equal(refused.status, 413)
  t.equal(refused.headers['x-frame-options'], undefined, 'nginx adds it to 2xx/3xx only without "always"')
  t.equal((await get(h.port, 'other.test', '/')).headers['x-frame-options'], undefined, 'another host has no file')
})

t.test('unknown directives are warned about with file and line; honoured ones still apply', async (t) => {
  const { h, dir, warnings } = await setup(t, { 'app.test': '# migrated from nginx-proxy\nproxy_buffering off;\ngzip on;\nclient_max_body_size 5;\nlocation /x {\n  deny all;\n}\n' })
  t.same(warnings.filter((w) => w.startsWith(join(dir, 'app.test'))).map((w) => w.slice(dir.length)), [
    '/app.test:3: "gzip" is not supported by proxyctl and is ignored',
    '/app.test:5: "location {...}" block is not supported by proxyctl and is ignored'
  ], 'proxy_buffering off is accepted silently')
  t.equal((await get(h.port, 'app.test', '/', body(6))).status, 413)
})

t.test('a changed vhost.d file applies without a restart', async (t) => {
  const { h, dir } = await setup(t, { 'app.test': 'client_max_body_size 10;\n' })
  t.equal((await get(h.port, 'app.test', '/', body(20))).status, 413)
  writeFileSync(join(dir, 'app.test'), 'client_max_body_size 100;\nadd_header X-Version 2;\n')
  const reply = await waitFor(async () => { const r = await get(h.port, 'app.test', '/', body(20)); return r.status === 200 ? r : undefined }, { what: 'the new limit' })
  t.equal(reply.headers['x-version'], '2')
  writeFileSync(join(dir, 'app.test'), '')
  await waitFor(async () => (await get(h.port, 'app.test', '/')).headers['x-version'] === undefined, { what: 'the header gone' })
})
