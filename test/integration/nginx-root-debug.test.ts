import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import t, { type Test } from 'tap'
import { PATHS_STRIPPED_WARNING, REGEX_HOSTNAME } from '../../src/proxy/debug-endpoint.ts'
import { parseDefaultRoot, type DefaultRoot } from '../../src/proxy/default-root.ts'
import { ErrorPage, MAX_ERROR_PAGE_BYTES } from '../../src/proxy/error-page.ts'
import type { ProxyServerOptions } from '../../src/proxy/proxy-server.ts'
import { get } from '../support/http-client.ts'
import { route, startHarness, type Harness } from '../support/proxy-harness.ts'
import { startUpstream } from '../support/upstream.ts'

// Issue 15, item 7: DEFAULT_ROOT, /nginx-proxy-debug and errors/50x.html through the real data
// plane, from nginx-proxy's nginx.tmpl (584073da) and its tests (test_debug-endpoint,
// test_custom-error-page, test_virtual-path/test_default-root-none).

const log = pino({ level: 'silent' })

async function setup (t: Test, proxy: Partial<ProxyServerOptions>): Promise<{ h: Harness, up: number }> {
  const up = await startUpstream((req, res) => { res.end(`app ${req.url ?? ''}`) })
  const h = await startHarness({ proxy })
  t.teardown(async () => { await h.stop(); await up.close() })
  return { h, up: up.port }
}

function root (value: string): DefaultRoot {
  const r = parseDefaultRoot(value)
  if ('error' in r) throw new Error(r.error)
  return r
}

t.test('DEFAULT_ROOT answers a path no VIRTUAL_PATH of the host matches, as nginx return', async (t) => {
  const cases: Array<{ desc: string, value: string | undefined, status: number, location?: string, body?: string }> = [
    { desc: 'unset: 404', value: undefined, status: 404, body: '404 Not Found\n' },
    { desc: '418', value: '418', status: 418 },
    { desc: '301 URL', value: '301 https://github.com/nginx-proxy/nginx-proxy/blob/main/README.md', status: 301, location: 'https://github.com/nginx-proxy/nginx-proxy/blob/main/README.md' },
    { desc: 'nginx variables', value: '301 $scheme://$host/myapp1$request_uri', status: 301, location: 'http://paths.test/myapp1/other?q=1' },
    { desc: 'relative URL made absolute', value: '302 /app/', status: 302 },
    { desc: 'a URL alone: 302', value: 'https://example.org/', status: 302, location: 'https://example.org/' },
    { desc: 'a text body', value: "200 'nothing here'", status: 200, body: 'nothing here' },
    { desc: 'none: no location /, nginx serves its (absent) root', value: 'none', status: 404 }
  ]
  for (const c of cases) {
    const s = await setup(t, c.value === undefined ? {} : { defaultRoot: root(c.value) })
    s.h.apply([route('paths.test', [s.up], { path: '/app/' })])
    await s.h.waitReady(1)
    const app = await get(s.h.port, 'paths.test', '/app/x')
    t.equal(app.body, 'app /app/x', `${c.desc}: the location still forwards`)
    const r = await get(s.h.port, 'paths.test', '/other?q=1')
    t.equal(r.status, c.status, c.desc)
    if (c.location !== undefined) t.equal(r.headers.location, c.location, `${c.desc}: Location`)
    if (c.desc.startsWith('relative')) t.equal(r.headers.location, `http://paths.test:${s.h.port}/app/`, `${c.desc}: Location`)
    if (c.body !== undefined) t.equal(r.body, c.body, `${c.desc}: body`)
    t.equal((await get(s.h.port, 'unknown.test', '/other')).status, 503, `${c.desc}: unknown names still get the fallback server's 503`)
  }
})

t.test('DEFAULT_ROOT does not apply to a host with a / location', async (t) => {
  const s = await setup(t, { defaultRoot: root('418') })
  s.h.apply([route('root.test', [s.up])])
  await s.h.waitReady(1)
  t.equal((await get(s.h.port, 'root.test', '/anything')).body, 'app /anything')
})

t.test('DEFAULT_ROOT 444 closes the connection without an answer', async (t) => {
  const s = await setup(t, { defaultRoot: root('444') })
  s.h.apply([route('paths.test', [s.up], { path: '/app/' })])
  await s.h.waitReady(1)
  await t.rejects(get(s.h.port, 'paths.test', '/other'))
})

const GLOBAL = { enable_debug_endpoint: 'true', default_root_response: '404' }

t.test('/nginx-proxy-debug: globally (DEBUG_ENDPOINT), JSON with nginx-proxy\'s fields', async (t) => {
  const s = await setup(t, { debugEndpoint: { enabled: true, global: GLOBAL } })
  s.h.apply([
    route('enabled.debug.test', [s.up]),
    route('enabled.debug.test', [s.up], { path: '/api', dest: '/v1', internalOnly: true }),
    route('~^regexp\\.foo\\.debug\\.test$', [s.up])
  ])
  await s.h.waitReady(1)
  const r = await get(s.h.port, 'enabled.debug.test', '/nginx-proxy-debug')
  t.equal(r.status, 200)
  t.match(r.headers['content-type'], /^application\/json/)
  const json = JSON.parse(r.body) as { global: Record<string, unknown>, request: Record<string, unknown>, vhost: Record<string, unknown> & { paths: Record<string, Record<string, unknown>> } }
  t.same(json.global, GLOBAL)
  t.same(json.request, { host: 'enabled.debug.test', https: '', http2: '', http3: '', ssl_cipher: '', ssl_protocol: '' })
  t.equal(json.vhost.hostname, 'enabled.debug.test')
  t.equal(json.vhost.enable_debug_endpoint, true)
  t.equal(json.vhost.is_regexp, false)
  t.equal(json.vhost.https_method, 'noredirect', 'no HTTPS listener: served as noredirect')
  t.same(Object.keys(json.vhost.paths), ['/', '/api'])
  t.same(json.vhost.paths['/api'], {
    dest: '/v1', network_tag: 'internal', proto: 'http', keepalive: 'auto',
    ports: { [String(s.up)]: [{ Name: `local-${s.up}`, address: '127.0.0.1', state: 'ready' }] }
  })
  t.notMatch(r.body, /BEGIN|PRIVATE/, 'no key material')
  const regex = JSON.parse((await get(s.h.port, 'regexp.foo.debug.test', '/nginx-proxy-debug')).body) as { vhost: Record<string, unknown> }
  t.equal(regex.vhost.hostname, REGEX_HOSTNAME, 'a regex host is not echoed')
  t.equal((await get(s.h.port, 'unknown.debug.test', '/nginx-proxy-debug')).status, 503, 'not on the fallback server')
})

t.test('/nginx-proxy-debug: per container (the label), off elsewhere; a longer VIRTUAL_PATH wins', async (t) => {
  const s = await setup(t, { debugEndpoint: { enabled: false, global: { enable_debug_endpoint: 'false' } } })
  const tls = (debugEndpoint?: boolean) => ({ tls: { httpsMethod: undefined, hsts: undefined, certName: undefined, ...(debugEndpoint !== undefined ? { debugEndpoint } : {}) } })
  s.h.apply([
    route('enabled.debug.test', [s.up], tls(true)),
    route('enabled.debug.test', [s.up], { ...tls(true), path: '/nginx-proxy-debug/app' }),
    route('disabled1.debug.test', [s.up], tls()),
    route('disabled2.debug.test', [s.up], { ...tls(false), path: '/api' })
  ])
  await s.h.waitReady(1)
  const r = await get(s.h.port, 'enabled.debug.test', '/nginx-proxy-debug')
  t.equal(r.status, 200)
  const json = JSON.parse(r.body) as { global: Record<string, unknown>, vhost: Record<string, unknown> }
  t.equal(json.global.enable_debug_endpoint, 'false')
  t.equal(json.vhost.enable_debug_endpoint, true)
  t.equal((await get(s.h.port, 'enabled.debug.test', '/nginx-proxy-debug/app/x')).body, 'app /nginx-proxy-debug/app/x', 'the longer location')
  t.equal((await get(s.h.port, 'disabled1.debug.test', '/nginx-proxy-debug')).body, 'app /nginx-proxy-debug', 'disabled: the app gets the path')
  t.equal((await get(s.h.port, 'disabled2.debug.test', '/nginx-proxy-debug')).status, 404, 'disabled, no / location: DEFAULT_ROOT')
})

t.test('/nginx-proxy-debug: paths stripped, with nginx-proxy\'s warning, past 4000 characters', async (t) => {
  const s = await setup(t, { debugEndpoint: { enabled: true, global: GLOBAL } })
  s.h.apply(Array.from({ length: 40 }, (_, i) => route('stripped.debug.test', [s.up], { path: `/a-rather-long-virtual-path-number-${i}` })))
  await s.h.waitReady(1)
  const r = await get(s.h.port, 'stripped.debug.test', '/nginx-proxy-debug')
  t.equal(r.status, 200)
  const json = JSON.parse(r.body) as { warning: string, vhost: Record<string, unknown> }
  t.equal(json.warning, PATHS_STRIPPED_WARNING)
  t.notOk('paths' in json.vhost)
  t.ok(r.body.length <= 4000)
})

t.test('errors/50x.html: the fallback server\'s 503 (unknown names), not the hosts\' own errors', async (t) => {
  const html = mkdtempSync(join(tmpdir(), 'pxt-html-'))
  t.teardown(() => { rmSync(html, { recursive: true, force: true }) })
  const page = new ErrorPage(html, log)
  t.teardown(() => { page.stop() })
  await page.load()
  const s = await setup(t, { errorPage: page })
  s.h.apply([route('down.test', [1]), route('paths.test', [s.up], { path: '/app/' })])
  await s.h.waitReady(1)
  const plain = await get(s.h.port, 'unknown.test')
  t.equal(plain.status, 503)
  t.equal(plain.body, '503 Service Unavailable\n', 'no file: the short text')
  mkdirSync(join(html, 'errors'))
  const PAGE = "<h1>Damn, there's some maintenance in progress.</h1>\n"
  writeFileSync(join(html, 'errors', '50x.html'), PAGE)
  await page.load()
  const custom = await get(s.h.port, 'unknown.test')
  t.equal(custom.status, 503)
  t.equal(custom.body, PAGE)
  t.equal(custom.headers['content-type'], 'text/html')
  const hostError = await get(s.h.port, 'down.test')
  t.ok(hostError.status >= 500, 'a host without a reachable upstream')
  t.not(hostError.body, PAGE, '"This will not replace your own services error pages"')
  t.equal((await get(s.h.port, 'paths.test', '/other')).body, '404 Not Found\n')
  writeFileSync(join(html, 'errors', '50x.html'), 'x'.repeat(MAX_ERROR_PAGE_BYTES + 1))
  await page.load()
  t.equal((await get(s.h.port, 'unknown.test')).body, '503 Service Unavailable\n', 'over the cap: not read, the short text')
  rmSync(join(html, 'errors', '50x.html'))
  mkdirSync(join(html, 'errors', '50x.html'))
  await page.load()
  t.equal((await get(s.h.port, 'unknown.test')).status, 503, 'a directory in its place: the short text, no crash')
})
