// README promises about containers that had no test, checked on the proxy image as users run it:
// one proxy container (METRICS=off, REQUEST_IDS=off, METRICS_LISTEN) on a network whose subnet,
// 198.51.100.0/24 (TEST-NET-2), is outside every range NETWORK_ACCESS=internal lets in, so a
// client container there is an external client with a real source address. The proxy compares
// the TCP peer address (or a PROXY protocol header's), never X-Forwarded-For, with those ranges;
// the proxy's own loopback (docker exec) is an internal client.
import t, { type Test } from 'tap'
import { docker, requireDocker, runProxyImage, uniqueName } from '../support/docker.ts'
import { get } from '../support/http-client.ts'
import { TEST_APP_IMAGE, TEST_LABEL } from '../support/images.ts'
import { describeFailures, startLoad } from '../support/load.ts'
import { freePort } from '../support/ports.ts'
import type { LogLine } from '../support/proxy-process.ts'
import { waitFor } from '../support/wait.ts'

interface AppReply { version: string, headers: Record<string, string | undefined> }

const SUBNET = '198.51.100.0/24'
const EXTERNAL_CLIENT_IP = '198.51.100.200'
// One request per Host to the proxy container by name; prints {host: {status, body}} as JSON.
const CLIENT_SCRIPT = `const http = require('node:http')
const one = (target, host) => new Promise((resolve, reject) => {
  http.get({ host: target, port: 80, path: '/', headers: { host } }, (r) => {
    let body = ''; r.on('data', (c) => { body += c }); r.on('end', () => { resolve({ status: r.statusCode, body }) })
  }).on('error', reject)
})
;(async () => { const out = {}; for (const h of process.argv.slice(2)) out[h] = await one(process.argv[1], h); console.log(JSON.stringify(out)) })()`

if (requireDocker(t)) {
  const net = uniqueName('pub')
  await docker('network', 'create', '--label', `${TEST_LABEL}=1`, '--subnet', SUBNET, net)
  t.teardown(async () => {
    const attached = await docker('ps', '-aq', '--filter', `network=${net}`).catch(() => '')
    if (attached !== '') await docker('rm', '-f', ...attached.split('\n')).catch(() => {})
    await docker('network', 'rm', net).catch(() => {})
  })
  const port = await freePort()
  const metricsPort = await freePort()
  const edge = await runProxyImage(t, {
    network: net,
    publish: { [port]: 80, [metricsPort]: 9100 },
    env: { HTTPS_PORT: 'off', METRICS: 'off', REQUEST_IDS: 'off', METRICS_LISTEN: '0.0.0.0:9100' }
  })
  await waitFor(async () => (await get(port, 'nobody.test').catch(() => undefined))?.status === 503, { timeoutMs: 30_000, what: 'the proxy container answering' })

  const proxyLogs = async (): Promise<LogLine[]> => (await docker('logs', edge)).split('\n').flatMap((l) => {
    try { return [JSON.parse(l) as LogLine] } catch { return [] }
  })
  const waitForLog = async (pred: (l: LogLine) => boolean, what: string, timeoutMs = 15_000): Promise<LogLine> =>
    await waitFor(async () => (await proxyLogs()).find(pred), { timeoutMs, intervalMs: 200, what })
  const stateChanges = async (name: string): Promise<LogLine[]> => (await proxyLogs()).filter((l) => l.msg === 'Target state changed' && l.name === name)
  const app = async (t: Test, name: string, env: Record<string, string>, extra: string[] = []): Promise<string> => {
    const args = ['run', '-d', '--name', name, '--label', `${TEST_LABEL}=1`, '--network', net, ...extra]
    for (const [k, v] of Object.entries(env)) args.push('-e', `${k}=${v}`)
    const id = await docker(...args, TEST_APP_IMAGE)
    t.teardown(async () => { await docker('rm', '-f', id).catch(() => {}) })
    return id
  }
  const reply = async (host: string, path = '/', headers: Record<string, string> = {}): Promise<{ status: number, headers: Record<string, unknown>, app: AppReply | undefined }> => {
    const r = await get(port, host, path, { headers })
    return { status: r.status, headers: r.headers, app: r.status === 200 ? JSON.parse(r.body) as AppReply : undefined }
  }
  const routedBy = async (host: string, versions: string[]): Promise<void> => {
    await waitFor(async () => {
      const seen = new Set<string>()
      for (let i = 0; i < 4 * versions.length; i++) {
        const r = await reply(host)
        if (r.app !== undefined) seen.add(r.app.version)
      }
      return versions.every((v) => seen.has(v))
    }, { timeoutMs: 15_000, what: `${versions.join(', ')} answering for ${host}` })
  }
  const setHealth = async (id: string, healthy: boolean): Promise<void> => {
    await docker('exec', id, 'node', '-e', `fetch('http://127.0.0.1:3000/hc/set?healthy=${String(healthy)}', { method: 'POST' }).then((r) => process.exit(r.status === 204 ? 0 : 1), () => process.exit(1))`)
  }

  t.test('NETWORK_ACCESS=internal: "403 for clients outside 127/8, 10/8, 172.16/12, 192.168/16, fc00::/7, fe80::/10, ::1"', async (t) => {
    await app(t, uniqueName('internal'), { VIRTUAL_HOST: 'internal.test', NETWORK_ACCESS: 'internal', APP_VERSION: 'internal' })
    await app(t, uniqueName('open'), { VIRTUAL_HOST: 'open.test', APP_VERSION: 'open' })
    await routedBy('open.test', ['open'])
    // An internal client: the proxy container's own loopback.
    const fromLoopback = async (): Promise<Record<string, { status: number, body: string }>> =>
      JSON.parse(await docker('exec', edge, 'node', '-e', CLIENT_SCRIPT, '127.0.0.1', 'internal.test')) as Record<string, { status: number, body: string }>
    const internal = await waitFor(async () => { const r = await fromLoopback(); return r['internal.test']?.status === 200 ? r : undefined }, { timeoutMs: 15_000, intervalMs: 200, what: 'internal.test routed for a loopback client' })
    t.equal((JSON.parse(internal['internal.test']!.body) as AppReply).version, 'internal', 'a client on 127.0.0.1 reaches the internal app')
    // An external client: a container at 198.51.100.200 on the proxy's network.
    const out = JSON.parse(await docker('run', '--rm', '--label', `${TEST_LABEL}=1`, '--network', net, '--ip', EXTERNAL_CLIENT_IP, TEST_APP_IMAGE,
      'node', '-e', CLIENT_SCRIPT, edge, 'internal.test', 'open.test')) as Record<string, { status: number, body: string }>
    t.equal(out['internal.test']?.status, 403, 'a client at 198.51.100.200 gets 403 from the internal app')
    t.equal(out['open.test']?.status, 200, 'the same client reaches an app without NETWORK_ACCESS')
    t.equal((JSON.parse(out['open.test']!.body) as AppReply).headers['x-real-ip'], EXTERNAL_CLIENT_IP, 'the proxy saw the client at its external address')
  })

  t.test('"A ready container failing its checks becomes unhealthy (no new requests) and returns to ready when it passes again" (Docker HEALTHCHECK)', async (t) => {
    const a = uniqueName('hc-a')
    const aId = await app(t, a, { VIRTUAL_HOST: 'flip.test', APP_VERSION: 'a' }, [
      '--health-cmd', 'node -e "fetch(\'http://127.0.0.1:3000/hc\').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"',
      '--health-interval', '1s', '--health-retries', '1', '--health-timeout', '2s'
    ])
    await app(t, uniqueName('hc-b'), { VIRTUAL_HOST: 'flip.test', APP_VERSION: 'b' })
    await routedBy('flip.test', ['a', 'b'])
    const load = startLoad({ port, host: 'flip.test', clients: 4, maxDurationMs: 40_000 })
    await setHealth(aId, false)
    const unhealthy = await waitForLog((l) => l.msg === 'Target state changed' && l.name === a && l.to === 'unhealthy', `${a} unhealthy`)
    const unhealthyAt = Date.parse(String(unhealthy.time))
    t.match(String(unhealthy.reason), /Docker reports the container unhealthy/)
    t.equal(await docker('inspect', '-f', '{{.State.Health.Status}}', aId), 'unhealthy')
    const countAtUnhealthy = load.count()
    await waitFor(() => load.count() > countAtUnhealthy + 60, { what: 'traffic while a is unhealthy' })
    await setHealth(aId, true)
    const back = await waitForLog((l) => l.msg === 'Target state changed' && l.name === a && l.to === 'ready' && Date.parse(String(l.time)) > unhealthyAt, `${a} ready again`)
    const backAt = Date.parse(String(back.time))
    t.match(String(back.reason), /Docker reports the container healthy/)
    await waitFor(() => load.count() > 0 && Date.now() > backAt + 1_000)
    const r = await load.stop()
    t.equal(r.failures.length, 0, `failed requests: ${describeFailures(r)}`)
    const during = r.samples.filter((s) => s.startMs > unhealthyAt + 50 && s.startMs < backAt)
    t.ok(during.length >= 40, `${during.length} requests while a was unhealthy`)
    t.same(during.filter((s) => s.version === 'a').map((s) => s.startMs - unhealthyAt), [], 'no request started while unhealthy went to a')
    t.ok(r.samples.filter((s) => s.version === 'a' && s.startMs > backAt).length > 0, 'a serves again once re-admitted')
  })

  t.test('"Reload signals (docker kill -s HUP, USR1, USR2, WINCH) do not withdraw it"', async (t) => {
    const a = uniqueName('sig-a')
    const aId = await app(t, a, { VIRTUAL_HOST: 'signals.test', APP_VERSION: 'a', IGNORE_SIGNALS: 'SIGHUP,SIGUSR1' })
    await app(t, uniqueName('sig-b'), { VIRTUAL_HOST: 'signals.test', APP_VERSION: 'b' })
    const sentinel = uniqueName('sentinel')
    const sentinelId = await app(t, sentinel, { VIRTUAL_HOST: 'sentinel.test' })
    await routedBy('signals.test', ['a', 'b'])
    await routedBy('sentinel.test', ['v1'])
    const load = startLoad({ port, host: 'signals.test', clients: 4, maxDurationMs: 30_000 })
    await waitFor(() => load.count() > 20, { what: 'load under way' })
    const signalledAt = Date.now()
    await docker('kill', '-s', 'HUP', aId)
    await docker('kill', '-s', 'USR1', aId)
    // Docker's events arrive in order: once the proxy has acted on the sentinel's later stop, it
    // has seen both kill events for a.
    await docker('stop', '-t', '1', sentinelId)
    const barrier = await waitForLog((l) => l.msg === 'Target state changed' && l.name === sentinel && l.to === 'draining', 'the sentinel withdrawn')
    const barrierAt = Date.parse(String(barrier.time))
    // The load itself must reach a after the barrier (a single probe request answered by a, then a
    // stop of the load, left none of the load's own requests on a on a busy CI machine).
    await waitFor(() => load.seen().some((s) => s.version === 'a' && s.startMs > barrierAt), { what: 'the load answered by a after the signals', timeoutMs: 15_000 })
    const r = await load.stop()
    t.equal(r.failures.length, 0, `failed requests: ${describeFailures(r)}`)
    t.same((await stateChanges(a)).map((l) => `${String(l.to)}: ${String(l.reason)}`).filter((s) => !s.startsWith('ready')), [], 'a never left ready')
    t.ok(r.samples.filter((s) => s.version === 'a' && s.startMs > barrierAt).length > 0, 'a served load requests after both signals were handled')
    t.ok(barrierAt > signalledAt, 'the barrier came after the signals')
    const appLog = await docker('logs', aId)
    t.match(appLog, /SIGHUP received; ignored/, 'the app got SIGHUP')
    t.match(appLog, /SIGUSR1 received; ignored/, 'the app got SIGUSR1')
  })

  t.test('"REQUEST_IDS=off disables it; METRICS=off drops the per-request counters and histograms"', async (t) => {
    await app(t, uniqueName('ids'), { VIRTUAL_HOST: 'ids.test', APP_VERSION: 'ids' })
    await routedBy('ids.test', ['ids'])
    const fresh = await reply('ids.test', '/ids-fresh')
    t.equal(fresh.status, 200)
    t.equal(fresh.headers['x-request-id'], undefined, 'none generated for the client')
    t.equal(fresh.app?.headers['x-request-id'], undefined, 'none generated for the upstream')
    const given = await reply('ids.test', '/ids-given', { 'x-request-id': 'abc-123' })
    t.equal(given.headers['x-request-id'], undefined, 'a client\'s id is not echoed back')
    t.equal(given.app?.headers['x-request-id'], undefined, 'nor forwarded upstream')
    t.equal((await get(port, 'nobody.test')).headers['x-request-id'], undefined, 'nor put on the proxy\'s own answers')
    const line = await waitForLog((l) => l.component === 'access' && l.path === '/ids-fresh', 'the access-log line')
    t.equal(line.requestId, undefined, 'no requestId in the access log')
    for (let i = 0; i < 20; i++) t.equal((await reply('ids.test', `/?i=${i}`)).status, 200)
    const text = (await get(metricsPort, 'localhost', '/metrics')).body
    t.match(text, /^proxyctl_upstreams\{state="ready"\} [1-9]\d*$/m, 'the metrics listener answers, with the upstream gauges')
    t.same(text.split('\n').filter((l) => /^proxyctl_(requests_total|request_duration_seconds_\w+)\{/.test(l)), [], 'no per-request series after 20+ requests')
  })
}
