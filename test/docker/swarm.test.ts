// Docker Swarm (issue 11, items 1, 2 and 4): the proxy image as a plain container on a manager,
// attached to an attachable overlay network, routing an app service's tasks at their task addresses
// under continuous load (20 clients, GETs and 250 ms POSTs); last, a second node (a worker) whose
// tasks the proxy reaches over the overlay. Each node is a Docker engine of its own (scripts/swarm.sh:
// the test engine runs with --live-restore, which Swarm refuses), removed in teardown whatever
// happens. Reaction times are printed as `# swarm:` comment lines. `proxyctl deploy --swarm` runs from
// this machine with DOCKER_HOST set to the manager's engine and --proxy edge, as a user on the manager runs it.
import { execFile, spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t, { type Test } from 'tap'
import { get } from '../support/http-client.ts'
import { PROXY_IMAGE, TEST_APP_IMAGE } from '../support/images.ts'
import { describeFailures, startLoad, type LoadResult } from '../support/load.ts'
import { CLI, type LogLine } from '../support/proxy-process.ts'
import { SWARM_APP_V1, SWARM_APP_V2, appServiceArgs, joinSwarm, startSwarm, type SwarmNode } from '../support/swarm.ts'
import { requireDocker } from '../support/docker.ts'
import { waitFor } from '../support/wait.ts'

const execFileP = promisify(execFile)
const NET = 'pxt-swarm-net'
const HOST = 'app.test'
const FAR = 'far.test'
const serviceArgs = appServiceArgs(NET, HOST)

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
  const servedBy = async (n: number, version: string, timeoutMs = 60_000, host = HOST): Promise<Set<string>> => {
    let seen = new Set<string>()
    try {
      return await waitFor(async () => {
        seen = new Set<string>()
        for (let i = 0; i < 6 * n; i++) {
          const r = await reply(host)
          if (r?.version === version) seen.add(r.hostname)
        }
        return seen.size === n ? seen : undefined
      }, { timeoutMs, intervalMs: 100, what: `${n} ${version} tasks answering` })
    } catch (err) {
      // What the proxy and Swarm each thought at the deadline, for the failure's reader.
      const table = await docker('exec', 'edge', 'proxyctl', 'status').catch((e: Error) => e.message)
      const tasks = await docker('service', 'ps', '--no-trunc', '--format', '{{.Name}} {{.Image}} {{.DesiredState}} {{.CurrentState}} {{.Error}}', 'app').catch((e: Error) => e.message)
      const events = (await logs().catch(() => [])).filter((x) => x.component !== 'access').slice(-30).map((x) => `${String(x.time)} ${String(x.msg)} ${String(x.name ?? x.target ?? '')} ${String(x.to ?? '')}`).join('\n')
      throw new Error(`${(err as Error).message}; last poll answered from ${JSON.stringify([...seen])}\nproxyctl status:\n${table}\ndocker service ps app:\n${tasks}\nthe proxy's last log lines:\n${events}`)
    }
  }
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

  /** `proxyctl deploy ARGS` from this machine, as a user on the manager runs it (DOCKER_HOST: the manager's engine; the proxy found by name). */
  const proxyctl = async (...args: string[]): Promise<{ code: number, stdout: string, stderr: string, events: Array<Record<string, unknown>> }> => {
    const child = spawn(process.execPath, [CLI, ...args, '--proxy', 'edge'], { env: { ...process.env, DOCKER_HOST: node.host }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (c: string) => { stdout += c })
    child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c })
    const code = await new Promise<number>((resolve) => { child.once('close', (c) => { resolve(c ?? 1) }) })
    const events = stdout.split('\n').flatMap((l) => { try { return [JSON.parse(l) as Record<string, unknown>] } catch { return [] } })
    return { code, stdout, stderr, events }
  }
  /** The app as 3 tasks that exit at once on SIGTERM (so the scale test leaves it); its image and the other one. */
  const appAtThreeExiting = async (): Promise<{ from: { image: string, version: string }, to: { image: string, version: string } }> => {
    const spec = await docker('service', 'inspect', '-f', '{{.Spec.Mode.Replicated.Replicas}} {{range .Spec.TaskTemplate.ContainerSpec.Env}}{{.}} {{end}}', 'app')
    if (!spec.startsWith('3 ') || !spec.includes('ON_SIGTERM=exit')) await update('--env-add', 'ON_SIGTERM=exit', '--replicas', '3')
    const image = await docker('service', 'inspect', '-f', '{{.Spec.TaskTemplate.ContainerSpec.Image}}', 'app')
    const v1 = { image: SWARM_APP_V1, version: 'v1' }
    const v2 = { image: SWARM_APP_V2, version: 'v2' }
    const from = image === SWARM_APP_V2 ? v2 : v1
    await servedBy(3, from.version, 60_000)
    return { from, to: from === v1 ? v2 : v1 }
  }
  const runningImages = async (service: string): Promise<string[]> => (await docker('service', 'ps', service, '--filter', 'desired-state=running', '--format', '{{.Image}} {{.CurrentState}}')).split('\n').filter((x) => x !== '')

  t.test('proxyctl deploy --swarm of an app that exits at once on SIGTERM, under load: 0 failed, only the new version afterwards; each old task drained before Swarm\'s SIGTERM', async (t) => {
    // 3 tasks of an app that exits at once on SIGTERM (as the scale test leaves it; set here when run alone, --grep).
    const { from, to } = await appAtThreeExiting()
    const l = load()
    t.teardown(async () => { await l.stop() })
    await waitFor(() => l.count() > 100, { timeoutMs: 20_000, what: 'load running' })
    const startedAt = Date.now()
    const r = await proxyctl('deploy', '--swarm', 'app', '--image', to.image, '--json', '--timeout', '90s')
    const finishedAt = Date.now()
    t.equal(r.code, 0, `deploy ${from.version} -> ${to.version} exit code (stderr: ${r.stderr.trim()})`)
    await waitFor(() => Date.now() > finishedAt + 2_000, { timeoutMs: 5_000, intervalMs: 100, what: '2 s of load after the deploy' })
    const result = await l.stop()
    checkNoFailures(t, result, 'proxyctl deploy --swarm')
    const late = result.samples.filter((s) => s.startMs > finishedAt + 500)
    t.ok(late.length > 0, `${late.length} requests sent after the deploy returned`)
    t.same([...new Set(late.map((s) => s.version))], [to.version], `every one of them answered by the new image (${JSON.stringify(result.byVersion)})`)
    await servedBy(3, to.version, 10_000)
    const steps = r.events.map((e) => `${String(e.step)} ${String(e.status)}`)
    for (const s of ['plan done', 'scale start', 'admit done', 'drain done', 'retire done', 'done done']) t.ok(steps.includes(s), `progress has "${s}"`)
    t.equal(r.events.filter((e) => e.step === 'admit' && e.status === 'info').length, 3, 'each of the 3 new tasks admitted by the proxy')
    // Each old task's drain, from the CLI's progress, against Swarm's SIGTERM to it (its container's kill event).
    const killed = await kills(startedAt)
    const drains = r.events.filter((e) => e.step === 'drain' && e.status === 'start').map((e) => ({ at: Date.parse(String(e.time)), names: String(e.message) }))
    const margins = [...killed].map(([name, at]) => ({ name, marginMs: at - (drains.find((d) => d.names.includes(name))?.at ?? NaN) }))
    t.comment(`swarm: proxyctl deploy --swarm: ${result.total} requests, each old task drained ${margins.map((m) => `${m.marginMs} ms`).join(', ')} before Swarm's SIGTERM to it; deploy ${((finishedAt - startedAt) / 1000).toFixed(1)} s`)
    t.equal(margins.length, 3, 'Swarm stopped the 3 old tasks')
    t.ok(margins.every((m) => m.marginMs > 0), 'each drained through the proxy before its SIGTERM')
    t.same((await runningImages('app')).map((x) => x.split(' ')[0]), [to.image, to.image, to.image], 'Swarm runs the new image in every slot')
    t.equal(await docker('service', 'inspect', '-f', '{{.Spec.UpdateConfig.Order}} {{.Spec.UpdateConfig.Parallelism}}', 'app'), 'start-first 1', 'the service updates start-first, one task at a time')
  })

  t.test('proxyctl deploy --swarm whose new tasks never become healthy: no request reaches them, docker service rollback, exit code 3, the old version keeps serving', async (t) => {
    const SICK = 'proxyctl-test-app:swarm-sick'
    await execFileP('sh', ['-c', `printf 'FROM ${TEST_APP_IMAGE}\\nENV APP_VERSION=sick HEALTHY=false\\n' | docker build -q -t ${SICK} -`], { env: { ...process.env, DOCKER_HOST: node.host } })
    const { from } = await appAtThreeExiting()
    const l = load()
    t.teardown(async () => { await l.stop() })
    await waitFor(() => l.count() > 100, { timeoutMs: 20_000, what: 'load running' })
    const r = await proxyctl('deploy', '--swarm', 'app', '--image', SICK, '--json', '--timeout', '45s')
    const finishedAt = Date.now()
    t.comment(`swarm: failed deploy: ${r.events.filter((e) => e.step === 'rollback' || e.step === 'failed').map((e) => `[${(Number(e.elapsedMs) / 1000).toFixed(1)} s] ${String(e.step)} ${String(e.status)}: ${String(e.message).split('\n')[0] ?? ''}`).join(' | ')}`)
    t.equal(r.code, 3, `exit code 3: new tasks not ready, rolled back (stderr: ${r.stderr.trim()})`)
    t.ok(r.events.some((e) => e.step === 'rollback' && e.status === 'done'), 'docker service rollback completed')
    t.equal(await docker('service', 'inspect', '-f', '{{.Spec.TaskTemplate.ContainerSpec.Image}} {{.UpdateStatus.State}}', 'app'), `${from.image} rollback_completed`, 'the service is back on its previous spec')
    await waitFor(() => Date.now() > finishedAt + 2_000, { timeoutMs: 5_000, intervalMs: 100, what: '2 s of load after the deploy' })
    const result = await l.stop()
    checkNoFailures(t, result, 'a deploy rolled back')
    t.same(Object.keys(result.byVersion), [from.version], 'only the old version answered')
    const sickTasks = (await docker('service', 'ps', 'app', '--no-trunc', '--format', '{{.ID}} {{.Image}}')).split('\n').filter((x) => x.endsWith(` ${SICK}`)).map((x) => x.split(' ')[0])
    t.ok(sickTasks.length > 0, `Swarm started ${sickTasks.length} task(s) of the new image`)
    t.equal((await logs()).filter((x) => sickTasks.includes(String(x.task))).length, 0, 'the proxy never listed one of them as running')
    t.equal(result.byVersion.sick ?? 0, 0, `no request reached a sick task (${JSON.stringify(result.byVersion)})`)
    t.same((await runningImages('app')).map((x) => x.split(' ')[0]), [from.image, from.image, from.image], 'the old version runs in every slot')
    await servedBy(3, from.version, 10_000)
  })

  t.test('proxyctl deploy --swarm SERVICE -f stack.yml: the stack\'s service (STACK_SERVICE found by its stack label), the image from the file', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'pxt-stack-'))
    t.teardown(async () => { rmSync(dir, { recursive: true, force: true }); await docker('stack', 'rm', 'pxs').catch(() => {}) })
    const file = join(dir, 'stack.yml')
    const stack = (tag: string): string => `services:
  web:
    image: \${WEB_IMAGE:-${tag}}
    environment:
      VIRTUAL_HOST: stack.test
      VIRTUAL_PORT: "3000"
    healthcheck:
      test: ["CMD", "node", "-e", "fetch('http://127.0.0.1:3000/hc').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
      interval: 1s
      retries: 2
    deploy:
      replicas: 2
    networks: [edge]
networks:
  edge:
    name: ${NET}
    external: true
`
    writeFileSync(file, stack(SWARM_APP_V1))
    await docker('stack', 'deploy', '--resolve-image', 'never', '-c', file, 'pxs')
    await servedBy(2, 'v1', 60_000, 'stack.test')
    writeFileSync(file, stack(SWARM_APP_V2))
    const r = await proxyctl('deploy', '--swarm', 'web', '-f', file, '--json')
    t.equal(r.code, 0, `deploy exit code (stderr: ${r.stderr.trim()})`)
    t.match(String(r.events.find((e) => e.step === 'plan')?.message), /^pxs_web: .* -> proxyctl-test-app:swarm-v2/, 'the stack\'s service, the file\'s image')
    await servedBy(2, 'v2', 10_000, 'stack.test')
    const bad = await proxyctl('deploy', '--swarm', 'nosuch', '-f', file)
    t.equal(bad.code, 2, `a service the file does not define: exit code 2 (${bad.stderr.trim()})`)
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

    // proxyctl status: each task with the node it runs on.
    const status = await proxyctl('status', '--json')
    t.equal(status.code, 0, status.stderr)
    const report = JSON.parse(status.stdout) as { upstreams: Array<{ name: string, node?: string }> }
    const nodeOf = (prefix: string): string[] => report.upstreams.filter((u) => u.name.startsWith(prefix)).map((u) => u.node ?? '(none)')
    t.same(nodeOf('far.'), [worker.hostname, worker.hostname], 'the worker\'s tasks show the worker\'s hostname')
    t.same(nodeOf('app.'), ['pxt-swarm-test', 'pxt-swarm-test', 'pxt-swarm-test'], 'the manager\'s tasks show the manager\'s hostname')
    const table = await proxyctl('status')
    t.match(table.stdout, new RegExp(`far\\.[12]\\.\\w+\\s+\\S+ on ${worker.hostname}`), 'the table shows "ADDRESS on NODE"')
    t.comment(`swarm: proxyctl status:\n${table.stdout.trim()}`)
  })
}
