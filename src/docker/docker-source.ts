import { lineReader } from '../line-reader.js'
import type { Logger } from '../logger.js'
import type { DesiredState } from '../routing/desired-state.js'
import { fromInspect, type ContainerInfo, type ContainerInspect } from './container-info.js'
import { buildDesiredState, type BuildProblem } from './desired-state-builder.js'
import { ownContainerIdCandidates } from './docker-client.js'
import type { ContainerSummary } from './engine-api.js'

export interface ProviderListener {
  stateChanged (state: DesiredState): void
  /** The group (container) is going away: take it out of rotation now. */
  groupWithdrawn (groupId: string, reason: string): void
  groupStarted (groupId: string, reason: string): void
}

/**
 * The engine calls DockerSource makes, and nothing else: EngineApi implements it, and a unit test
 * drives DockerSource through a fake (test/unit/docker-source.test.ts).
 */
export interface DockerEngine {
  listContainers (): Promise<ContainerSummary[]>
  /** Rejects with `statusCode: 404` when the container is gone. */
  inspectContainer (id: string): Promise<ContainerInspect>
  /** Newline-delimited JSON events from `since` (seconds) until destroyed; ends, closes or errors when lost. */
  events (since: number, filters: Record<string, string[]>): Promise<NodeJS.ReadableStream>
}

export interface DockerSourceOptions {
  debounceMs?: number
  maxBackoffMs?: number
  selfContainerId?: string | undefined
  /** PREFER_IPV6_NETWORK (desired-state-builder.ts). */
  preferIpv6Network?: boolean | undefined
}

interface DockerEvent {
  Type?: string
  Action?: string
  Actor?: { ID?: string, Attributes?: Record<string, string> }
  id?: string
}

// Signals that ask a process to reload, not to stop: the container stays in rotation.
const NON_TERMINATING_SIGNALS = new Set(['1', 'SIGHUP', 'HUP', '10', 'SIGUSR1', 'USR1', '12', 'SIGUSR2', 'USR2', '28', 'SIGWINCH', 'WINCH'])

/**
 * Docker provider: subscribe to events, then list; any relevant event schedules a debounced full
 * re-list (level-triggered), unchanged results are dropped, and the stream reconnects with backoff.
 */
export class DockerSource {
  readonly #docker: DockerEngine
  readonly #log: Logger
  readonly #listener: ProviderListener
  readonly #debounceMs: number
  readonly #maxBackoffMs: number
  readonly #selfOverride: string | undefined
  #inspectCache = new Map<string, ContainerInfo>()
  #lastStateJson = ''
  #reported = new Set<string>()
  #problems: BuildProblem[] = []
  #stream: NodeJS.ReadableStream | undefined
  #relistTimer: NodeJS.Timeout | undefined
  #relisting: Promise<void> | undefined
  #relistAgain = false
  #reconnectTimer: NodeJS.Timeout | undefined
  #backoffMs = 250
  #stopped = false
  #reconnects = 0
  readonly #preferIpv6Network: boolean

  constructor (docker: DockerEngine, listener: ProviderListener, log: Logger, options: DockerSourceOptions = {}) {
    this.#docker = docker
    this.#listener = listener
    this.#log = log
    this.#debounceMs = options.debounceMs ?? 25
    this.#maxBackoffMs = options.maxBackoffMs ?? 5_000
    this.#selfOverride = options.selfContainerId
    this.#preferIpv6Network = options.preferIpv6Network === true
  }

  get reconnects (): number { return this.#reconnects }
  /** Problems found by the last re-list (containers skipped, settings ignored). */
  get problems (): readonly BuildProblem[] { return this.#problems }

  /** Subscribes, lists once and emits the first state; rejects when Docker cannot be reached. */
  async start (): Promise<void> {
    await this.#subscribe()
    await this.#relist()
  }

  stop (): void {
    this.#stopped = true
    clearTimeout(this.#relistTimer)
    clearTimeout(this.#reconnectTimer)
    const s = this.#stream as (NodeJS.ReadableStream & { destroy?: () => void }) | undefined
    s?.destroy?.()
  }

  // Private

  async #subscribe (): Promise<void> {
    const since = Math.floor(Date.now() / 1000) - 1
    const stream = await this.#docker.events(since, { type: ['container', 'network'] })
    this.#stream = stream
    stream.on('data', lineReader((raw) => {
      const line = raw.trim()
      if (line !== '') this.#onEventLine(line)
    }))
    const lost = (why: string, err?: unknown): void => {
      if (this.#stream !== stream) return
      this.#stream = undefined
      if (this.#stopped) return
      this.#log.warn({ err, why }, 'Docker event stream lost; serving the current table and reconnecting')
      this.#scheduleReconnect()
    }
    stream.on('end', () => { lost('ended') })
    stream.on('close', () => { lost('closed') })
    stream.on('error', (err: Error) => { lost('error', err) })
  }

  #scheduleReconnect (): void {
    const delay = this.#backoffMs
    this.#backoffMs = Math.min(this.#backoffMs * 2, this.#maxBackoffMs)
    this.#reconnectTimer = setTimeout(() => {
      void (async () => {
        try {
          await this.#subscribe()
          this.#inspectCache.clear()
          await this.#relist()
          this.#backoffMs = 250
          this.#reconnects++
          this.#log.info({ reconnects: this.#reconnects }, 'Docker event stream reconnected; table resynced')
        } catch (err) {
          this.#log.warn({ err: (err as Error).message, retryInMs: this.#backoffMs }, 'Docker reconnect failed')
          this.#stream = undefined
          this.#scheduleReconnect()
        }
      })()
    }, delay)
  }

  #onEventLine (line: string): void {
    let ev: DockerEvent
    try {
      ev = JSON.parse(line) as DockerEvent
    } catch {
      this.#log.warn({ line: line.slice(0, 200) }, 'Unparseable Docker event ignored')
      return
    }
    const action = ev.Action ?? ''
    if (ev.Type === 'network') {
      const cid = ev.Actor?.Attributes?.container
      if (cid !== undefined) this.#inspectCache.delete(cid)
      if (action === 'connect' || action === 'disconnect') this.#scheduleRelist()
      return
    }
    const id = ev.Actor?.ID ?? ev.id
    if (id === undefined) return
    this.#inspectCache.delete(id)
    const name = ev.Actor?.Attributes?.name
    if (action === 'kill') {
      const signal = ev.Actor?.Attributes?.signal ?? ''
      if (!NON_TERMINATING_SIGNALS.has(signal)) this.#listener.groupWithdrawn(id, `container ${name ?? id} received signal ${signal || '?'} (kill event)`)
    } else if (action === 'stop' || action === 'die' || action === 'pause' || action === 'destroy') {
      this.#listener.groupWithdrawn(id, `container ${name ?? id} ${action} event`)
    } else if (action === 'start' || action === 'unpause' || action === 'restart') {
      this.#listener.groupStarted(id, `container ${name ?? id} ${action} event`)
    }
    if (/^(start|restart|die|stop|kill|destroy|pause|unpause|rename|update|health_status)/.test(action)) this.#scheduleRelist()
  }

  #scheduleRelist (): void {
    if (this.#stopped) return
    clearTimeout(this.#relistTimer)
    this.#relistTimer = setTimeout(() => { void this.#relist() }, this.#debounceMs)
  }

  async #relist (): Promise<void> {
    if (this.#relisting !== undefined) {
      this.#relistAgain = true
      return await this.#relisting
    }
    this.#relisting = this.#doRelist()
    try {
      await this.#relisting
    } finally {
      this.#relisting = undefined
    }
    if (this.#relistAgain) {
      this.#relistAgain = false
      this.#scheduleRelist()
    }
  }

  async #doRelist (): Promise<void> {
    let containers: ContainerInfo[]
    let self: ContainerInfo | undefined
    try {
      const summaries = await this.#docker.listContainers()
      const live = new Set(summaries.map((s) => s.Id))
      for (const id of this.#inspectCache.keys()) if (!live.has(id)) this.#inspectCache.delete(id)
      const results = await Promise.all(summaries.map(async (s) => await this.#inspect(s.Id)))
      containers = results.filter((c): c is ContainerInfo => c !== undefined)
      self = await this.#findSelf(containers)
    } catch (err) {
      // Keep serving the table as it is; the event stream's reconnect will re-list.
      this.#log.warn({ err: (err as Error).message }, 'Docker re-list failed; keeping the current table')
      if (this.#lastStateJson === '') throw err
      return
    }
    // A proxy in the host network reaches every bridge address, as a proxy run on the host does.
    const scoped = self?.networkMode === 'host' ? undefined : self
    const { state, problems } = buildDesiredState(containers, {
      selfId: self?.id,
      selfNetworkIds: scoped === undefined ? undefined : new Set(scoped.networks.map((n) => n.id)),
      selfGateways: scoped?.networks.map((n) => n.gateway ?? ''),
      preferIpv6Network: this.#preferIpv6Network
    })
    this.#reportProblems(problems)
    const json = JSON.stringify(state)
    if (json === this.#lastStateJson) return
    this.#lastStateJson = json
    this.#listener.stateChanged(state)
  }

  async #inspect (id: string): Promise<ContainerInfo | undefined> {
    const cached = this.#inspectCache.get(id)
    if (cached !== undefined) return cached
    try {
      const info = fromInspect(await this.#docker.inspectContainer(id))
      this.#inspectCache.set(id, info)
      return info
    } catch (err) {
      const status = (err as { statusCode?: number }).statusCode
      if (status === 404) return undefined // removed between list and inspect
      throw err
    }
  }

  async #findSelf (containers: ContainerInfo[]): Promise<ContainerInfo | undefined> {
    const candidates = this.#selfOverride !== undefined ? [this.#selfOverride] : ownContainerIdCandidates()
    for (const c of candidates) {
      const found = containers.find((x) => x.id === c || x.id.startsWith(c) || x.name === c)
      if (found !== undefined) return found
    }
    return undefined
  }

  #reportProblems (problems: BuildProblem[]): void {
    this.#problems = problems
    const current = new Set<string>()
    for (const p of problems) {
      const key = `${p.containerId}\u0000${p.message}`
      current.add(key)
      if (this.#reported.has(key)) continue // logged once per container and problem
      this.#log[p.level]({ containerId: p.containerId.slice(0, 12), container: p.containerName }, p.message)
    }
    this.#reported = current
  }
}
