// Upstream lifecycle under continuous load (20 clients, GETs mixed with 250 ms POSTs).
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import t from 'tap'
import { docker, dockerAvailable, requireDocker, runApp, uniqueName } from '../support/docker.ts'
import { TEST_APP_IMAGE } from '../support/images.ts'
import { get } from '../support/http-client.ts'
import { describeFailures, startLoad } from '../support/load.ts'
import { CLI, startProxyProcess } from '../support/proxy-process.ts'
import { waitFor } from '../support/wait.ts'

const execFileP = promisify(execFile)

if (requireDocker(t)) {
  const proxy = await startProxyProcess(t)
  const routedBy = async (host: string, count: number): Promise<void> => {
    await waitFor(async () => {
      const seen = new Set<string>()
      for (let i = 0; i < 4 * count; i++) {
        const r = await get(proxy.port, host)
        if (r.status === 200) seen.add(r.headers['x-app-version'] as string + (JSON.parse(r.body) as { hostname: string }).hostname)
      }
      return seen.size >= count
    }, { timeoutMs: 10_000, what: `${count} upstreams of ${host} answering` })
  }
  const readyAt = (name: string): number | undefined => {
    const line = proxy.logs.find((l) => l.msg === 'Target state changed' && l.name === name && l.to === 'ready')
    return line === undefined ? undefined : Date.parse(line.time as string)
  }

  t.test('a slow-booting app (3 s) started beside the old one: 0 failures, traffic only after its check passes', async (t) => {
    await runApp(t, { name: uniqueName('slow-old'), env: { VIRTUAL_HOST: 'slow.test', APP_VERSION: 'old' } })
    await routedBy('slow.test', 1)
    const load = startLoad({ port: proxy.port, host: 'slow.test' })
    const newName = uniqueName('slow-new')
    const startedAt = Date.now()
    await runApp(t, { name: newName, env: { VIRTUAL_HOST: 'slow.test', APP_VERSION: 'new', STARTUP_DELAY_MS: '3000' }, labels: { 'proxyctl.health.path': '/hc' } })
    const ready = await waitFor(() => readyAt(newName), { timeoutMs: 15_000, what: 'the new container ready' })
    await waitFor(() => load.count() > 0 && Date.now() > ready + 1_500)
    const r = await load.stop()
    t.equal(r.failures.length, 0, `failed requests: ${describeFailures(r)}`)
    t.ok(ready - startedAt >= 2_500, `admitted ${ready - startedAt} ms after start (boots in 3 s)`)
    const early = r.samples.filter((s) => s.version === 'new' && s.endMs < ready)
    t.equal(early.length, 0, 'no response from the new version before it was admitted')
    t.ok((r.byVersion.new ?? 0) > 0, `new version served ${r.byVersion.new ?? 0} of ${r.total}`)
  })

  t.test('docker stop of one of two graceful replicas: 0 failures, out of rotation at the kill event', async (t) => {
    const a = uniqueName('grace-a')
    const aId = await runApp(t, { name: a, env: { VIRTUAL_HOST: 'grace.test', APP_VERSION: 'a', ON_SIGTERM: 'graceful' } })
    await runApp(t, { name: uniqueName('grace-b'), env: { VIRTUAL_HOST: 'grace.test', APP_VERSION: 'b', ON_SIGTERM: 'graceful' } })
    await routedBy('grace.test', 2)
    const load = startLoad({ port: proxy.port, host: 'grace.test' })
    await waitFor(() => load.count() > 100, { what: 'load under way' })
    const stopAt = Date.now()
    await docker('stop', '-t', '10', aId)
    await waitFor(() => Date.now() > stopAt + 1_500)
    const r = await load.stop()
    t.equal(r.failures.length, 0, `failed requests: ${describeFailures(r)}`)
    const withdrawn = await proxy.waitForLog((l) => l.msg === 'Target state changed' && l.name === a && l.to === 'draining')
    t.match(String(withdrawn.reason), /kill event/, 'withdrawn on the kill event')
    t.equal(r.samples.filter((s) => s.version === 'a' && s.startMs > stopAt + 500).length, 0, 'no new requests to the stopped replica')
  })

  // The proxy must withdraw a SIGKILLed replica within this long of `docker kill` (the kill and
  // die events reach it within milliseconds, after the docker CLI's own start-up; its health checks
  // alone would take 2 s or more).
  const WITHDRAWAL_BUDGET_MS = 1_500
  // Requests in flight at the kill: load POSTs are held 250 ms, so they started at most this long before.
  const IN_FLIGHT_MS = 1_000
  t.test(`docker kill (SIGKILL) of one of two replicas: at most one failure per client (what was in flight), all of them started within ${IN_FLIGHT_MS} ms before to ${WITHDRAWAL_BUDGET_MS} ms after the kill`, async (t) => {
    const aId = await runApp(t, { name: uniqueName('kill-a'), env: { VIRTUAL_HOST: 'kill.test', APP_VERSION: 'a' } })
    await runApp(t, { name: uniqueName('kill-b'), env: { VIRTUAL_HOST: 'kill.test', APP_VERSION: 'b' } })
    await routedBy('kill.test', 2)
    const clients = 20
    const load = startLoad({ port: proxy.port, host: 'kill.test', clients, maxDurationMs: 30_000 })
    await waitFor(() => load.count() > 300, { what: 'load under way' })
    const killAt = Date.now()
    await docker('kill', aId)
    // The requests in flight on the killed replica are lost (about one per client); the window
    // after the kill shows that nothing else is.
    await waitFor(() => Date.now() > killAt + 6_000, { timeoutMs: 10_000 })
    const r = await load.stop()
    t.comment(`SIGKILL of one replica: ${r.failures.length} failed of ${r.total} (${describeFailures(r)})`)
    // Each client has one request at a time: more failures than clients means requests sent after the kill failed.
    t.ok(r.failures.length <= clients, `${r.failures.length} failed of ${r.total}, ${clients} clients`)
    t.same(r.failures.filter((f) => f.method !== 'POST').map((f) => `${f.method} ${f.status} ${f.error ?? ''}`), [], 'only in-flight POSTs can fail (GETs are retried)')
    const withdrawn = await proxy.waitForLog((l) => l.msg === 'Target state changed' && l.containerId === aId && l.to === 'draining')
    const withdrawnAfterMs = Date.parse(String(withdrawn.time)) - killAt
    t.ok(withdrawnAfterMs <= WITHDRAWAL_BUDGET_MS, `withdrawn ${withdrawnAfterMs} ms after docker kill (budget ${WITHDRAWAL_BUDGET_MS} ms): ${String(withdrawn.reason)}`)
    // Only what was in flight at the kill, or sent before the proxy could know, may fail.
    t.same(r.failures.map((f) => f.startMs - killAt).filter((ms) => ms < -IN_FLIGHT_MS || ms > WITHDRAWAL_BUDGET_MS), [],
      'no failed request started outside the window (ms relative to the kill)')
  })

  t.test('a container with a Docker HEALTHCHECK is admitted only once Docker reports it healthy', async (t) => {
    const name = uniqueName('dockerhc')
    const id = await docker('run', '-d', '--name', name, '--label', 'com.proxyctl.test=1', '-e', 'VIRTUAL_HOST=dockerhc.test',
      '--health-cmd', 'node -e "fetch(\'http://127.0.0.1:3000/hc\').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"',
      '--health-interval', '3s', TEST_APP_IMAGE)
    t.teardown(async () => { await docker('rm', '-f', id).catch(() => {}) })
    // The proxy's own check passes at once; Docker's first check runs after 3 s.
    await proxy.waitForLog((l) => l.msg === 'Target added' && l.name === name)
    // Every answer given while Docker said `starting` before and after it must be 503.
    const health = async (): Promise<string> => await docker('inspect', '-f', '{{.State.Health.Status}}', id)
    const whileStarting: number[] = []
    for (const until = Date.now() + 10_000; Date.now() < until;) {
      if (await health() !== 'starting') break
      const status = (await get(proxy.port, 'dockerhc.test')).status
      if (await health() === 'starting') whileStarting.push(status)
    }
    t.ok(whileStarting.length > 0, `${whileStarting.length} requests while Docker said starting`)
    t.same([...new Set(whileStarting)], [503], 'not routed while Docker says starting')
    await waitFor(async () => (await get(proxy.port, 'dockerhc.test')).status === 200, { timeoutMs: 15_000, what: 'admitted after Docker health' })
    t.equal(await docker('inspect', '-f', '{{.State.Health.Status}}', id), 'healthy')
    // Log lines are flushed in batches: wait for the line rather than read what has arrived.
    const ready = await proxy.waitForLog((l) => l.msg === 'Target state changed' && l.name === name && l.to === 'ready')
    t.match(String(ready.reason), /Docker reports the container healthy|health check passed/)
  })

  t.test('an invalid health label is logged and its default used; the app is still routed', async (t) => {
    const name = uniqueName('badlabel')
    await runApp(t, { name, env: { VIRTUAL_HOST: 'badlabel.test' }, labels: { 'proxyctl.health.interval': 'banana' } })
    await routedBy('badlabel.test', 1)
    const line = await proxy.waitForLog((l) => l.container === name)
    t.match(line.msg, /proxyctl\.health\.interval.*using the default/)
  })
}

if (dockerAvailable()) {
  t.test('proxyctl deploy --container NAME --image IMAGE for a container compose does not manage', async (t) => {
    const proxy = await startProxyProcess(t)
    const name = uniqueName('plain')
    const oldId = await runApp(t, { name, env: { VIRTUAL_HOST: 'plain.test', APP_VERSION: 'plain' }, labels: { 'proxyctl.health.path': '/hc' } })
    await waitFor(async () => (await get(proxy.port, 'plain.test')).status === 200, { what: 'plain.test routed' })
    await docker('tag', TEST_APP_IMAGE, 'proxyctl-test-app:plain-v2')
    t.teardown(async () => { await docker('rmi', 'proxyctl-test-app:plain-v2').catch(() => {}) })
    const load = startLoad({ port: proxy.port, host: 'plain.test', clients: 10 })
    await waitFor(() => load.count() > 100, { what: 'load under way' })
    const r = await execFileP(process.execPath, [CLI, 'deploy', '--container', name, '--image', 'proxyctl-test-app:plain-v2', '--admin-socket', proxy.adminSocket])
    const result = await load.stop()
    t.match(r.stdout, /deployed .* with proxyctl-test-app:plain-v2/)
    t.equal(result.failures.length, 0, `failed requests: ${describeFailures(result)}`)
    const after = await docker('inspect', '-f', '{{.Id}} {{.Config.Image}} {{index .Config.Labels "proxyctl.health.path"}}', name)
    t.teardown(async () => { await docker('rm', '-f', name).catch(() => {}) })
    const [newId, image, label] = after.split(' ')
    t.not(newId, oldId, 'a new container took the old name')
    t.equal(image, 'proxyctl-test-app:plain-v2')
    t.equal(label, '/hc', 'config carried over')
    t.equal((await get(proxy.port, 'plain.test')).status, 200)
  })
}
