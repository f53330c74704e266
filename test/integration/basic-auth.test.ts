import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createRequire } from 'node:module'
import bcrypt from 'bcryptjs'
import { pino } from 'pino'
import t, { type Test } from 'tap'
import { BasicAuthStore, type AuthVerdict, type BasicAuthOptions } from '../../src/proxy/basic-auth.ts'
import { get } from '../support/http-client.ts'
import { route, startHarness } from '../support/proxy-harness.ts'
import { startUpstream } from '../support/upstream.ts'
import { waitFor } from '../support/wait.ts'

// Issue 10, item 5: bcrypt off the event loop, no user enumeration by timing, failures slowed down
// per address, and a success cache that junk cannot grow. The store runs its real worker pool.

const require = createRequire(import.meta.url)
const apacheMd5 = require('apache-md5') as (password: string) => string
const apacheCrypt = require('apache-crypt') as (password: string) => string
const log = pino({ level: 'silent' })
const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`
const sha = (password: string): string => `{SHA}${require('node:crypto').createHash('sha1').update(password).digest('base64') as string}`

async function storeWith (t: Test, files: Record<string, string>, options: Partial<BasicAuthOptions> = {}): Promise<{ store: BasicAuthStore, dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'pxt-auth-'))
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text)
  const store = new BasicAuthStore(dir, log, options)
  await store.load()
  t.teardown(async () => { await store.stop(); rmSync(dir, { recursive: true, force: true }) })
  return { store, dir }
}

t.test('verdicts for every htpasswd format, open hosts and missing credentials', async (t) => {
  const { store } = await storeWith(t, {
    'secret.test': [`b:${bcrypt.hashSync('pw-b', 4)}`, `m:${apacheMd5('pw-m')}`, `s:${sha('pw-s')}`, `c:${apacheCrypt('pw-c')}`].join('\n') + '\n'
  })
  for (const u of ['b', 'm', 's', 'c']) {
    t.equal(await store.check('secret.test', '/', basic(u, `pw-${u}`), '192.0.2.1'), 'ok', `${u}: right password`)
    t.equal(await store.check('secret.test', '/', basic(u, 'wrong'), `192.0.2.${u.charCodeAt(0)}`), 'denied', `${u}: wrong password`)
  }
  t.equal(await store.check('open.test', '/', undefined, '192.0.2.1'), 'open')
  t.equal(await store.check('secret.test', '/', undefined, '192.0.2.1'), 'denied')
})

/** The longest the event loop went without running a 1 ms interval, until stop(). */
function stallMonitor (): { stop: () => number } {
  let last = performance.now()
  let max = 0
  const tick = (): void => { const now = performance.now(); max = Math.max(max, now - last); last = now }
  const timer = setInterval(tick, 1)
  return { stop: () => { tick(); clearInterval(timer); return max } }
}

t.test('wrong bcrypt passwords do not block the event loop', async (t) => {
  const hash = bcrypt.hashSync('right', 10)
  const start = performance.now()
  bcrypt.compareSync('wrong', hash)
  const oneBcryptMs = performance.now() - start
  const measure = async (store: BasicAuthStore, checks: number): Promise<{ stallMs: number, verdicts: AuthVerdict[] }> => {
    await store.check('slow.test', '/', basic('alice', 'warm-up'), '198.51.100.200') // threads started outside the measurement
    const monitor = stallMonitor()
    const verdicts = await Promise.all(Array.from({ length: checks }, async (_, i) => await store.check('slow.test', '/', basic('alice', `guess-${i}`), `198.51.100.${i}`)))
    return { stallMs: monitor.stop(), verdicts }
  }
  // The control: verifying on the main thread (the old behaviour) stalls the loop for every check.
  const inline = await measure((await storeWith(t, { 'slow.test': `alice:${hash}\n` }, { inline: true })).store, 5)
  t.ok(inline.stallMs > 3 * oneBcryptMs, `control: inline, 5 checks stall the loop ${inline.stallMs.toFixed(0)} ms (one bcrypt: ${oneBcryptMs.toFixed(0)} ms)`)
  // A behaviour, not a speed: below one bcrypt's time, where the old code stalled for all of them.
  const pooled = await measure((await storeWith(t, { 'slow.test': `alice:${hash}\n` }, { threads: 2, maxQueue: 20 })).store, 20)
  t.same(pooled.verdicts, Array(20).fill('denied'))
  t.ok(pooled.stallMs < oneBcryptMs, `pooled: longest stall ${pooled.stallMs.toFixed(0)} ms while 20 bcrypt checks ran`)
})

t.test('an unknown user costs a hash of the file\'s own scheme, like a known one', async (t) => {
  const { store } = await storeWith(t, { 'secret.test': `cheap:${sha('x')}\nalice:${bcrypt.hashSync('pw', 6)}\n` })
  const before = store.stats.verifications
  t.equal(await store.check('secret.test', '/', basic('mallory', 'pw'), '192.0.2.1'), 'denied')
  t.equal(store.stats.verifications, before + 1, 'a verification ran for the unknown user')
  t.equal(await store.check('secret.test', '/', basic('mallory', 'pw'), '192.0.2.1'), 'denied', 'the decoy\'s password does not let an unknown user in')
  t.equal(await store.check('secret.test', '/', basic('alice', 'nope'), '192.0.2.2'), 'denied')
  t.equal(store.stats.verifications, before + 3)
  t.equal(store.stats.cached, 0)
})

t.test('repeated failures from one address are throttled without hashing, and released after the window', async (t) => {
  let now = 1_000_000
  const { store } = await storeWith(t, { 'secret.test': `alice:${sha('right')}\n` }, { maxFailures: 3, failureWindowMs: 60_000, now: () => now })
  t.equal(await store.check('secret.test', '/', basic('alice', 'right'), '203.0.113.9'), 'ok', 'a success cached before the attack')
  for (let i = 0; i < 3; i++) t.equal(await store.check('secret.test', '/', basic('alice', `guess-${i}`), '203.0.113.9'), 'denied')
  const paid = store.stats.verifications
  t.equal(await store.check('secret.test', '/', basic('alice', 'guess-4'), '203.0.113.9'), 'throttled')
  t.equal(await store.check('secret.test', '/', 'Basic ###', '203.0.113.9'), 'throttled', 'malformed values too')
  t.equal(store.stats.verifications, paid, 'throttled answers cost no hash')
  t.equal(store.retryAfter('throttled', '203.0.113.9'), 60)
  t.equal(store.retryAfter('busy', '203.0.113.9'), 1)
  t.equal(await store.check('secret.test', '/', basic('alice', 'right'), '203.0.113.9'), 'ok', 'cached credentials still pass (shared NAT addresses)')
  t.equal(await store.check('secret.test', '/', basic('alice', 'guess-5'), '203.0.113.10'), 'denied', 'other addresses are unaffected')
  now += 60_000
  t.equal(await store.check('secret.test', '/', basic('alice', 'guess-6'), '203.0.113.9'), 'denied', 'hashed again once the window has passed')
  t.equal(store.stats.verifications, paid + 2)
})

t.test('junk cannot grow the success cache, and the cache is bounded', async (t) => {
  const users = Array.from({ length: 20 }, (_, i) => `u${i}:${sha(`pw${i}`)}`).join('\n')
  const { store } = await storeWith(t, { 'secret.test': users + '\n' }, { cacheEntries: 5, maxFailures: 1_000 })
  for (let i = 0; i < 200; i++) await store.check('secret.test', '/', `Basic ${Buffer.from(`u${i % 20}:junk${i}`).toString('base64')}`, '192.0.2.1')
  for (let i = 0; i < 50; i++) await store.check('secret.test', '/', `Basic ${'A'.repeat(i * 97)}==`, '192.0.2.1')
  t.equal(store.stats.cached, 0, 'failures are never cached')
  for (let i = 0; i < 20; i++) t.equal(await store.check('secret.test', '/', basic(`u${i}`, `pw${i}`), '192.0.2.1'), 'ok')
  t.equal(store.stats.cached, 5, 'successes are held in a bounded LRU')
})

t.test('malformed and oversized Authorization values are denied without hashing', async (t) => {
  const { store } = await storeWith(t, { 'secret.test': `alice:${sha('pw')}\n` }, { maxFailures: 1_000 })
  for (const v of ['Bearer x', 'Basic', 'Basic !!!', `Basic ${Buffer.from('nocolon').toString('base64')}`, `Basic ${'QUFB'.repeat(1_100)}`]) {
    t.equal(await store.check('secret.test', '/', v, '192.0.2.1'), 'denied', v.slice(0, 20))
  }
  t.equal(store.stats.verifications, 0)
})

t.test('concurrent requests with the same credentials share one verification', async (t) => {
  const { store } = await storeWith(t, { 'secret.test': `alice:${bcrypt.hashSync('pw', 6)}\n` })
  const verdicts = await Promise.all(Array.from({ length: 6 }, async () => await store.check('secret.test', '/', basic('alice', 'pw'), '192.0.2.1')))
  t.same(verdicts, Array(6).fill('ok'))
  t.equal(store.stats.verifications, 1)
})

t.test('a full verification queue answers busy at once', async (t) => {
  const { store } = await storeWith(t, { 'slow.test': `alice:${bcrypt.hashSync('pw', 10)}\n` }, { threads: 1, maxQueue: 1 })
  const pending = [0, 1].map(async (i) => await store.check('slow.test', '/', basic('alice', `g${i}`), `192.0.2.${i}`))
  t.equal(await store.check('slow.test', '/', basic('alice', 'g2'), '192.0.2.2'), 'busy')
  t.same(await Promise.all(pending), ['denied', 'denied'])
  t.equal(await store.check('slow.test', '/', basic('alice', 'pw'), '192.0.2.3'), 'ok', 'and serves again once it drains')
})

t.test('a changed htpasswd file is reloaded and clears the cache', async (t) => {
  const { store, dir } = await storeWith(t, { 'secret.test': `alice:${sha('old')}\n` })
  store.watch()
  t.equal(await store.check('secret.test', '/', basic('alice', 'old'), '192.0.2.1'), 'ok')
  writeFileSync(join(dir, 'secret.test'), `alice:${sha('new')}\n`)
  await waitFor(async () => await store.check('secret.test', '/', basic('alice', 'new'), '192.0.2.1') === 'ok', { what: 'the new password' })
  t.equal(await store.check('secret.test', '/', basic('alice', 'old'), '192.0.2.1'), 'denied', 'the old one no longer passes')
  writeFileSync(join(dir, 'other.test'), `bob:${sha('b')}\n`)
  await waitFor(async () => await store.check('other.test', '/', undefined, '192.0.2.1') === 'denied', { what: 'the new file' })
})

// Issue 15, item 1: files named as nginx-proxy's nginx.tmpl names them ("location" template):
// /etc/nginx/htpasswd/<VIRTUAL_HOST>, the SHA-1 (hex) of the whole entry, '~' included, for a
// regex host, and <file>_<SHA-1 of VIRTUAL_PATH> for one location, which then replaces <file>.
const sha1hex = (text: string): string => require('node:crypto').createHash('sha1').update(text).digest('hex') as string
const auth = (user: string, password: string): { headers: Record<string, string> } => ({ headers: { authorization: basic(user, password) } })

async function proxyWith (t: Test, files: Record<string, string>): Promise<{ h: Awaited<ReturnType<typeof startHarness>>, up: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'pxt-htpasswd-'))
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text)
  const up = await startUpstream((req, res) => { res.end(`app ${req.url ?? ''}`) })
  const h = await startHarness({ htpasswdDir: dir })
  t.teardown(async () => { await h.stop(); await up.close(); rmSync(dir, { recursive: true, force: true }) })
  return { h, up: up.port }
}

t.test('a regex VIRTUAL_HOST is protected by the file named by the SHA-1 of the regex, "~" included', async (t) => {
  const regex = '~^secret\\..*\\.test$'
  // nginx-proxy's own test fixture: ~^regex.*\.nginx-proxy\.example$ -> 561032515ede3ab3a015edfb244608b72409c430.
  t.equal(sha1hex('~^regex.*\\.nginx-proxy\\.example$'), '561032515ede3ab3a015edfb244608b72409c430')
  const { h, up } = await proxyWith(t, { [sha1hex(regex)]: `alice:${sha('pw')}\n` })
  h.apply([route(regex, [up]), route('open.test', [up])])
  await h.waitReady(1)
  const none = await get(h.port, 'secret.a.test')
  t.equal(none.status, 401)
  t.equal(none.headers['www-authenticate'], 'Basic realm="Restricted access"', 'nginx-proxy\'s realm for a regex host')
  t.equal((await get(h.port, 'secret.b.test', '/x', auth('alice', 'wrong'))).status, 401)
  const ok = await get(h.port, 'secret.b.test', '/x', auth('alice', 'pw'))
  t.equal(ok.status, 200)
  t.equal(ok.body, 'app /x')
  t.equal((await get(h.port, 'open.test')).status, 200, 'other hosts stay open')
})

t.test('a regex host whose file carries the regex\'s own name (before nginx-proxy 1.7) is not served open', async (t) => {
  const regex = '~^legacy\\..*$'
  const { h, up } = await proxyWith(t, { [regex]: `alice:${sha('pw')}\n` })
  h.apply([route(regex, [up])])
  await h.waitReady(1)
  t.equal((await get(h.port, 'legacy.test')).status, 401)
  t.equal((await get(h.port, 'legacy.test', '/', auth('alice', 'pw'))).status, 200)
})

t.test('a VIRTUAL_PATH file <host>_<SHA-1 of the path> protects that location alone, with the path in the realm', async (t) => {
  const { h, up } = await proxyWith(t, { [`paths.test_${sha1hex('/admin/')}`]: `admin:${sha('a-pw')}\n` })
  h.apply([route('paths.test', [up]), route('paths.test', [up], { path: '/admin/' })])
  await h.waitReady(1)
  t.equal((await get(h.port, 'paths.test', '/')).status, 200, 'the host has no file: / is open')
  const none = await get(h.port, 'paths.test', '/admin/users')
  t.equal(none.status, 401)
  t.equal(none.headers['www-authenticate'], 'Basic realm="Restricted paths.test/admin/"', 'nginx-proxy: "Restricted <host><path>"')
  t.equal((await get(h.port, 'paths.test', '/admin/users', auth('admin', 'a-pw'))).status, 200)
  t.equal((await get(h.port, 'paths.test', '/%2e%2e/admin/users')).status, 400, 'no walking around the prefix')
})

t.test('with both files, a location\'s own file replaces the host\'s (nginx-proxy\'s if / else if)', async (t) => {
  const { h, up } = await proxyWith(t, {
    'both.test': `user:${sha('u-pw')}\n`,
    [`both.test_${sha1hex('/admin/')}`]: `admin:${sha('a-pw')}\n`
  })
  h.apply([route('both.test', [up]), route('both.test', [up], { path: '/admin/' })])
  await h.waitReady(1)
  const root = await get(h.port, 'both.test', '/')
  t.equal(root.status, 401)
  t.equal(root.headers['www-authenticate'], 'Basic realm="Restricted both.test"')
  t.equal((await get(h.port, 'both.test', '/', auth('user', 'u-pw'))).status, 200)
  t.equal((await get(h.port, 'both.test', '/', auth('admin', 'a-pw'))).status, 401, 'the path file does not open the host')
  t.equal((await get(h.port, 'both.test', '/admin/', auth('user', 'u-pw'))).status, 401, 'the host file does not open the path')
  t.equal((await get(h.port, 'both.test', '/admin/', auth('admin', 'a-pw'))).status, 200)
})

t.test('a regex host\'s path file is <SHA-1 of the regex>_<SHA-1 of the path>, realm "Restricted <SHA-1><path>"', async (t) => {
  const regex = '~^api\\.'
  const file = `${sha1hex(regex)}_${sha1hex('/v2/')}`
  const { h, up } = await proxyWith(t, { [file]: `bob:${sha('b-pw')}\n` })
  h.apply([route(regex, [up], { path: '/v2/' })])
  await h.waitReady(1)
  const none = await get(h.port, 'api.example.test', '/v2/x')
  t.equal(none.status, 401)
  t.equal(none.headers['www-authenticate'], `Basic realm="Restricted ${sha1hex(regex)}/v2/"`)
  t.equal((await get(h.port, 'api.example.test', '/v2/x', auth('bob', 'b-pw'))).status, 200)
})

t.test('a file that appears later protects its location from then on', async (t) => {
  const { h, up } = await proxyWith(t, {})
  const regex = '~^late\\.'
  h.apply([route(regex, [up])])
  await h.waitReady(1)
  t.equal((await get(h.port, 'late.test')).status, 200)
  writeFileSync(join(h.auth!.dir, sha1hex(regex)), `alice:${sha('pw')}\n`)
  await waitFor(async () => (await get(h.port, 'late.test')).status === 401, { what: 'the new file to protect the regex host' })
})
