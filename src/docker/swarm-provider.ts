import { PassThrough, type Readable } from 'node:stream'
import { lineReader } from '../line-reader.js'
import type { Logger } from '../logger.js'
import type { ContainerInspect } from './container-info.js'
import type { DockerEngine } from './docker-source.js'
import type { ContainerSummary } from './engine-api.js'
import { connectSwarmApi, type SwarmReads } from './swarm-api.js'
import { isTaskContainer, swarmNodeNames, swarmRole, swarmTaskContainers, withoutContract, type SwarmTaskContainer } from './swarm-tasks.js'

// The Swarm provider. On a manager it reads the task list (at least every `pollMs`, at once on a
// service event) and presents every task that may take traffic as one more container of the engine
// DockerSource lists, so the one builder sees standalone containers and tasks together and nothing
// past it knows which fed a target. A task container is routed as its task (task state, overlay
// address), never as a container: its inspect loses the env contract.
//
// A change in the task list reaches DockerSource as a `network connect` event of the task's
// container on the stream it reads (the event it answers by forgetting that container's inspect
// and re-listing, debounced): withdrawal is one re-list away from the task list read. Local `kill`
// events of a task's container withdraw it sooner, through DockerSource as for any container
// (the target's group is the task's container id).

export interface SwarmProviderOptions {
  /** How often the task list is read on a manager (the issue asks for at least every second). */
  pollMs?: number
  /** How often a non-manager engine is asked again whether it became one. */
  roleCheckMs?: number
  maxBackoffMs?: number
}

interface StreamEvent { Type?: string, Action?: string }

export class SwarmProvider implements DockerEngine {
  readonly #engine: DockerEngine
  readonly #swarm: SwarmReads
  readonly #log: Logger
  readonly #pollMs: number
  readonly #roleCheckMs: number
  readonly #maxBackoffMs: number
  #role: 'manager' | 'worker' | 'none' = 'none'
  /** Tasks that may take traffic, by container id, with their inspect's JSON (to see changes). */
  #tasks = new Map<string, { task: SwarmTaskContainer, json: string }>()
  #listed = new Set<string>()
  #out: PassThrough | undefined
  #timer: NodeJS.Timeout | undefined
  #reading: Promise<void> | undefined
  #readAgain = false
  #backoffMs = 0
  #lastError = ''
  #reported = new Set<string>()
  #stopped = false
  #reads = 0
  /** Ask GET /info before the next task read (a read answered "not a swarm manager"). */
  #checkRole = false
  /** Node hostnames by id, shown with each task; read again on node events and every 40 reads. */
  #nodeNames: Map<string, string> | undefined

  constructor (engine: DockerEngine, swarm: SwarmReads, log: Logger, options: SwarmProviderOptions = {}) {
    this.#engine = engine
    this.#swarm = swarm
    this.#log = log
    this.#pollMs = options.pollMs ?? 250
    this.#roleCheckMs = options.roleCheckMs ?? 10_000
    this.#maxBackoffMs = options.maxBackoffMs ?? 5_000
  }

  get role (): 'manager' | 'worker' | 'none' { return this.#role }
  /** Task list reads done (for tests and metrics). */
  get reads (): number { return this.#reads }
  get tasks (): SwarmTaskContainer[] { return [...this.#tasks.values()].map((t) => t.task) }

  /** Finds this engine's Swarm role and, on a manager, reads the task list once; never rejects. */
  async start (): Promise<void> {
    await this.#read()
  }

  stop (): void {
    this.#stopped = true
    clearTimeout(this.#timer)
    void this.#swarm.close().catch(() => {})
  }

  // DockerEngine, as DockerSource sees it

  async listContainers (): Promise<ContainerSummary[]> {
    const containers = await this.#engine.listContainers()
    const ids = new Set(containers.map((c) => c.Id))
    const all = [...containers, ...[...this.#tasks.keys()].filter((id) => !ids.has(id)).map((Id) => ({ Id }))]
    this.#listed = new Set(all.map((c) => c.Id))
    return all
  }

  async inspectContainer (id: string): Promise<ContainerInspect> {
    const task = this.#tasks.get(id)
    if (task !== undefined) return task.task.inspect
    const inspect = await this.#engine.inspectContainer(id)
    // On a worker the task list is not readable: its local tasks stay routed as containers.
    return this.#role === 'manager' && isTaskContainer(inspect.Config?.Labels) ? withoutContract(inspect) : inspect
  }

  async events (since: number, filters: Record<string, string[]>): Promise<NodeJS.ReadableStream> {
    const types = [...(filters.type ?? []), 'service', 'node']
    const inner = await this.#engine.events(since, { ...filters, type: types }) as Readable
    const out = new PassThrough()
    this.#out = out
    inner.on('data', lineReader((line) => {
      if (this.#isServiceEvent(line)) this.#readNow() // DockerSource never sees them
      else out.write(`${line}\n`)
    }))
    inner.on('end', () => { out.end() })
    inner.on('close', () => { out.destroy() })
    inner.on('error', (err: Error) => { out.destroy(err) })
    out.on('close', () => {
      if (this.#out === out) this.#out = undefined
      inner.destroy()
    })
    return out
  }

  // Private

  /** A service or node (drain, availability) changed: its tasks are read at once. */
  #isServiceEvent (line: string): boolean {
    if (!line.includes('"service"') && !line.includes('"node"')) return false
    try {
      const type = (JSON.parse(line) as StreamEvent).Type
      if (type === 'node') this.#nodeNames = undefined // joined, left or renamed: read the names again
      return type === 'service' || type === 'node'
    } catch {
      return false
    }
  }

  /** A read now (a service changed); one in flight at a time, another right after when asked meanwhile. */
  #readNow (): void {
    if (this.#stopped || this.#backoffMs > 0) return
    if (this.#reading !== undefined) { this.#readAgain = true; return }
    clearTimeout(this.#timer)
    void this.#read()
  }

  async #read (): Promise<void> {
    this.#reading = this.#readOnce()
    try {
      await this.#reading
    } finally {
      this.#reading = undefined
    }
    if (this.#stopped) return
    const again = this.#readAgain
    this.#readAgain = false
    const delay = this.#backoffMs > 0 ? this.#backoffMs : again ? 0 : this.#role === 'manager' ? this.#pollMs : this.#roleCheckMs
    clearTimeout(this.#timer)
    this.#timer = setTimeout(() => { void this.#read() }, delay)
    this.#timer.unref?.()
  }

  async #readOnce (): Promise<void> {
    try {
      if (this.#role !== 'manager' || this.#checkRole || this.#reads % 40 === 0) {
        this.#setRole(swarmRole(await this.#swarm.info()))
        this.#checkRole = false
      }
      if (this.#role === 'manager') {
        const services = await this.#swarm.services()
        const tasks = await this.#swarm.runningTasks()
        if (this.#swarm.nodes !== undefined && (this.#nodeNames === undefined || this.#reads % 40 === 0)) {
          // A failed node read keeps the names known: they are shown, never routed on.
          this.#nodeNames = await this.#swarm.nodes().then(swarmNodeNames, () => this.#nodeNames)
        }
        this.#apply(swarmTaskContainers(services, tasks, this.#nodeNames))
      } else {
        this.#apply({ containers: [], problems: [] })
      }
      this.#reads++
      if (this.#lastError !== '') this.#log.info({ reads: this.#reads }, 'Swarm task list read again; tasks follow the cluster')
      this.#lastError = ''
      this.#backoffMs = 0
    } catch (err) {
      const message = (err as Error).message
      this.#backoffMs = Math.min(Math.max(this.#backoffMs * 2, this.#pollMs), this.#maxBackoffMs)
      // Logged once per distinct error; tasks keep their last known state meanwhile.
      if (message !== this.#lastError) this.#log.warn({ err: message, retryInMs: this.#backoffMs }, 'Swarm task list read failed; keeping the last one and retrying')
      this.#lastError = message
      // A node that left the swarm answers 503 "not a swarm manager": ask its role again.
      if ((err as { statusCode?: number }).statusCode === 503) this.#checkRole = true
    }
  }

  #setRole (role: 'manager' | 'worker' | 'none'): void {
    if (role === this.#role) return
    const was = this.#role
    this.#role = role
    if (role === 'manager') this.#log.info('Swarm manager: services with VIRTUAL_HOST in their env are routed to their running tasks')
    else if (role === 'worker') this.#log.warn('Swarm worker: the task list is on managers only; this node\'s tasks are routed as containers (run the proxy on a manager)')
    else if (was !== 'none') this.#log.info('Not in a swarm (any more): Swarm tasks are no longer routed')
    // Task containers change view (as their task, or as containers): each is inspected again.
    if (was !== 'none' || role === 'manager') this.#changed([...this.#listed])
  }

  #apply (view: ReturnType<typeof swarmTaskContainers>): void {
    const next = new Map<string, { task: SwarmTaskContainer, json: string }>()
    for (const task of view.containers) next.set(task.id, { task, json: JSON.stringify(task.inspect) })
    const changed: string[] = []
    for (const [id, t] of next) if (this.#tasks.get(id)?.json !== t.json) changed.push(id)
    for (const [id, t] of this.#tasks) {
      if (next.has(id)) continue
      changed.push(id)
      this.#log.info({ containerId: id.slice(0, 12), name: t.task.name, task: t.task.taskId }, 'Swarm task left rotation (desired state or state no longer running)')
    }
    for (const [id, t] of next) if (!this.#tasks.has(id)) this.#log.info({ containerId: id.slice(0, 12), name: t.task.name, task: t.task.taskId, node: t.task.nodeId }, 'Swarm task running')
    this.#tasks = next
    this.#reportProblems(view.problems)
    this.#changed(changed)
  }

  /** Tells DockerSource these containers changed: it forgets their inspect and re-lists. */
  #changed (ids: string[]): void {
    const out = this.#out
    if (ids.length === 0 || out === undefined || out.destroyed) return
    for (const id of ids) {
      out.write(`${JSON.stringify({ Type: 'network', Action: 'connect', Actor: { ID: 'swarm', Attributes: { container: id } }, from: 'proxyctl-swarm' })}\n`)
    }
  }

  #reportProblems (problems: ReturnType<typeof swarmTaskContainers>['problems']): void {
    const current = new Set<string>()
    for (const p of problems) {
      const key = `${p.subject}\u0000${p.message}`
      current.add(key)
      if (!this.#reported.has(key)) this.#log.warn({ service: p.subject }, p.message)
    }
    this.#reported = current
  }
}

/** The daemon's one call: a SwarmProvider on the engine connectEngine found, its role found and tasks read. */
export async function startSwarmProvider (engine: DockerEngine, log: Logger, options: SwarmProviderOptions = {}): Promise<SwarmProvider> {
  const provider = new SwarmProvider(engine, connectSwarmApi(), log, options)
  await provider.start()
  return provider
}
