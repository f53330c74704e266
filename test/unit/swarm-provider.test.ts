// The Swarm provider between DockerSource and a fake engine: tasks and standalone containers reach
// the one builder together; a task's desired-state change, a service event, a local kill and read
// errors each do what swarm-provider.ts says, with DockerSource itself doing the building.
import { PassThrough } from 'node:stream'
import { pino } from 'pino'
import t, { type Test } from 'tap'
import type { ContainerInspect } from '../../src/docker/container-info.ts'
import { DockerSource, type DockerEngine } from '../../src/docker/docker-source.ts'
import type { ContainerSummary } from '../../src/docker/engine-api.ts'
import type { Logger } from '../../src/logger.ts'
import type { SwarmReads } from '../../src/docker/swarm-api.ts'
import { SwarmProvider } from '../../src/docker/swarm-provider.ts'
import type { DesiredState } from '../../src/routing/desired-state.ts'
import { waitFor } from '../support/wait.ts'

const NET = 'overlaynet1'
const cid = (n: number): string => n.toString(16).padStart(64, 'c')
const STANDALONE = 'a'.repeat(64)
const PROXY = 'b'.repeat(64)

/** The engine: the proxy and one standalone app on the overlay, and the local container of task 1 (it carries the contract too). */
class FakeEngine implements DockerEngine {
  streams: PassThrough[] = []
  filters: Array<Record<string, string[]>> = []
  async listContainers (): Promise<ContainerSummary[]> { return [{ Id: PROXY }, { Id: STANDALONE }, { Id: cid(1) }] }
  async inspectContainer (id: string): Promise<ContainerInspect> {
    const task = id === cid(1)
    return {
      Id: id,
      Name: task ? '/app.1.task1' : '/plain',
      State: { Running: true },
      Config: { Env: id === PROXY ? [] : [`VIRTUAL_HOST=${task ? 'app.test' : 'plain.test'}`, 'VIRTUAL_PORT=3000'], Labels: task ? { 'com.docker.swarm.task.id': 'task1' } : {} },
      NetworkSettings: { Networks: { appnet: { NetworkID: NET, IPAddress: task ? '10.0.1.99' : '10.0.1.50' } } },
      HostConfig: { NetworkMode: 'default' }
    } as unknown as ContainerInspect
  }

  async events (_since: number, filters: Record<string, string[]>): Promise<NodeJS.ReadableStream> {
    this.filters.push(filters)
    const s = new PassThrough()
    this.streams.push(s)
    return s
  }
}

class FakeSwarm implements SwarmReads {
  role: 'manager' | 'worker' | 'none' = 'manager'
  running = new Set([1, 2])
  calls: string[] = []
  inFlight = 0
  maxInFlight = 0
  fail: Error | undefined
  /** Only the task reads fail with this (a node no longer a manager answers 503). */
  failTasks: Error | undefined
  async info (): Promise<unknown> { return await this.#call('info', { Swarm: this.role === 'none' ? { LocalNodeState: 'inactive' } : { LocalNodeState: 'active', ControlAvailable: this.role === 'manager' } }) }
  async services (): Promise<unknown> { return await this.#call('services', [{ ID: 'svc1', Spec: { Name: 'app', Labels: {} } }]) }
  async runningTasks (): Promise<unknown> {
    if (this.failTasks !== undefined) { this.calls.push('tasks'); throw this.failTasks }
    return await this.#call('tasks', [...this.running].map((n) => ({
      ID: `task${n}`, ServiceID: 'svc1', Slot: n, NodeID: 'node1', DesiredState: 'running',
      Status: { State: 'running', ContainerStatus: { ContainerID: cid(n) } },
      Spec: { ContainerSpec: { Env: ['VIRTUAL_HOST=app.test', 'VIRTUAL_PORT=3000'] } },
      NetworksAttachments: [{ Network: { ID: NET, Spec: { Name: 'appnet' } }, Addresses: [`10.0.1.${n + 2}/24`] }]
    })))
  }

  async close (): Promise<void> {}
  count (what: string): number { return this.calls.filter((c) => c === what).length }
  async #call (what: string, answer: unknown): Promise<unknown> {
    this.calls.push(what)
    this.inFlight++
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight)
    await new Promise((resolve) => setImmediate(resolve))
    this.inFlight--
    if (this.fail !== undefined) throw this.fail
    return answer
  }
}

function capture (): { log: Logger, lines: Array<{ msg: string, [k: string]: unknown }> } {
  const lines: Array<{ msg: string }> = []
  const log = pino({ level: 'info' }, { write: (s: string) => { lines.push(JSON.parse(s) as { msg: string }) } }) as unknown as Logger
  return { log, lines }
}

async function setup (t: Test, pollMs: number, swarm = new FakeSwarm()) {
  const engine = new FakeEngine()
  const { log, lines } = capture()
  const provider = new SwarmProvider(engine, swarm, log, { pollMs, maxBackoffMs: 200 })
  const states: DesiredState[] = []
  const withdrawn: string[] = []
  const source = new DockerSource(provider, {
    stateChanged: (s) => { states.push(s) },
    groupWithdrawn: (id) => { withdrawn.push(id) },
    groupStarted: () => {}
  }, log, { selfContainerId: PROXY, debounceMs: 5 })
  await provider.start()
  await source.start()
  t.teardown(() => { source.stop(); provider.stop() })
  const routes = (): Record<string, string[]> => Object.fromEntries((states.at(-1)?.routes ?? []).map((r) => [r.host, r.targets.map((x) => `${x.name}@${x.address}`).sort()]))
  return { engine, swarm, provider, states, withdrawn, routes, lines }
}

t.test('tasks and standalone containers feed one table; a task container is routed as its task only', async (t) => {
  const { routes, engine } = await setup(t, 60_000)
  t.same(routes(), {
    'app.test': ['app.1.task1@10.0.1.3', 'app.2.task2@10.0.1.4'],
    'plain.test': ['plain@10.0.1.50']
  }, 'task 1 at its task address, never its container\'s own (10.0.1.99) as a second target')
  t.same(engine.filters[0]?.type, ['container', 'network', 'service', 'node'], 'service and node events asked for')
})

t.test('a task whose desired state leaves running is withdrawn on the next read', async (t) => {
  const { routes, swarm, states } = await setup(t, 30)
  const before = states.length
  swarm.running.delete(2)
  const started = Date.now()
  await waitFor(() => routes()['app.test']?.length === 1, { timeoutMs: 2_000, what: 'task 2 withdrawn' })
  t.ok(Date.now() - started < 1_000, `withdrawn within a second (${Date.now() - started} ms at a 30 ms read interval)`)
  t.same(routes()['app.test'], ['app.1.task1@10.0.1.3'])
  t.equal(states.length, before + 1, 'one table change')
  t.equal(swarm.maxInFlight, 1, 'one Swarm read in flight at a time')
})

t.test('a service event reads the tasks at once (no poll due for a minute)', async (t) => {
  const { routes, swarm, engine } = await setup(t, 60_000)
  const reads = swarm.count('tasks')
  swarm.running.add(3)
  engine.streams[0]!.write(JSON.stringify({ Type: 'service', Action: 'update', Actor: { ID: 'svc1' } }) + '\n')
  await waitFor(() => routes()['app.test']?.length === 3, { timeoutMs: 2_000, what: 'task 3 routed after the service event' })
  t.equal(swarm.count('tasks'), reads + 1, 'exactly one more task read')
})

t.test('a local kill of a task container withdraws its target by the task container id', async (t) => {
  const { engine, withdrawn, states } = await setup(t, 60_000)
  engine.streams[0]!.write(JSON.stringify({ Type: 'container', Action: 'kill', Actor: { ID: cid(1), Attributes: { name: 'app.1.task1', signal: '15' } } }) + '\n')
  await waitFor(() => withdrawn.length > 0, { timeoutMs: 2_000, what: 'the kill withdrawal' })
  t.same(withdrawn, [cid(1)])
  const groups = states.at(-1)!.routes.flatMap((r) => r.targets.map((x) => x.groupId))
  t.ok(groups.includes(cid(1)), 'which is the group of the task\'s target')
})

t.test('read errors: logged once, last tasks kept, retried with backoff, recovered', async (t) => {
  const swarm = new FakeSwarm()
  const { routes, lines } = await setup(t, 10, swarm)
  swarm.fail = new Error('connect ECONNREFUSED')
  const failedAt = swarm.calls.length
  await waitFor(() => swarm.calls.length >= failedAt + 5, { timeoutMs: 5_000, what: 'retries' })
  t.equal(lines.filter((l) => l.msg.startsWith('Swarm task list read failed')).length, 1, 'one warning for one repeated error')
  t.equal(routes()['app.test']?.length, 2, 'tasks kept meanwhile')
  const delays = lines.filter((l) => l.msg.startsWith('Swarm task list read failed')).map((l) => l.retryInMs)
  t.ok((delays[0] as number) >= 10, 'a backoff')
  swarm.fail = undefined
  swarm.running.delete(1)
  await waitFor(() => routes()['app.test']?.length === 1, { timeoutMs: 3_000, what: 'reads again after recovery' })
  t.ok(lines.some((l) => l.msg.startsWith('Swarm task list read again')), 'recovery logged')
  t.equal(swarm.maxInFlight, 1, 'never two reads at once')
})

t.test('off a manager: the engine passes through (its task containers stay routed as containers); no task reads', async (t) => {
  const swarm = new FakeSwarm()
  swarm.role = 'none'
  const { routes } = await setup(t, 10, swarm)
  t.same(routes(), { 'app.test': ['app.1.task1@10.0.1.99'], 'plain.test': ['plain@10.0.1.50'] })
  t.equal(swarm.count('tasks'), 0)
  t.equal(swarm.count('services'), 0)
})

t.test('a manager demoted to worker: the 503 of the task read makes it ask its role; its tasks go, its local task container is routed as a container again', async (t) => {
  const swarm = new FakeSwarm()
  const { routes, lines } = await setup(t, 10, swarm)
  t.equal(routes()['app.test']?.length, 2)
  swarm.role = 'worker'
  swarm.failTasks = Object.assign(new Error('This node is not a swarm manager.'), { statusCode: 503 })
  await waitFor(() => routes()['app.test']?.[0] === 'app.1.task1@10.0.1.99', { timeoutMs: 3_000, what: 'the task container routed as a container' })
  t.same(routes(), { 'app.test': ['app.1.task1@10.0.1.99'], 'plain.test': ['plain@10.0.1.50'] })
  t.ok(lines.some((l) => l.msg.startsWith('Swarm worker')), 'the role change logged')
})
