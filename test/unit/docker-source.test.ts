import { PassThrough } from 'node:stream'
import { pino } from 'pino'
import t, { type Test } from 'tap'
import type { ContainerInspect } from '../../src/docker/container-info.ts'
import { DockerSource, type DockerEngine, type DockerSourceOptions, type ProviderListener } from '../../src/docker/docker-source.ts'
import type { ContainerSummary } from '../../src/docker/engine-api.ts'
import type { DesiredState } from '../../src/routing/desired-state.ts'

// DockerSource driven by a fake engine: containers in a map, an event stream the test writes to.

const log = pino({ level: 'silent' })

interface Box { host: string, ip: string, running?: boolean }

class FakeEngine implements DockerEngine {
  containers = new Map<string, Box>()
  calls: string[] = []
  streams: PassThrough[] = []
  eventCallsAt: number[] = []
  eventArgs: Array<[number, Record<string, string[]>]> = []
  /** The next n events() calls reject (engine down). */
  failEvents = 0
  /** The next n listContainers() calls reject. */
  failLists = 0
  /** Inspect of these ids answers 404 (removed between list and inspect). */
  gone = new Set<string>()
  /** While set, listContainers waits for it. */
  listGate: Promise<void> | undefined

  inspects (id: string): number { return this.calls.filter((c) => c === `inspect ${id}`).length }
  get lists (): number { return this.calls.filter((c) => c === 'list').length }
  get stream (): PassThrough { return this.streams.at(-1)! }

  async listContainers (): Promise<ContainerSummary[]> {
    this.calls.push('list')
    const ids = [...this.containers.keys()] // the engine's answer as of the call
    if (this.listGate !== undefined) await this.listGate
    if (this.failLists > 0) { this.failLists--; throw new Error('list failed') }
    return ids.map((Id) => ({ Id }))
  }

  async inspectContainer (id: string): Promise<ContainerInspect> {
    this.calls.push(`inspect ${id}`)
    const c = this.containers.get(id)
    if (c === undefined || this.gone.has(id)) throw Object.assign(new Error('no such container'), { statusCode: 404 })
    return {
      Id: id,
      Name: `/app-${id}`,
      State: { Running: c.running ?? true },
      Config: { Env: [`VIRTUAL_HOST=${c.host}`], ExposedPorts: { '80/tcp': {} }, Labels: {} },
      NetworkSettings: { Networks: { bridge: { NetworkID: 'n1', IPAddress: c.ip, Gateway: '172.17.0.1' } } },
      HostConfig: { NetworkMode: 'bridge' }
    } as unknown as ContainerInspect
  }

  async events (since: number, filters: Record<string, string[]>): Promise<NodeJS.ReadableStream> {
    this.calls.push('events')
    this.eventCallsAt.push(performance.now())
    this.eventArgs.push([since, filters])
    if (this.failEvents > 0) { this.failEvents--; throw new Error('connect ECONNREFUSED /var/run/docker.sock') }
    const s = new PassThrough()
    this.streams.push(s)
    return s
  }

  emit (...events: object[]): void {
    this.stream.write(events.map((e) => JSON.stringify(e) + '\n').join(''))
  }
}

class Recorder implements ProviderListener {
  states: DesiredState[] = []
  withdrawn: Array<[string, string]> = []
  started: Array<[string, string]> = []
  stateChanged (state: DesiredState): void { this.states.push(state) }
  groupWithdrawn (id: string, reason: string): void { this.withdrawn.push([id, reason]) }
  groupStarted (id: string, reason: string): void { this.started.push([id, reason]) }
  /** host -> target addresses, of the last state */
  get table (): Record<string, string[]> {
    const last = this.states.at(-1)
    return Object.fromEntries((last?.routes ?? []).map((r) => [r.host, r.targets.map((x) => x.address)]))
  }
}

async function until (what: string, check: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}
const turn = async (): Promise<void> => { await new Promise((resolve) => setImmediate(resolve)) }

async function started (t: Test, options: DockerSourceOptions = {}, boxes: Record<string, Box> = { a: { host: 'a.test', ip: '172.17.0.2' } }): Promise<{ engine: FakeEngine, rec: Recorder, source: DockerSource }> {
  const engine = new FakeEngine()
  for (const [id, b] of Object.entries(boxes)) engine.containers.set(id, b)
  const rec = new Recorder()
  const source = new DockerSource(engine, rec, log, { selfContainerId: 'not-a-container', ...options })
  t.teardown(() => { source.stop() })
  await source.start()
  return { engine, rec, source }
}

const ev = (id: string, Action: string, attributes: Record<string, string> = {}): object =>
  ({ Type: 'container', Action, Actor: { ID: id, Attributes: { name: `app-${id}`, ...attributes } } })

t.test('start subscribes to events first, then lists, inspects and emits the first state', async (t) => {
  const now = Math.floor(Date.now() / 1000)
  const { engine, rec } = await started(t, {}, { a: { host: 'a.test', ip: '172.17.0.2' }, b: { host: 'b.test', ip: '172.17.0.3', running: false } })
  t.same(engine.calls.slice(0, 2), ['events', 'list'], 'no event can fall between the list and the subscription')
  t.same(engine.calls.slice(2).sort(), ['inspect a', 'inspect b'])
  const [since, filters] = engine.eventArgs[0]!
  t.ok(since >= now - 2 && since <= now, `since ${since} is about now`)
  t.same(filters, { type: ['container', 'network'] })
  t.equal(rec.states.length, 1)
  t.same(rec.table, { 'a.test': ['172.17.0.2'] }, 'the stopped container is not routed')
  t.equal(rec.states[0]!.routes[0]!.targets[0]!.port, 80)
})

t.test('start rejects when the engine cannot be reached, or the first list fails', async (t) => {
  const e1 = new FakeEngine()
  e1.failEvents = 1
  await t.rejects(new DockerSource(e1, new Recorder(), log).start(), /ECONNREFUSED/)
  const e2 = new FakeEngine()
  e2.failLists = 1
  const s2 = new DockerSource(e2, new Recorder(), log, { selfContainerId: 'x' })
  t.teardown(() => { s2.stop() })
  await t.rejects(s2.start(), /list failed/)
  const e3 = new FakeEngine()
  e3.containers.set('a', { host: 'a.test', ip: '172.17.0.2' })
  const inspect = e3.inspectContainer.bind(e3)
  e3.inspectContainer = async (id) => { await inspect(id); throw Object.assign(new Error('engine error'), { statusCode: 500 }) }
  const s3 = new DockerSource(e3, new Recorder(), log, { selfContainerId: 'x' })
  t.teardown(() => { s3.stop() })
  await t.rejects(s3.start(), /engine error/, 'an inspect error other than 404 is an error')
})

t.test('a container removed between list and inspect (404) is skipped', async (t) => {
  const engine = new FakeEngine()
  engine.containers.set('a', { host: 'a.test', ip: '172.17.0.2' })
  engine.containers.set('b', { host: 'b.test', ip: '172.17.0.3' })
  engine.gone.add('b')
  const rec = new Recorder()
  const source = new DockerSource(engine, rec, log, { selfContainerId: 'x' })
  t.teardown(() => { source.stop() })
  await source.start()
  t.same(rec.table, { 'a.test': ['172.17.0.2'] })
})

t.test('an event schedules one debounced re-list for a burst; only the containers named are inspected again', async (t) => {
  const { engine, rec } = await started(t, { debounceMs: 100 }, { a: { host: 'a.test', ip: '172.17.0.2' }, c: { host: 'c.test', ip: '172.17.0.4' } })
  engine.containers.set('b', { host: 'b.test', ip: '172.17.0.3' })
  const burstAt = performance.now()
  let listAt = 0
  const list = engine.listContainers.bind(engine)
  engine.listContainers = async () => { if (listAt === 0) listAt = performance.now(); return await list() }
  engine.emit(ev('b', 'create'), ev('b', 'start'))
  await new Promise((resolve) => setTimeout(resolve, 30))
  engine.emit(ev('a', 'health_status: healthy'))
  await new Promise((resolve) => setTimeout(resolve, 30))
  engine.emit(ev('b', 'rename'))
  await until('second state', () => rec.states.length === 2)
  t.ok(listAt - burstAt >= 150, `the re-list waited for the burst to be quiet for debounceMs (${Math.round(listAt - burstAt)} ms after its first event)`)
  t.equal(engine.lists, 2, 'one re-list for the whole burst')
  t.same(rec.table, { 'a.test': ['172.17.0.2'], 'b.test': ['172.17.0.3'], 'c.test': ['172.17.0.4'] })
  t.equal(engine.inspects('a'), 2, 'a: its event dropped it from the cache')
  t.equal(engine.inspects('b'), 1)
  t.equal(engine.inspects('c'), 1, 'c: no event, served from the cache')
  t.same(rec.started.map(([id]) => id), ['b'])
})

t.test('a re-list with an unchanged result emits nothing', async (t) => {
  const { engine, rec } = await started(t)
  engine.emit(ev('a', 'update'))
  await until('re-list', () => engine.inspects('a') === 2)
  // A real change after it: relists run one at a time, so its state is the next one emitted.
  engine.containers.set('b', { host: 'b.test', ip: '172.17.0.3' })
  engine.emit(ev('b', 'start'))
  await until('the change', () => rec.states.length >= 2)
  t.equal(engine.lists, 3)
  t.equal(rec.states.length, 2, 'the unchanged re-list was dropped')
  t.same(rec.table, { 'a.test': ['172.17.0.2'], 'b.test': ['172.17.0.3'] })
})

t.test('events that do not change routing (create, exec_start, attach) do not re-list', async (t) => {
  const { engine } = await started(t, { debounceMs: 10 })
  engine.emit(ev('a', 'create'), ev('a', 'exec_start: sh'), ev('a', 'attach'), { Type: 'network', Action: 'create', Actor: { ID: 'n2', Attributes: {} } })
  engine.emit(ev('a', 'start'))
  await until('the start re-list', () => engine.lists === 2)
  await new Promise((resolve) => setTimeout(resolve, 100))
  t.equal(engine.lists, 2, 'only the start event re-listed')
})

t.test('a network connect re-lists and re-inspects the container it names', async (t) => {
  const { engine, rec } = await started(t, { debounceMs: 10 })
  engine.containers.set('a', { host: 'a.test', ip: '10.9.0.2' })
  engine.emit({ Type: 'network', Action: 'connect', Actor: { ID: 'n2', Attributes: { container: 'a', name: 'other' } } })
  await until('new address', () => rec.states.length === 2)
  t.same(rec.table, { 'a.test': ['10.9.0.2'] })
})

t.test('lifecycle signals: terminating kills, stop, die, pause, destroy withdraw; reload signals do not; start, unpause, restart restore', async (t) => {
  const { engine, rec } = await started(t)
  engine.emit(
    ev('a', 'kill', { signal: 'SIGTERM' }), ev('b', 'kill', { signal: '15' }), ev('c', 'kill', { signal: 'SIGKILL' }),
    ev('h', 'kill', { signal: 'SIGHUP' }), ev('h', 'kill', { signal: 'HUP' }), ev('h', 'kill', { signal: '10' }), ev('h', 'kill', { signal: 'SIGUSR1' }),
    ev('h', 'kill', { signal: 'USR2' }), ev('h', 'kill', { signal: 'SIGWINCH' }),
    ev('d', 'stop'), ev('e', 'die'), ev('f', 'pause'), ev('g', 'destroy'),
    ev('a', 'start'), ev('f', 'unpause'), ev('d', 'restart')
  )
  await until('events handled', () => rec.started.length === 3)
  t.same(rec.withdrawn.map(([id]) => id), ['a', 'b', 'c', 'd', 'e', 'f', 'g'])
  t.equal(rec.withdrawn[0]![1], 'container app-a received signal SIGTERM (kill event)')
  t.equal(rec.withdrawn[3]![1], 'container app-d stop event')
  t.same(rec.started, [['a', 'container app-a start event'], ['f', 'container app-f unpause event'], ['d', 'container app-d restart event']])
})

t.test('lines split across chunks are joined; bad lines are skipped', async (t) => {
  const { engine, rec } = await started(t)
  const line = JSON.stringify(ev('a', 'stop'))
  engine.stream.write(line.slice(0, 10))
  await turn()
  t.same(rec.withdrawn, [], 'half a line is not an event')
  engine.stream.write(line.slice(10) + '\n\n{not json}\n' + JSON.stringify({ Type: 'container', Action: 'stop' }) + '\n')
  engine.stream.write(JSON.stringify({ Type: 'container', Action: 'die', id: 'old-format' }) + '\n')
  await until('both', () => rec.withdrawn.length === 2)
  t.same(rec.withdrawn.map(([id]) => id), ['a', 'old-format'], 'the unparseable and the id-less lines are ignored, the stream goes on')
})

t.test('an event during a re-list runs another re-list after it', async (t) => {
  const { engine, rec } = await started(t, { debounceMs: 5 })
  let open: () => void = () => {}
  engine.listGate = new Promise((resolve) => { open = resolve })
  engine.emit(ev('a', 'update'))
  await until('re-list under way', () => engine.lists === 2)
  engine.containers.set('b', { host: 'b.test', ip: '172.17.0.3' })
  engine.emit(ev('b', 'start'))
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.equal(engine.lists, 2, 'no second list while one is under way')
  engine.listGate = undefined
  open()
  await until('b routed', () => rec.table['b.test'] !== undefined)
  t.equal(engine.lists, 3)
})

t.test('a failed re-list keeps the current table; the next event re-lists', async (t) => {
  const { engine, rec } = await started(t, { debounceMs: 5 })
  engine.failLists = 1
  engine.containers.delete('a')
  engine.emit(ev('a', 'destroy'))
  await until('failed re-list', () => engine.lists === 2)
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.equal(rec.states.length, 1, 'nothing emitted')
  engine.emit(ev('a', 'destroy'))
  await until('re-listed', () => rec.states.length === 2)
  t.same(rec.table, {})
})

t.test('a lost stream reconnects with exponential backoff up to maxBackoffMs, resyncs, and resets the backoff', async (t) => {
  const { engine, rec, source } = await started(t, { maxBackoffMs: 600 }, { a: { host: 'a.test', ip: '172.17.0.2' }, c: { host: 'c.test', ip: '172.17.0.4' } })
  engine.failEvents = 3
  engine.containers.set('b', { host: 'b.test', ip: '172.17.0.3' }) // started while no stream listened
  const lostAt = performance.now()
  engine.stream.end()
  await until('reconnected', () => source.reconnects === 1, 5_000)
  const at = [lostAt, ...engine.eventCallsAt.slice(1)]
  const gaps = at.slice(1).map((x, i) => Math.round(x - at[i]!))
  t.equal(gaps.length, 4, `three failed attempts, then one that held (gaps ${gaps.join(', ')} ms)`)
  const want = [250, 500, 600, 600]
  for (let i = 0; i < 4; i++) t.ok(gaps[i]! >= want[i]! - 15 && gaps[i]! < want[i]! + 250, `attempt ${i + 1} after ${gaps[i]} ms (backoff ${want[i]})`)
  t.same(rec.table, { 'a.test': ['172.17.0.2'], 'b.test': ['172.17.0.3'], 'c.test': ['172.17.0.4'] }, 'the re-list after reconnecting saw the change missed meanwhile')
  t.equal(engine.inspects('c'), 2, 'the inspect cache was dropped: anything may have changed unseen')

  const lostAgain = performance.now()
  engine.stream.destroy(new Error('socket hang up'))
  await until('reconnected again', () => source.reconnects === 2, 5_000)
  const gap = engine.eventCallsAt.at(-1)! - lostAgain
  t.ok(gap >= 235 && gap < 500, `an error reconnects too, with the backoff back at 250 ms (${Math.round(gap)} ms)`)
  engine.containers.set('d', { host: 'd.test', ip: '172.17.0.5' })
  engine.emit(ev('d', 'start'))
  await until('the new stream is read', () => rec.table['d.test'] !== undefined)
})

t.test('stop closes the stream, cancels a pending re-list and never reconnects', async (t) => {
  const { engine, source } = await started(t, { debounceMs: 50 })
  const stream = engine.stream
  engine.emit(ev('a', 'start'))
  await turn()
  source.stop()
  t.equal(stream.destroyed, true)
  await new Promise((resolve) => setTimeout(resolve, 400))
  t.equal(engine.lists, 1, 'the scheduled re-list did not run')
  t.same(engine.calls.filter((c) => c === 'events').length, 1, 'no reconnect after the stream closed')
})
