// Issue 13 items 3-4 on the proxy image as users run it, driven by `proxyctl` inside the proxy
// container (docker exec, the admin socket), under continuous load of 20 clients (GET + POST):
// a 2 s pause loses nothing and costs the paused requests about the pause; --max-hold gives 503
// with Retry-After and nothing else is lost; maintenance lets an allowed client address through
// and survives a proxy restart. The proxy's network, 198.51.100.0/24 (TEST-NET-2), gives client
// containers real source addresses (as promises.test.ts); the host's requests arrive from its gateway.
import t from 'tap'
import { docker, requireDocker, runProxyImage, uniqueName } from '../support/docker.ts'
import { get } from '../support/http-client.ts'
import { TEST_APP_IMAGE, TEST_LABEL } from '../support/images.ts'
import { describeFailures, startLoad } from '../support/load.ts'
import { freePort } from '../support/ports.ts'
import { waitFor } from '../support/wait.ts'

const SUBNET = '198.51.100.0/24'
const ALLOWED_IP = '198.51.100.200'
const OTHER_IP = '198.51.100.201'
// One request per Host to the proxy container by name; prints {host: {status, body, retryAfter}} as JSON.
const CLIENT_SCRIPT = `const http = require('node:http')
const one = (target, host) => new Promise((resolve, reject) => {
  http.get({ host: target, port: 80, path: '/', headers: { host } }, (r) => {
    let body = ''; r.on('data', (c) => { body += c }); r.on('end', () => { resolve({ status: r.statusCode, body, retryAfter: r.headers['retry-after'] }) })
  }).on('error', reject)
})
;(async () => { const out = {}; for (const h of process.argv.slice(2)) out[h] = await one(process.argv[1], h); console.log(JSON.stringify(out)) })()`

interface Answer { status: number, body: string, retryAfter?: string }

if (requireDocker(t)) {
  const net = uniqueName('tc')
  const volume = uniqueName('tc-data')
  await docker('network', 'create', '--label', `${TEST_LABEL}=1`, '--subnet', SUBNET, net)
  await docker('volume', 'create', '--label', `${TEST_LABEL}=1`, volume)
  t.teardown(async () => {
    const attached = await docker('ps', '-aq', '--filter', `network=${net}`).catch(() => '')
    if (attached !== '') await docker('rm', '-f', ...attached.split('\n')).catch(() => {})
    await docker('network', 'rm', net).catch(() => {})
    await docker('volume', 'rm', volume).catch(() => {})
  })
  const port = await freePort()
  const edge = await runProxyImage(t, {
    network: net,
    publish: { [port]: 80 },
    env: { HTTPS_PORT: 'off', HISTORY_FILE: '/data/history.jsonl' },
    args: ['-v', `${volume}:/data`]
  })
  const proxyAnswers = async (): Promise<void> => {
    await waitFor(async () => (await get(port, 'nobody.test').catch(() => undefined))?.status === 503, { timeoutMs: 30_000, what: 'the proxy container answering' })
  }
  await proxyAnswers()
  const proxyctl = async (...args: string[]): Promise<string> => await docker('exec', edge, 'proxyctl', ...args)
  const app = async (name: string, env: Record<string, string>): Promise<string> => {
    const args = ['run', '-d', '--name', name, '--label', `${TEST_LABEL}=1`, '--network', net]
    for (const [k, v] of Object.entries(env)) args.push('-e', `${k}=${v}`)
    return await docker(...args, TEST_APP_IMAGE)
  }
  const routed = async (host: string): Promise<void> => {
    await waitFor(async () => (await get(port, host).catch(() => undefined))?.status === 200, { timeoutMs: 20_000, what: `${host} routed` })
  }
  const fromClient = async (ip: string, ...hosts: string[]): Promise<Record<string, Answer>> =>
    JSON.parse(await docker('run', '--rm', '--label', `${TEST_LABEL}=1`, '--network', net, '--ip', ip, TEST_APP_IMAGE, 'node', '-e', CLIENT_SCRIPT, edge, ...hosts)) as Record<string, Answer>
  interface Control { pause?: { held: number }, maintenance?: { allow: string[], customPage: boolean } }
  const control = async (): Promise<Record<string, Control>> =>
    (JSON.parse(await proxyctl('status', '--json')) as { trafficControl?: Record<string, Control> }).trafficControl ?? {}

  const pausedApp = uniqueName('paused')
  await app(pausedApp, { VIRTUAL_HOST: 'pause.test', APP_VERSION: 'p' })
  await app(uniqueName('other'), { VIRTUAL_HOST: 'other.test', APP_VERSION: 'o' })
  await app(uniqueName('maint'), { VIRTUAL_HOST: 'maint.test', APP_VERSION: 'm' })
  await Promise.all([routed('pause.test'), routed('other.test'), routed('maint.test')])

  t.test('pause for 2 s under 20 clients (GET + POST): 0 failed, the paused requests wait about the pause', async (t) => {
    const load = startLoad({ port, host: 'pause.test', clients: 20, maxDurationMs: 60_000 })
    await waitFor(() => load.count() > 100, { what: 'load under way' })
    // By the container's name: the CLI resolves it to the host it serves.
    t.match(await proxyctl('pause', pausedApp, '--max-hold', '30s'), /Paused pause\.test/)
    const pausedAt = Date.now()
    const held = await waitFor(async () => { const c = (await control())['pause.test']; return c?.pause !== undefined && c.pause.held >= 10 ? c.pause.held : undefined }, { what: 'requests held' })
    t.ok(held >= 10, `${held} requests held (status --json)`)
    const countPaused = load.count()
    // The pause itself: 2 s from when it took effect.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, pausedAt + 2_000 - Date.now())))
    const resumeAt = Date.now()
    t.equal(load.count(), countPaused, 'no request of the paused host was answered during the pause')
    t.match(await proxyctl('resume', 'pause.test'), /Resumed pause\.test/)
    await waitFor(() => load.count() > countPaused + 200, { what: 'load after resume' })
    const r = await load.stop()
    t.equal(r.failures.length, 0, `failed requests: ${describeFailures(r)}`)
    // Held: sent before the resume, answered after it. Each client had one (the pause lasted 2 s).
    const paused = r.samples.filter((s) => s.startMs < resumeAt && s.endMs >= resumeAt)
    t.equal(paused.length, 20, 'one held request per client')
    t.ok(paused.every((s) => s.endMs - resumeAt < 1_500), `all answered within 1.5 s of the resume command (the slowest ${Math.max(...paused.map((s) => s.endMs - resumeAt))} ms; docker exec included)`)
    t.ok(r.samples.filter((s) => s.startMs > pausedAt && s.startMs < resumeAt).every((s) => s.endMs >= resumeAt), 'none sent during the pause was answered before the resume')
    const waits = paused.map((s) => s.endMs - s.startMs).sort((a, b) => a - b)
    const longest = waits[waits.length - 1]!
    t.ok(longest >= 1_900 && longest < 3_500, `the longest held request took ${longest} ms for a 2 s pause (median ${waits[waits.length >> 1]} ms over ${waits.length})`)
    const before = r.samples.filter((s) => s.endMs < pausedAt - 500)
    t.ok(before.length > 50 && before.every((s) => s.endMs - s.startMs < 1_500), 'requests before the pause were not slowed')
  })

  t.test('past --max-hold: 503 with Retry-After for the paused host; nothing lost on another host', async (t) => {
    const others = startLoad({ port, host: 'other.test', clients: 20, maxDurationMs: 30_000 })
    await waitFor(() => others.count() > 50, { what: 'load on other.test' })
    await proxyctl('pause', 'pause.test', '--max-hold', '1s', '--max-queued', '1000')
    const started = Date.now()
    const answers = await Promise.all(Array.from({ length: 10 }, async () => await get(port, 'pause.test')))
    const waited = Date.now() - started
    t.same(answers.map((a) => a.status), Array(10).fill(503), 'every held request answered 503')
    t.ok(answers.every((a) => a.headers['retry-after'] === '5'), 'with Retry-After')
    t.ok(waited >= 900 && waited < 3_000, `after the max hold (${waited} ms)`)
    await proxyctl('resume', 'pause.test')
    t.equal((await get(port, 'pause.test')).status, 200, 'served again after resume')
    const r = await others.stop()
    t.equal(r.failures.length, 0, `other.test: ${describeFailures(r)}`)
    t.ok(r.total > 100, `${r.total} requests to other.test meanwhile`)
  })

  t.test('maintenance on with an allowed address: 503 + page + Retry-After for others; kept across a proxy restart; off restores routing', async (t) => {
    const page = '<!doctype html><title>later</title><h1>Migrating: back at 03:00</h1>'
    await docker('exec', edge, 'sh', '-c', `printf '%s' '${page}' > /tmp/maintenance.html`)
    t.match(await proxyctl('maintenance', 'on', 'maint.test', '--allow', `${ALLOWED_IP}/32`, '--page', '/tmp/maintenance.html'), /Maintenance on for maint\.test/)
    const check = async (when: string): Promise<void> => {
      const fromHost = await get(port, 'maint.test')
      t.equal(fromHost.status, 503, `${when}: the host's client gets 503`)
      t.equal(fromHost.body, page, `${when}: the user's page`)
      t.match(fromHost.headers['content-type'], /^text\/html/)
      t.ok(Number(fromHost.headers['retry-after']) > 0, `${when}: Retry-After`)
      const allowed = await fromClient(ALLOWED_IP, 'maint.test', 'other.test')
      t.equal(allowed['maint.test']?.status, 200, `${when}: the allowed address reaches the app`)
      t.equal((JSON.parse(allowed['maint.test']!.body) as { version: string }).version, 'm')
      const other = await fromClient(OTHER_IP, 'maint.test', 'other.test')
      t.equal(other['maint.test']?.status, 503, `${when}: another address on the same network does not`)
      t.equal(other['other.test']?.status, 200, `${when}: other hosts are served`)
      t.match((await control())['maint.test'], { maintenance: { allow: [`${ALLOWED_IP}/32`], customPage: true } }, `${when}: in status --json`)
    }
    await check('on')
    t.match(await proxyctl('status'), /MAINTENANCE since .*custom page, allowed: 198\.51\.100\.200\/32/)
    await docker('restart', '-t', '5', edge)
    await proxyAnswers()
    await routed('other.test')
    await check('after a proxy restart')
    t.match(await proxyctl('maintenance', 'off', 'maint.test'), /Maintenance off for maint\.test/)
    t.equal((await get(port, 'maint.test')).status, 200, 'routing restored')
    t.same(await control(), {}, 'nothing left in status')
  })
}
