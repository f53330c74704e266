// Docker Swarm (issue 11, item 3): two proxyctl replicas, each reading the cluster on its own.
// They run as docs/swarm.md documents: a Swarm service on the manager, `--replicas 2`, with a
// host-mode published port (`mode=host`, no published number: each task gets a port of its own on
// the node; the ingress mesh and the service VIP need IPVS, which this machine's kernel lacks).
// Under continuous load split across both (20 clients in all, GETs and 250 ms POSTs): one replica
// killed, a start-first image update, `docker service rm`, and a node drain on a two-node swarm.
// Also docs/swarm.md's stack file, deployed as written (only images, socket path, ports changed).
// The swarm is a Docker engine of its own (scripts/swarm.sh), removed in teardown whatever happens.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { request } from 'undici'
import { PROXY_IMAGE } from '../support/images.ts'
import { describeFailures, startLoad, type LoadResult, type Sample } from '../support/load.ts'
import { SWARM_APP_V1, SWARM_APP_V2, appServiceArgs, joinSwarm, startSwarm, type SwarmNode } from '../support/swarm.ts'
import { requireDocker } from '../support/docker.ts'
import { waitFor } from '../support/wait.ts'

const MANAGER = 'pxt-swarm-replicas'
const WORKER = 'pxt-swarm-replicas-w'
const NET = 'pxt-replicas-net'
const HOST = 'app.test'
const GONE = 'gone.test'
const SPREAD = 'spread.test'
const serviceArgs = appServiceArgs(NET, HOST)

interface AppReply { version: string, hostname: string }
/** One running proxy task: its container on the manager and the node port Swarm gave it. */
interface Replica { id: string, port: number }

if (requireDocker(t)) {
  const node = await startSwarm(t, MANAGER)
  if (node !== undefined) await replicaTests(t, node)
}

async function replicaTests (t: Test, node: SwarmNode): Promise<void> {
  const { docker } = node
  await docker('network', 'create', '-d', 'overlay', '--attachable', NET)
  // The proxy as docs/swarm.md's stack file runs it: a service placed on managers, the node's socket
  // mounted, a host-mode port per task (the node's socket is /sock/docker.sock in scripts/swarm.sh).
  await docker('service', 'create', '-d', '--name', 'edge', '--replicas', '2', '--network', NET, '--no-resolve-image',
    '--constraint', 'node.role==manager', '--publish', 'mode=host,target=80',
    '--mount', 'type=bind,src=/sock/docker.sock,dst=/tmp/docker.sock,readonly', '-e', 'HTTPS_PORT=off', PROXY_IMAGE)
  await docker(...serviceArgs('app', SWARM_APP_V1, { ON_SIGTERM: 'exit' }, 2))

  /** The proxy tasks running now, with their ports (Swarm's choice, read from each container). */
  const replicas = async (): Promise<Replica[]> => {
    const ids = (await docker('ps', '-q', '--filter', 'label=com.docker.swarm.service.name=edge', '--filter', 'status=running')).split('\n').filter((x) => x !== '')
    return await Promise.all(ids.map(async (id) => ({ id, port: Number(await docker('inspect', '-f', '{{(index (index .NetworkSettings.Ports "80/tcp") 0).HostPort}}', id)) })))
  }
  const reply = async (port: number, host = HOST): Promise<AppReply | number | undefined> => {
    try {
      const r = await request(`http://${node.address}:${port}/`, { headers: { host }, headersTimeout: 5_000, bodyTimeout: 5_000 })
      if (r.statusCode !== 200) { await r.body.dump(); return r.statusCode }
      return await r.body.json() as AppReply
    } catch { return undefined }
  }
  /** Until replica `port` answers `host` from exactly `n` distinct tasks (hostnames) of `version`. */
  const servedBy = async (port: number, n: number, version: string, timeoutMs = 60_000, host = HOST): Promise<string[]> => await waitFor(async () => {
    const seen = new Set<string>()
    for (let i = 0; i < 6 * n; i++) {
      const r = await reply(port, host)
      if (typeof r === 'object' && r.version === version) seen.add(r.hostname)
    }
    return seen.size === n ? [...seen].sort() : undefined
  }, { timeoutMs, intervalMs: 100, what: `${n} ${version} tasks of ${host} answering through port ${port}` })
  /** A replica's routing table for `host`: its targets' addresses and states (`proxyctl status --json` in its container). */
  const table = async (r: Replica, host = HOST): Promise<string[]> => {
    const report = JSON.parse(await docker('exec', r.id, 'proxyctl', 'status', '--json')) as { hosts: Array<{ host: string, locations: Array<{ upstreams: Array<{ origin: string, state: string }> }> }> }
    return report.hosts.filter((h) => h.host === host).flatMap((h) => h.locations.flatMap((l) => l.upstreams.map((u) => `${u.origin} ${u.state}`))).sort()
  }
  const updateService = async (service: string, ...args: string[]): Promise<number> => {
    const status = async (): Promise<string> => await docker('service', 'inspect', '-f', '{{if .UpdateStatus}}{{.UpdateStatus.State}} {{.UpdateStatus.StartedAt}}{{end}}', service)
    const before = await status()
    await docker('service', 'update', '-d', '--no-resolve-image', ...args, service)
    await waitFor(async () => { const now = await status(); return now !== before && now.startsWith('completed ') }, { timeoutMs: 90_000, intervalMs: 250, what: `docker service update ${args.join(' ')} ${service} completed` })
    return Date.now()
  }
  /** 10 clients through one replica (20 in all through two). */
  const load = (r: Replica, host = HOST, clients = 10): ReturnType<typeof startLoad> =>
    startLoad({ address: node.address, port: r.port, host, clients, postDelayMs: 250, maxDurationMs: 90_000, maxRequests: 40_000 })
  const running = async (...loads: Array<ReturnType<typeof startLoad>>): Promise<void> => {
    await waitFor(() => loads.every((l) => l.count() > 50), { timeoutMs: 20_000, what: 'load running through every replica' })
  }
  const checkNoFailures = (t: Test, r: LoadResult, what: string): void => {
    t.ok(r.total > 100, `${what}: ${r.total} requests under load`)
    t.equal(r.failures.length, 0, `${what}: 0 failed requests (${describeFailures(r)})`)
  }

  const [a, b] = await waitFor(async () => { const rs = await replicas(); return rs.length === 2 && rs.every((r) => r.port > 0) ? rs : undefined }, { timeoutMs: 60_000, intervalMs: 250, what: 'two proxy tasks running' })
  if (a === undefined || b === undefined) throw new Error('unreachable')

  t.test('each replica converges on the same table by itself', async (t) => {
    const viaA = await servedBy(a.port, 2, 'v1')
    const viaB = await servedBy(b.port, 2, 'v1')
    t.same(viaA, viaB, `both replicas answer from the same two tasks (${viaA.join(', ')})`)
    const tables = await waitFor(async () => {
      const [ta, tb] = [await table(a), await table(b)]
      return ta.length === 2 && ta.every((x) => x.endsWith(' ready')) && ta.join() === tb.join() ? [ta, tb] : undefined
    }, { timeoutMs: 10_000, intervalMs: 200, what: 'both tables with the same two ready targets' })
    t.same(tables[0], tables[1], `same targets, same states: ${tables[0]?.join(', ')}`)
  })

  t.test('one replica killed under load: clients of the other see 0 failed requests; the replacement routes every task by itself', async (t) => {
    const [la, lb] = [load(a), load(b)]
    t.teardown(async () => { await la.stop(); await lb.stop() })
    await running(la, lb)
    const killedAt = Date.now()
    await docker('kill', a.id)
    // The killed replica's clients fail from here on (connection refused): stopped once they see it.
    await waitFor(() => la.seen().some((s) => s.startMs >= killedAt - 1_000 && s.status !== 200), { timeoutMs: 10_000, what: 'the killed replica\'s clients failing' })
    const ra = await la.stop()
    const afterKill = lb.count()
    await waitFor(() => lb.count() > afterKill + 300, { timeoutMs: 30_000, what: '300 more requests through the other replica' })
    const rb = await lb.stop()
    checkNoFailures(t, rb, 'the replica left')
    t.ok(rb.samples.filter((s) => s.startMs > killedAt).length >= 300, 'it served on after the kill')
    t.ok(ra.failures.length > 0, `the killed replica's clients did fail (${ra.failures.length}: the kill hit the load)`)
    // Swarm starts a new task in its place (a new port); it reads the cluster and routes both tasks.
    const replacement = await waitFor(async () => (await replicas()).find((r) => r.id !== a.id && r.id !== b.id), { timeoutMs: 60_000, intervalMs: 200, what: 'Swarm replacing the killed proxy task' })
    const started = Date.now()
    const via = await servedBy(replacement.port, 2, 'v1', 30_000)
    t.same(via, await servedBy(b.port, 2, 'v1'), 'the replacement answers from the same two tasks as the replica that stayed')
    t.comment(`swarm-replicas: replacement proxy task seen ${started - killedAt} ms after docker kill, both app tasks answering through it ${Date.now() - started} ms later`)
    a.id = replacement.id
    a.port = replacement.port
  })

  t.test('docker service update --image v2 --update-order start-first under load through both replicas: 0 failed on each (an app that exits at once on SIGTERM)', async (t) => {
    const [la, lb] = [load(a), load(b)]
    t.teardown(async () => { await la.stop(); await lb.stop() })
    await running(la, lb)
    const completedAt = await updateService('app', '--image', SWARM_APP_V2, '--update-order', 'start-first')
    await waitFor(() => Date.now() > completedAt + 2_000, { timeoutMs: 5_000, intervalMs: 100, what: '2 s of load after the update' })
    const [ra, rb] = [await la.stop(), await lb.stop()]
    for (const [name, r] of [['replica A', ra], ['replica B', rb]] as const) {
      checkNoFailures(t, r, name)
      const late = r.samples.filter((s) => s.startMs > completedAt + 500)
      t.ok(late.length > 0 && late.every((s) => s.version === 'v2'), `${name}: only v2 after the update (${JSON.stringify(r.byVersion)})`)
    }
  })

  t.test('docker service rm under load: 0 failed for the host that keeps its tasks; the removed host answers 503 on both replicas, never 502 or a reset', async (t) => {
    await docker(...serviceArgs('gone', SWARM_APP_V1, { VIRTUAL_HOST: GONE, ON_SIGTERM: 'exit' }, 1))
    t.teardown(async () => { await docker('service', 'rm', 'gone').catch(() => {}) })
    await servedBy(a.port, 1, 'v1', 60_000, GONE)
    await servedBy(b.port, 1, 'v1', 10_000, GONE)
    // 20 clients on the app, 10 on the host to be removed.
    const loads = [load(a), load(b), load(a, GONE, 5), load(b, GONE, 5)]
    t.teardown(async () => { for (const l of loads) await l.stop() })
    await running(...loads)
    const rmAt = Date.now()
    await docker('service', 'rm', 'gone')
    const answered503 = (l: ReturnType<typeof startLoad>): boolean => l.seen().filter((s) => s.status === 503).length >= 20
    await waitFor(() => answered503(loads[2]!) && answered503(loads[3]!), { timeoutMs: 15_000, what: 'both replicas answering 503 for the removed host' })
    // Until Swarm has stopped the removed task (its container gone), the app's load still running.
    await waitFor(async () => (await docker('ps', '-aq', '--filter', 'label=com.docker.swarm.service.name=gone')) === '', { timeoutMs: 30_000, intervalMs: 250, what: 'the removed service\'s container gone' })
    const [ra, rb, ga, gb] = [await loads[0]!.stop(), await loads[1]!.stop(), await loads[2]!.stop(), await loads[3]!.stop()]
    checkNoFailures(t, ra, 'app through replica A')
    checkNoFailures(t, rb, 'app through replica B')
    for (const [name, r] of [['replica A', ga], ['replica B', gb]] as const) {
      const other = r.samples.filter((s) => s.status !== 200 && s.status !== 503)
      t.same(other.map(describe), [], `${name}: the removed host's requests were answered 200 or 503, nothing else`)
      t.equal(r.samples.filter((s) => s.status === 503 && s.startMs < rmAt).length, 0, `${name}: no 503 before docker service rm`)
      const first503 = r.samples.filter((s) => s.status === 503).reduce((m, s) => Math.min(m, s.startMs), Infinity)
      t.equal(r.samples.filter((s) => s.status === 200 && s.startMs > first503 + 100).length, 0, `${name}: never routed again once it answered 503 (${first503 - rmAt} ms after docker service rm)`)
      t.comment(`swarm-replicas: docker service rm -> ${name} answers 503 for its host ${first503 - rmAt} ms later`)
    }
  })

  t.test('docs/swarm.md\'s stack file, deployed with docker stack deploy: its proxy routes its app, and a start-first update of the app fails 0 requests', async (t) => {
    const md = readFileSync(new URL('../../docs/swarm.md', import.meta.url), 'utf8')
    let stack = /```yaml\n(# docker stack deploy -c stack.yml[\s\S]*?)```/.exec(md)?.[1] ?? ''
    t.not(stack, '', 'docs/swarm.md has the stack file')
    // Only what this machine needs changed: images that exist here, the node's socket path, no
    // certificates, ports the node has free, the test app's health path. Each must match.
    const edits: Array<[string | RegExp, string]> = [
      ['image: proxyctl:local', `image: ${PROXY_IMAGE}`],
      ['image: registry.example.com/shop/app:1.4.0', `image: ${SWARM_APP_V1}`],
      ['/var/run/docker.sock:/tmp/docker.sock:ro', '/sock/docker.sock:/tmp/docker.sock:ro'],
      [/^.*:\/etc\/nginx\/certs:ro.*\n/m, ''],
      ['published: 80,', 'published: 8090,'],
      ['published: 443,', 'published: 8443,'],
      ['127.0.0.1:3000/healthz', '127.0.0.1:3000/hc'],
      ['proxyctl.health.path: /healthz', 'proxyctl.health.path: /hc']
    ]
    for (const [from, to] of edits) {
      const next = stack.replace(from, to)
      t.not(next, stack, `the stack file has ${String(from)}`)
      stack = next
    }
    const dir = mkdtempSync(join(tmpdir(), 'pxt-stack-'))
    t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
    writeFileSync(join(dir, 'stack.yml'), stack)
    await docker('stack', 'deploy', '-c', join(dir, 'stack.yml'), 'shop')
    t.teardown(async () => {
      await docker('stack', 'rm', 'shop').catch(() => {})
      await waitFor(async () => (await docker('ps', '-aq', '--filter', 'label=com.docker.stack.namespace=shop')) === '', { timeoutMs: 60_000, intervalMs: 250, what: 'the stack\'s containers gone' }).catch(() => {})
    })
    const proxy: Replica = { id: 'shop_proxy', port: 8090 }
    const SHOP = 'shop.example.com'
    const tasks = await servedBy(proxy.port, 3, 'v1', 120_000, SHOP)
    t.equal(tasks.length, 3, `the stack's proxy (global on the manager, host-mode port) answers from the 3 app tasks (${tasks.join(', ')})`)
    const l = load(proxy, SHOP, 20)
    t.teardown(async () => { await l.stop() })
    await running(l)
    const completedAt = await updateService('shop_app', '--image', SWARM_APP_V2)
    await waitFor(() => Date.now() > completedAt + 2_000, { timeoutMs: 5_000, intervalMs: 100, what: '2 s of load after the update' })
    const r = await l.stop()
    checkNoFailures(t, r, 'the stack\'s start-first update (its update_config)')
    const late = r.samples.filter((x) => x.startMs > completedAt + 500)
    t.ok(late.length > 0 && late.every((x) => x.version === 'v2'), `only v2 after the update (${JSON.stringify(r.byVersion)})`)
  })

  t.test('node drain on two nodes under load through both replicas: 0 failed; the drained node\'s task is replaced on the manager and routed', async (t) => {
    const worker = await joinSwarm(t, MANAGER, WORKER)
    // One task per node (spread over node ids), the worker's drained next.
    await docker(...serviceArgs('spread', SWARM_APP_V1, { VIRTUAL_HOST: SPREAD, ON_SIGTERM: 'exit' }, 2, ['--placement-pref', 'spread=node.id']))
    t.teardown(async () => { await docker('service', 'rm', 'spread').catch(() => {}) })
    const nodesOf = async (): Promise<string[]> => (await docker('service', 'ps', 'spread', '--filter', 'desired-state=running', '--format', '{{.Node}}')).split('\n').sort()
    await servedBy(a.port, 2, 'v1', 90_000, SPREAD)
    await servedBy(b.port, 2, 'v1', 10_000, SPREAD)
    t.same(await nodesOf(), [MANAGER, worker.hostname].sort(), 'one task on each node')
    const [la, lb] = [load(a, SPREAD), load(b, SPREAD)]
    t.teardown(async () => { await la.stop(); await lb.stop() })
    await running(la, lb)
    const drainAt = Date.now()
    await docker('node', 'update', '--availability', 'drain', worker.hostname)
    t.teardown(async () => { await docker('node', 'update', '--availability', 'active', worker.hostname).catch(() => {}) })
    // Until both tasks run on the manager and both replicas answer from them, under load throughout.
    await waitFor(async () => (await nodesOf()).join() === [MANAGER, MANAGER].join(), { timeoutMs: 60_000, intervalMs: 250, what: 'the drained task replaced on the manager' })
    const viaA = await servedBy(a.port, 2, 'v1', 60_000, SPREAD)
    const viaB = await servedBy(b.port, 2, 'v1', 10_000, SPREAD)
    await waitFor(async () => (await worker.docker('ps', '-q', '--filter', 'label=com.docker.swarm.service.name=spread')) === '', { timeoutMs: 30_000, intervalMs: 250, what: 'the drained task stopped on the worker' })
    const [ra, rb] = [await la.stop(), await lb.stop()]
    checkNoFailures(t, ra, 'drain through replica A')
    checkNoFailures(t, rb, 'drain through replica B')
    t.same(viaA, viaB, 'both replicas route the same two tasks afterwards')
    t.comment(`swarm-replicas: drain: both tasks on the manager and answering through both replicas ${Date.now() - drainAt} ms after docker node update --availability drain`)
  })
}

function describe (s: Sample): string {
  return `${s.method} ${s.status} ${s.error ?? ''}`
}
