// Docker Swarm (issue 11, items 1 and 2): the proxy image as a plain container on a manager,
// attached to an attachable overlay network, routing an app service's tasks at their task addresses
// under continuous load (20 clients, GETs and 250 ms POSTs); last, a second node (a worker) whose
// tasks the proxy reaches over the overlay. Each node is a Docker engine of its own (scripts/swarm.sh:
// the test engine runs with --live-restore, which Swarm refuses), removed in teardown whatever
// happens. Reaction times are printed as `# swarm:` comment lines.
import t, { type Test } from 'tap'
import { get } from '../support/http-client.ts'
import { PROXY_IMAGE } from '../support/images.ts'
import { describeFailures, startLoad, type LoadResult } from '../support/load.ts'
import type { LogLine } from '../support/proxy-process.ts'
import { SWARM_APP_V1, SWARM_APP_V2, joinSwarm, startSwarm, type SwarmNode } from '../support/swarm.ts'
import { requireDocker } from '../support/docker.ts'
import { waitFor } from '../support/wait.ts'

const NET = 'pxt-swarm-net'
const HOST = 'app.test'
const FAR = 'far.test'
const HEALTH_CMD = 'node -e "fetch(\'http://127.0.0.1:3000/hc\').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"'
/** Every service: the app contract in its env, a HEALTHCHECK, start-first updates one task at a time. */
const serviceArgs = (name: string, image: string, env: Record<string, string>, replicas: number, extra: string[] = []): string[] => [
  'service', 'create', '-d', '--name', name, '--network', NET, '--replicas', String(replicas), '--no-resolve-image',
  '--health-cmd', HEALTH_CMD, '--health-interval', '1s', '--health-timeout', '2s', '--health-retries', '2',
  '--update-order', 'start-first', '--update-parallelism', '1', '--update-delay', '0s', '--stop-grace-period', '10s',
  ...Object.entries({ VIRTUAL_HOST: HOST, VIRTUAL_PORT: '3000', ...env }).flatMap(([k, v]) => ['-e', `${k}=${v}`]),
  ...extra, image
]

interface AppReply { version: string, hostname: string }

if (requireDocker(t)) {
  const node = await startSwarm(t)
  if (node !== undefined) await swarmTests(t, node)
}

async function swarmTests (t: Test, node: SwarmNode): Promise<void> {
  const { docker } = node
  await docker('network', 'create', '-d', 'overlay', '--attachable', NET)
  // The proxy as a plain container on the manager, on the overlay; the node's socket is /sock/docker.sock.
  await docker('run', '-d', '--name', 'edge', '--network', NET, '-p', '8080:80', '-v', '/sock/docker.sock:/tmp/docker.sock:ro', '-e', 'HTTPS_PORT=off', PROXY_IMAGE)
  await docker(...serviceArgs('app', SWARM_APP_V1, { ON_SIGTERM: 'graceful' }, 2))

  const logs = async (): Promise<LogLine[]> => (await docker('logs', 'edge')).split('\n').flatMap((l) => {
    try { return [JSON.parse(l) as LogLine] } catch { return [] }
  })
  const logTime = (l: LogLine): number => Date.parse(String(l.time))
  const reply = async (host = HOST): Promise<AppReply | undefined> => {
    const r = await get(node.port, host).catch(() => undefined)
    return r?.status === 200 ? JSON.parse(r.body) as AppReply : undefined
  }
  /** Until the proxy answers from `n` distinct tasks (hostnames) of `version`. */
  const servedBy = async (n: number, version: string, timeoutMs = 60_000, host = HOST): Promise<Set<string>> => await waitFor(async () => {
    const seen = new Set<string>()
    for (let i = 0; i < 6 * n; i++) {
      const r = await reply(host)
      if (r?.version === version) seen.add(r.hostname)
    }
    return seen.size === n ? seen : undefined
  }, { timeoutMs, intervalMs: 100, what: `${n} ${version} tasks answering` })
  /** `docker service update -d ARGS app`, then until Swarm reports that very update completed. */
  const updateService = async (service: string, ...args: string[]): Promise<number> => {
    const status = async (): Promise<string> => await docker('service', 'inspect', '-f', '{{if .UpdateStatus}}{{.UpdateStatus.State}} {{.UpdateStatus.StartedAt}}{{end}}', service)
    const before = await status()
    await docker('service', 'update', '-d', '--no-resolve-image', ...args, service)
    await waitFor(async () => { const now = await status(); return now !== before && now.startsWith('completed ') }, { timeoutMs: 90_000, intervalMs: 250, what: `docker service update ${args.join(' ')} completed` })
    return Date.now()
  }
  const update = async (...args: string[]): Promise<number> => await updateService('app', ...args)
  const LEFT = 'Swarm task left rotation (desired state or state no longer running)'
  /** Swarm's SIGTERMs since `sinceMs`: the engine's container `kill` events, by container name (the task's name). */
  const kills = async (sinceMs: number): Promise<Map<string, number>> => {
    const found = new Map<string, number>()
    const events = await docker('events', '--since', String(Math.floor(sinceMs / 1000) - 1), '--until', (Date.now() / 1000).toFixed(3), '--filter', 'type=container', '--filter', 'event=kill', '--format', '{{.TimeNano}} {{index .Actor.Attributes "name"}}')
    for (const line of events.split('\n').filter((x) => x !== '')) {
      const [nanos, name] = line.split(' ')
      const at = Number(BigInt(nanos ?? '0') / 1_000_000n)
      if (name !== undefined && at >= sinceMs && !found.has(name)) found.set(name, at)
    }
    return found
  }
  /**
   * For each task that left rotation since `sinceMs`: how long before Swarm's SIGTERM to its container
   * (the engine's `kill` event, same name as the task) the proxy's task list read took it out.
   */
  const sigtermMargins = async (sinceMs: number): Promise<Array<{ name: string, marginMs: number }>> => {
    const killed = await kills(sinceMs)
    return (await logs()).filter((x) => x.msg === LEFT && logTime(x) >= sinceMs).flatMap((x) => {
      const kill = killed.get(String(x.name))
      return kill === undefined ? [] : [{ name: String(x.name), marginMs: kill - logTime(x) }]
    })
  }
  const load = (host = HOST): ReturnType<typeof startLoad> => startLoad({ port: node.port, host, clients: 20, postDelayMs: 250, maxDurationMs: 90_000, maxRequests: 60_000 })
  const checkNoFailures = (t: Test, r: LoadResult, what: string): void => {
    t.ok(r.total > 200, `${what}: ${r.total} requests under load`)
    t.equal(r.failures.length, 0, `${what}: 0 failed requests (${describeFailures(r)})`)
  }

  await servedBy(2, 'v1')

  t.test('docker service update --image v2 --update-order start-first of a graceful app: 0 failed, only v2 afterwards', async (t) => {
    const l = load()
    t.teardown(async () => { await l.stop() })
    await waitFor(() => l.count() > 100, { timeoutMs: 20_000, what: 'load running' })
    const updateStart = Date.now()
    const completedAt = await update('--image', SWARM_APP_V2, '--update-order', 'start-first')
    await waitFor(() => Date.now() > completedAt + 2_000, { timeoutMs: 5_000, intervalMs: 100, what: '2 s of load after the update' })
    const r = await l.stop()
    checkNoFailures(t, r, 'update')
    t.ok((r.byVersion.v1 ?? 0) > 0 && (r.byVersion.v2 ?? 0) > 0, `v1 then v2 answered (${JSON.stringify(r.byVersion)})`)
    const late = r.samples.filter((s) => s.startMs > completedAt + 500)
    t.ok(late.length > 0, `${late.length} requests sent after the update completed`)
    t.same([...new Set(late.map((s) => s.version))], ['v2'], 'every one of them answered by v2')
    await servedBy(2, 'v2', 10_000)
    const margins = await sigtermMargins(updateStart)
    t.comment(`swarm: start-first update: old tasks out of rotation ${margins.map((m) => `${m.marginMs} ms`).join(', ')} before Swarm's SIGTERM to them`)
    t.equal(margins.length, 2, 'both old tasks left rotation from the task list, and were then stopped')
    t.ok(margins.every((m) => m.marginMs > 0), 'each before its SIGTERM')
  })

  t.test('docker service scale app=1 and back to 3 of an app that exits at once on SIGTERM: 0 failed (withdrawn before the agent stops the task); reaction time measured', async (t) => {
    // An app that drops its in-flight requests on SIGTERM: only a withdrawal from the task list,
    // before Swarm stops the task (~2 s after its desired state changes), keeps them whole; the
    // container's kill event alone comes too late.
    await update('--env-add', 'ON_SIGTERM=exit')
    await servedBy(2, 'v2', 15_000)
    const l = load()
    t.teardown(async () => { await l.stop() })
    await waitFor(() => l.count() > 100, { timeoutMs: 20_000, what: 'load running' })
    const scaledAt = Date.now()
    await docker('service', 'scale', '-d', 'app=1')
    await servedBy(1, 'v2', 15_000)
    // Until Swarm has stopped the removed task (its container's kill event), under load throughout.
    await waitFor(async () => (await kills(scaledAt)).size > 0, { timeoutMs: 15_000, intervalMs: 250, what: 'Swarm stopping the scaled-down task' })
    await docker('service', 'scale', '-d', 'app=3')
    await servedBy(3, 'v2', 60_000)
    const r = await l.stop()
    checkNoFailures(t, r, 'scale 2 -> 1 -> 3')

    const left = (await logs()).filter((x) => x.msg === LEFT && logTime(x) >= scaledAt)
    t.equal(left.length, 1, 'one task left rotation from the task list')
    const name = String(left[0]?.name)
    const drained = (await logs()).find((x) => x.msg === 'Target state changed' && x.to === 'draining' && x.name === name)
    const reactionMs = left[0] === undefined ? NaN : logTime(left[0]) - scaledAt
    const tableMs = drained === undefined ? NaN : logTime(drained) - scaledAt
    const margins = await sigtermMargins(scaledAt)
    t.comment(`swarm: scale-down: \`docker service scale -d app=1\` -> task ${name} out of the task list read ${reactionMs} ms, out of the table ${tableMs} ms, ${margins[0]?.marginMs ?? NaN} ms before Swarm's SIGTERM to it`)
    t.ok(reactionMs < 2_000, `the task left rotation ${reactionMs} ms after the scale command`)
    t.ok(tableMs <= reactionMs + 1_000, `withdrawn from the table ${tableMs} ms after the scale command`)
    t.ok((margins[0]?.marginMs ?? 0) > 0, 'before its SIGTERM')
  })

  t.test('a task that never becomes healthy never gets traffic (a second service on the same host)', async (t) => {
    const l = load()
    t.teardown(async () => { await l.stop() })
    await docker(...serviceArgs('sick', SWARM_APP_V1, { APP_VERSION: 'sick', HEALTHY: 'false' }, 1))
    t.teardown(async () => { await docker('service', 'rm', 'sick').catch(() => {}) })
    // Its container runs (Docker health "starting", then "unhealthy" and replaced): watched for 8 s of load.
    await waitFor(async () => (await docker('ps', '-q', '--filter', 'label=com.docker.swarm.service.name=sick')) !== '', { timeoutMs: 30_000, intervalMs: 200, what: 'the sick task\'s container started' })
    const since = Date.now()
    await waitFor(() => Date.now() > since + 8_000, { timeoutMs: 10_000, intervalMs: 200, what: '8 s of load' })
    const r = await l.stop()
    checkNoFailures(t, r, 'a sick task beside the app')
    t.equal(r.byVersion.sick ?? 0, 0, `no answer from the sick task (${JSON.stringify(r.byVersion)})`)
    t.equal((await logs()).filter((x) => String(x.name ?? '').startsWith('sick.')).length, 0, 'the proxy never saw it as a running task')
  })

  t.test('the proxy restarted routes every running task again within 2 s', async (t) => {
    await docker('restart', '-t', '10', 'edge')
    const restartedAt = Date.now()
    const firstAnswer = await waitFor(async () => (await get(node.port, HOST).catch(() => undefined)) !== undefined ? Date.now() : undefined, { timeoutMs: 30_000, intervalMs: 20, what: 'the proxy answering again' })
    const seen = new Set<string>()
    const allAt = await waitFor(async () => {
      const r = await reply()
      if (r !== undefined) seen.add(r.hostname)
      return seen.size === 3 ? Date.now() : undefined
    }, { timeoutMs: 10_000, intervalMs: 10, what: 'all 3 tasks answering' })
    t.comment(`swarm: proxy restart: answering ${firstAnswer - restartedAt} ms after \`docker restart\` returned, all 3 tasks ${allAt - firstAnswer} ms after its first answer`)
    t.ok(allAt - restartedAt <= 2_000, `every running task answering ${allAt - restartedAt} ms after \`docker restart\` returned (${allAt - firstAnswer} ms after the proxy's first answer)`)
  })

  t.test('two nodes: tasks on a worker are routed over the overlay from the proxy on the manager; their start-first update fails 0 requests', async (t) => {
    const worker = await joinSwarm(t)
    await docker(...serviceArgs('far', SWARM_APP_V1, { VIRTUAL_HOST: FAR, ON_SIGTERM: 'graceful' }, 2, ['--constraint', `node.hostname==${worker.hostname}`]))
    t.teardown(async () => { await docker('service', 'rm', 'far').catch(() => {}) })
    await servedBy(2, 'v1', 90_000, FAR)
    const nodes = (await docker('service', 'ps', 'far', '--filter', 'desired-state=running', '--format', '{{.Node}}')).split('\n')
    t.same(nodes, [worker.hostname, worker.hostname], 'both tasks run on the worker')
    t.equal(await worker.docker('ps', '-q', '--filter', 'label=com.docker.swarm.service.name=far').then((x) => x.split('\n').length), 2, 'the worker\'s engine runs them (the proxy on the manager sees no container of theirs)')
    const l = load(FAR)
    t.teardown(async () => { await l.stop() })
    await waitFor(() => l.count() > 100, { timeoutMs: 20_000, what: 'load running' })
    const completedAt = await updateService('far', '--image', SWARM_APP_V2)
    await waitFor(() => Date.now() > completedAt + 2_000, { timeoutMs: 5_000, intervalMs: 100, what: '2 s of load after the update' })
    const r = await l.stop()
    checkNoFailures(t, r, 'update on the worker')
    const late = r.samples.filter((s) => s.startMs > completedAt + 500)
    t.ok(late.length > 0 && late.every((s) => s.version === 'v2'), `only v2 after the update (${JSON.stringify(r.byVersion)})`)
  })
}
