import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import pino from 'pino'
import { parseMaintenance, parsePause, parseResume } from '../../src/cli/traffic-args.ts'
import { DEFAULT_MAINTENANCE_PAGE, maintenanceAllows, maintenancePage, parseAllowEntry } from '../../src/traffic/maintenance.ts'
import { PolicyStore, type MaintenancePolicy } from '../../src/traffic/policy.ts'
import { TrafficStateFile, trafficStateFileFor } from '../../src/traffic/traffic-state.ts'
import { STATUS_PAGE_HTML } from '../../src/admin/server/status-page.ts'
import { renderTrafficControl } from '../../src/cli/commands/traffic-control.ts'

// Issue 13 items 3-4: the pure parts of pause and maintenance (allow lists, the state file, argv).

const log = pino({ level: 'silent' })

t.test('allow entries: addresses and CIDRs in a canonical form, anything else a clear error', async (t) => {
  const cases: Array<{ desc: string, in: string, out: { cidr: string } | { error: RegExp } }> = [
    { desc: 'an IPv4 address is a /32', in: '203.0.113.7', out: { cidr: '203.0.113.7/32' } },
    { desc: 'an IPv4 CIDR', in: '10.0.0.0/8', out: { cidr: '10.0.0.0/8' } },
    { desc: 'an IPv6 CIDR, lower-cased', in: '2001:DB8::/32', out: { cidr: '2001:db8::/32' } },
    { desc: 'an IPv6 address is a /128', in: '::1', out: { cidr: '::1/128' } },
    { desc: 'a prefix beyond 32 for IPv4', in: '10.0.0.0/33', out: { error: /prefix length must be 0 to 32/ } },
    { desc: 'a prefix that is not a number', in: '10.0.0.0/x', out: { error: /prefix length/ } },
    { desc: 'a host name', in: 'example.com', out: { error: /not an IP address or CIDR/ } },
    { desc: 'an octet out of range', in: '10.0.0.256', out: { error: /not an IP address/ } },
    { desc: 'empty', in: '', out: { error: /not an IP address/ } }
  ]
  for (const c of cases) {
    const got = parseAllowEntry(c.in)
    if ('cidr' in c.out) t.same(got, c.out, c.desc)
    else t.match((got as { error: string }).error, c.out.error, c.desc)
  }
})

t.test('maintenance lets through only peers in the allow list (IPv4, IPv4-mapped IPv6, IPv6)', async (t) => {
  const policy: MaintenancePolicy = { page: undefined, allow: ['198.51.100.0/24', '2001:db8::/32'], since: 0 }
  t.equal(maintenanceAllows(policy, '198.51.100.200'), true)
  t.equal(maintenanceAllows(policy, '::ffff:198.51.100.200'), true, 'a dual-stack listener\'s IPv4 peer')
  t.equal(maintenanceAllows(policy, '2001:db8::5'), true)
  t.equal(maintenanceAllows(policy, '198.51.101.1'), false)
  t.equal(maintenanceAllows(policy, ''), false, 'no peer address (a closed socket)')
  t.equal(maintenanceAllows({ ...policy, allow: [] }, '198.51.100.200'), false)
  t.equal(maintenancePage(policy).toString(), DEFAULT_MAINTENANCE_PAGE, 'the built-in page')
  t.equal(maintenancePage({ ...policy, page: '<p>back at 3</p>' }).toString(), '<p>back at 3</p>')
})

t.test('the state file keeps maintenance only, is written whole, and is read back validated', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'proxyctl-state-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const file = trafficStateFileFor(join(dir, 'history.jsonl'))!
  t.equal(file, join(dir, 'traffic-control.json'))
  t.equal(trafficStateFileFor(undefined), undefined, 'no history file: nothing kept')
  const store = new PolicyStore()
  store.update('a.test', (p) => ({ ...p, maintenance: { page: '<h1>later</h1>', allow: ['10.0.0.0/8'], since: 5 }, pause: { since: 1, maxHoldMs: 10, maxQueued: 1 } }))
  store.update('b.test', (p) => ({ ...p, pause: { since: 1, maxHoldMs: 10, maxQueued: 1 } }))
  const state = new TrafficStateFile(file, log)
  await Promise.all([state.save(store.current), state.save(store.current)])
  t.same(await readdir(dir), ['traffic-control.json'], 'no temporary file left')
  t.same(await new TrafficStateFile(file, log).load(), { 'a.test': { page: '<h1>later</h1>', allow: ['10.0.0.0/8'], since: 5 } }, 'the pause is not kept')
  await writeFile(file, JSON.stringify({ version: 1, maintenance: { 'ok.test': { allow: [], since: 1 }, 'Bad Host': { allow: [] }, 'c.test': { allow: ['nope'] }, 'd.test': { allow: [], page: 3 } } }))
  t.same(await new TrafficStateFile(file, log).load(), { 'ok.test': { page: undefined, allow: [], since: 1 } }, 'invalid entries skipped')
  await writeFile(file, '{not json')
  t.same(await new TrafficStateFile(file, log).load(), {}, 'an unreadable file is ignored')
  t.same(await new TrafficStateFile(join(dir, 'missing.json'), log).load(), {})
  store.update('a.test', (p) => ({ ...p, maintenance: undefined }))
  await state.save(store.current)
  t.same(JSON.parse(await readFile(file, 'utf8')), { version: 1, maintenance: {} })
})

t.test('argv: pause, resume and maintenance with their bounds and clear errors', async (t) => {
  t.same(parsePause(['app.test']), { kind: 'pause', maxHoldMs: 30_000, maxQueued: 1000, target: 'app.test', adminSocket: undefined, proxy: undefined, project: undefined, json: false })
  t.match(parsePause(['web', '--max-hold', '2s', '--max-queued', '5', '-p', 'shop']), { maxHoldMs: 2_000, maxQueued: 5, target: 'web', project: 'shop' })
  t.throws(() => parsePause([]), { code: 'PROXY_ERR_INVALID_OPTION', message: /missing HOST or SERVICE/ })
  t.throws(() => parsePause(['a', '--max-hold', 'soon']), { message: /--max-hold must be a duration/ })
  t.throws(() => parsePause(['a', '--max-hold', '5m']), { message: /--max-hold must be from 1ms to 4m/ })
  t.throws(() => parsePause(['a', '--max-queued', '0']), { message: /positive integer/ })
  t.throws(() => parsePause(['a', 'b']), { message: /unexpected argument "b"/ })
  t.throws(() => parsePause(['a', '--wat']), { code: 'PROXY_ERR_INVALID_OPTION' })
  t.match(parseResume(['app.test', '--json']), { kind: 'resume', target: 'app.test', json: true })
  t.match(parseMaintenance(['on', 'app.test', '--page', 'p.html', '--allow', '10.0.0.0/8', '--allow', '203.0.113.7,10.0.0.0/8']),
    { kind: 'maintenance', on: true, pageFile: 'p.html', allow: ['10.0.0.0/8', '203.0.113.7/32'], target: 'app.test' })
  t.match(parseMaintenance(['off', 'app.test']), { kind: 'maintenance', on: false, target: 'app.test' })
  t.throws(() => parseMaintenance(['app.test']), { message: /maintenance on\|off HOST\|SERVICE/ })
  t.throws(() => parseMaintenance(['on', 'app.test', '--allow', '10.0.0.0/40']), { message: /--allow: .*prefix length must be 0 to 32/ })
  t.throws(() => parseMaintenance(['off', 'app.test', '--allow', '10.0.0.0/8']), { message: /go with "on"/ })
  t.same(parseMaintenance(['--help']), { kind: 'help', topic: 'maintenance' })
})

t.test('status page and proxyctl status show pause and maintenance per host, and nothing when there is none', async (t) => {
  const control = {
    'a.test': {
      pause: { since: '2026-11-30T00:00:00.000Z', held: 3, maxHoldMs: 30_000, maxQueued: 1000 },
      maintenance: { since: '2026-11-30T00:00:00.000Z', allow: ['10.0.0.0/8'], customPage: false }
    }
  }
  // The page's own script, run against a stand-in DOM and admin API.
  const script = /<script>([\s\S]*)<\/script>/.exec(STATUS_PAGE_HTML)![1]!.replace('refresh(); setInterval(refresh, 1000)', 'return refresh()')
  const render = async (trafficControl: unknown): Promise<Record<string, { innerHTML: string, hidden: boolean }>> => {
    const els: Record<string, { innerHTML: string, textContent: string, hidden: boolean }> = {}
    const document = { getElementById: (id: string) => (els[id] ??= { innerHTML: '', textContent: '', hidden: true }) }
    const fetch = async (u: string): Promise<{ json: () => Promise<unknown> }> => ({ json: async () => u.includes('status') ? { version: 't', hosts: [], traffic: {}, trafficControl } : [] })
    await (new Function('document', 'fetch', script) as (d: unknown, f: unknown) => Promise<void>)(document, fetch)
    return els
  }
  const shown = await render(control)
  t.equal(shown['control-section']?.hidden, false)
  t.match(shown.control?.innerHTML, /data-control="paused" data-host="a\.test".*3 held · max hold 30s · max queued 1000/)
  t.match(shown.control?.innerHTML, /data-control="maintenance" data-host="a\.test".*built-in page · allowed: 10\.0\.0\.0\/8/)
  t.equal((await render(undefined))['control-section']?.hidden, true, 'hidden without traffic control (an older proxy too)')
  t.same(renderTrafficControl({}), [])
  t.match(renderTrafficControl(control).join('\n'), /TRAFFIC CONTROL\na\.test {2}PAUSED since 2026-11-30T00:00:00\.000Z: 3 held \(max hold 30s, max queued 1000\)\na\.test {2}MAINTENANCE since .*: built-in page, allowed: 10\.0\.0\.0\/8/)
})
