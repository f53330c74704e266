import cluster, { type Worker } from 'node:cluster'
import { randomBytes } from 'node:crypto'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { pino } from 'pino'
import { listenHost, type ServeOptions } from '../config/options.js'
import { InvalidOptionError } from '../errors.js'
import type { Logger } from '../logger.js'
import type { RequestObserver } from '../proxy/proxy-server.js'
import type { Reconciler } from '../routing/reconciler.js'
import type { RouteTableStore } from '../routing/route-table-store.js'
import type { DrainResult } from '../routing/target.js'
import { EMPTY_POLICY, type PolicyStore } from '../traffic/policy.js'
import { replayOutcomes, sumTargetLoads } from './figures.js'
import { relayLines, type LineSink } from './line-relay.js'
import { routingSnapshot } from './routing-replica.js'
import { shareProblem } from './worker-limits.js'
import { PortClaims, probeBind, type PortClaimAnswer, type PortClaimRequest } from './port-claim.js'
import { workerExecArgv, workerMallocEnv } from './worker-memory.js'
import type { AcceptMode, FromWorker, RoutingSnapshot, TargetLoad, ToWorker, WorkerProcessFigures } from './messages.js'

// The primary's side of --workers N: forks the worker processes, sends them every routing change,
// replays their request outcomes into the primary's telemetry, joins them into drains, asks them
// for in-flight counts, restarts one that dies. Docker, health checks and the admin API stay here.

const here = fileURLToPath(import.meta.url)
/** dist/workers/worker-main.js when built; the .ts beside this file under a TypeScript loader (tests). */
const WORKER_MAIN = join(dirname(here), here.endsWith('.ts') ? 'worker-main.ts' : 'worker-main.js')

/** A worker that dies within this of its start is restarted after a growing delay (a crash loop). */
const STABLE_AFTER_MS = 10_000
const MAX_RESTART_DELAY_MS = 5_000
/** Bounds on questions to a worker: one that does not answer counts as having nothing. */
const FLUSH_TIMEOUT_MS = 1_000
const RELOAD_TIMEOUT_MS = 10_000
const STOP_GRACE_MS = 5_000
/** From fork to listening: far above the 0.2-16 s measured (the TypeScript loader, load 14). */
const WORKER_START_TIMEOUT_MS = 60_000

export interface WorkerPoolOptions {
  count: number
  accept: AcceptMode
  options: ServeOptions
  store: RouteTableStore
  reconciler: Reconciler
  policy?: PolicyStore | undefined
  /** The primary's telemetry: every request a worker answered is reported here, and on each refresh the answering workers' process figures. */
  observer: RequestObserver & { workerProcesses?: (figures: ReadonlyArray<{ worker: number } & WorkerProcessFigures>) => void }
  /** The root logger: workers' log lines go out through its destination. */
  log: Logger
}

interface Slot {
  index: number
  worker: Worker | undefined
  /** The worker has its routing (init sent): it gets every snapshot from then on. */
  initialized: boolean
  listening: boolean
  inflight: number
  startedAt: number
  quickDeaths: number
}

interface Pending { slot: Slot, resolve: (m: FromWorker | undefined) => void, timer: NodeJS.Timeout }

export class WorkerPool {
  readonly #o: WorkerPoolOptions
  readonly #log: Logger
  readonly #sink: LineSink
  readonly #slots: Slot[]
  readonly #pending = new Map<number, Pending>()
  readonly #unsubscribe: Array<() => void> = []
  readonly #relays = new Set<Promise<void>>()
  #nextId = 1
  #version = 0
  #publishQueued = false
  #stopping = false
  #options: ServeOptions
  #loads = new Map<string, { inflight: number, longLived: number }>()
  #held = new Map<string, number>()
  #started = false
  /** One set of TLS session ticket keys for every worker (a client's next connection may reach another). */
  readonly #ticketKeys = randomBytes(48)
  /** The hosts' extra ports (EXTERNAL_HTTP_PORT...) the workers open: claimed here once for all of them. */
  readonly #portClaims: PortClaims

  constructor (o: WorkerPoolOptions) {
    this.#o = o
    // Workers split the limits documented per proxy by this count (worker-limits.ts).
    this.#options = { ...o.options, workers: o.count }
    this.#log = o.log.child({ component: 'daemon' })
    this.#sink = (o.log as unknown as Record<symbol, unknown>)[pino.symbols.streamSym] as LineSink
    this.#portClaims = new PortClaims(listenHost(o.options))
    this.#slots = Array.from({ length: o.count }, (_, index) => ({ index, worker: undefined, initialized: false, listening: false, inflight: 0, startedAt: 0, quickDeaths: 0 }))
  }

  /** Requests in flight on every worker, as last reported (every batch of outcomes carries it). */
  get inflight (): number { return this.#slots.reduce((n, s) => n + (s.listening ? s.inflight : 0), 0) }

  /** Worker process ids by slot (undefined while one is being replaced). */
  get pids (): Array<number | undefined> { return this.#slots.map((s) => s.worker?.process.pid) }

  /** Forks the workers; resolves once every one listens, with the ports (the first one's, when 0 was asked). */
  async start (): Promise<{ port: number, httpsPort: number | undefined }> {
    // Every worker must get a share of the connection limit (worker-limits.ts): checked before any is forked.
    const problem = shareProblem(this.#options)
    if (problem !== undefined) throw new InvalidOptionError(problem)
    // Round-robin: the primary accepts and hands connections out (node:cluster's default on Linux).
    if (this.#o.accept === 'round-robin') cluster.schedulingPolicy = cluster.SCHED_RR
    cluster.setupPrimary({ exec: WORKER_MAIN, args: [], execArgv: workerExecArgv(process.execArgv, process.env.NODE_OPTIONS), silent: true, serialization: 'advanced' })
    const { store, reconciler, policy } = this.#o
    this.#unsubscribe.push(
      store.onTableSwapped(() => { this.#version++; this.#publishSoon() }),
      reconciler.onTargetStateChanged(() => { this.#publishSoon() }),
      reconciler.onDrain(async (groupId, timeoutMs, graceMs) => await this.#drain(groupId, timeoutMs, graceMs))
    )
    if (policy !== undefined) this.#unsubscribe.push(policy.onChanged(() => { this.#publishSoon() }))
    if (this.#o.accept === 'reuseport') await this.#claimPorts()
    // The first worker binds the ports; the others then bind the same ones (port 0: the one the OS
    // gave it; node:cluster's round-robin shares its port-0 handle by itself).
    const ports = await this.#spawn(this.#slots[0]!)
    if (this.#o.accept === 'reuseport') this.#options = { ...this.#options, port: ports.port, httpsPort: this.#options.httpsPort === undefined ? undefined : ports.httpsPort }
    await Promise.all(this.#slots.slice(1).map(async (s) => await this.#spawn(s)))
    this.#started = true
    return ports
  }

  /**
   * Asks every worker for its figures: once it resolves, every request a worker answered so far is
   * counted in the primary's telemetry, and load() and held() sum what the workers hold now.
   * Called before the admin API answers (metrics, status, history, deploy figures).
   */
  async refresh (): Promise<void> {
    const replies = await Promise.all(this.#listening().map(async (s) => ({ worker: s.index, r: await this.#ask(s, (id) => ({ type: 'load', id }), FLUSH_TIMEOUT_MS) })))
    const reports: TargetLoad[][] = []
    const held = new Map<string, number>()
    const processes: Array<{ worker: number } & WorkerProcessFigures> = []
    for (const { worker, r } of replies) {
      if (r?.type !== 'load') continue
      reports.push(r.targets)
      processes.push({ worker, ...r.process })
      for (const [host, n] of Object.entries(r.held)) held.set(host, (held.get(host) ?? 0) + n)
    }
    this.#loads = sumTargetLoads(reports)
    this.#held = held
    this.#o.observer.workerProcesses?.(processes)
  }

  /** A target's in-flight requests and long-lived connections over every worker, as of the last refresh(). */
  load (key: string): { inflight: number, longLived: number } | undefined { return this.#loads.get(key) }

  /** Requests held for a paused host over every worker, as of the last refresh(). */
  held (host: string): number { return this.#held.get(host) ?? 0 }

  /** SIGHUP: every worker reads its certificates, htpasswd files and vhost.d again; resolves with how many did. */
  async reload (): Promise<number> {
    const replies = await Promise.all(this.#slots.filter((s) => s.initialized).map(async (s) => await this.#ask(s, (id) => ({ type: 'reload', id }), RELOAD_TIMEOUT_MS)))
    return replies.filter((r) => r !== undefined).length
  }

  /** Every worker stops accepting and finishes its in-flight requests (bounded by --shutdown-timeout), then exits. */
  async stop (): Promise<void> {
    this.#stopping = true
    for (const u of this.#unsubscribe) u()
    const exits = this.#slots.map(async (s) => {
      const w = s.worker
      if (w === undefined || w.isDead()) return
      const exited = new Promise<void>((resolve) => { w.once('exit', () => { resolve() }) })
      this.#send(s, { type: 'stop' })
      let timer: NodeJS.Timeout | undefined
      const late = new Promise<void>((resolve) => { timer = setTimeout(resolve, this.#options.shutdownTimeoutMs + STOP_GRACE_MS) })
      await Promise.race([exited, late])
      clearTimeout(timer)
      if (!w.isDead()) w.process.kill('SIGKILL')
    })
    await Promise.all(exits)
    // Their last log lines, read to the end before the primary's own logger is flushed.
    await Promise.all([...this.#relays])
  }

  // Private

  /** The ports' claim (port-claim.ts), before the first worker binds them with SO_REUSEPORT. */
  async #claimPorts (): Promise<void> {
    const host = listenHost(this.#options)
    const ports: Array<[number | undefined, string, string]> = [
      [this.#options.port, 'HTTP', '--port N'],
      [this.#options.httpsPort, 'HTTPS', '--https-port N, or --https-port off']
    ]
    for (const [port, what, hint] of ports) {
      if (port === undefined || port === 0) continue
      await probeBind(host, port).catch((err: NodeJS.ErrnoException) => {
        throw new InvalidOptionError(`cannot listen for ${what} on ${host}:${port}: ${err.code ?? err.message} (choose another with ${hint})`)
      })
    }
  }

  /** A worker asks for (or gives back) a host's extra port before opening it with SO_REUSEPORT. */
  #onPortClaim (slot: Slot, worker: Worker, m: PortClaimRequest): void {
    if (m.type === 'port-released') { this.#portClaims.release(slot.index, m.port); return }
    void this.#portClaims.claim(slot.index, m.port).then((refused) => {
      // A worker that died meanwhile holds nothing.
      if (slot.worker !== worker || !worker.isConnected()) { this.#portClaims.release(slot.index, m.port); return }
      const answer: PortClaimAnswer = { type: 'port-claim', id: m.id, refused }
      try { worker.send(answer) } catch { this.#portClaims.release(slot.index, m.port) }
    })
  }

  #listening (): Slot[] { return this.#slots.filter((s) => s.listening && s.worker !== undefined) }

  #snapshot (): RoutingSnapshot {
    return routingSnapshot(this.#version, this.#o.reconciler, this.#o.policy?.current ?? EMPTY_POLICY)
  }

  /** One snapshot for all changes made in this turn (a table swap brings many state changes). */
  #publishSoon (): void {
    if (this.#publishQueued) return
    this.#publishQueued = true
    queueMicrotask(() => {
      this.#publishQueued = false
      if (this.#stopping) return
      const snapshot = this.#snapshot()
      for (const s of this.#slots) if (s.initialized) this.#send(s, { type: 'routing', snapshot })
    })
  }

  async #drain (groupId: string, timeoutMs: number, graceMs: number): Promise<DrainResult[]> {
    const replies = await Promise.all(this.#slots.filter((s) => s.initialized).map(async (s) =>
      await this.#ask(s, (id) => ({ type: 'drain', id, groupId, timeoutMs, graceMs }), timeoutMs + graceMs + FLUSH_TIMEOUT_MS)))
    return replies.flatMap((r) => r?.type === 'drained' ? r.results : [])
  }

  #send (slot: Slot, m: ToWorker): void {
    const w = slot.worker
    if (w === undefined || !w.isConnected()) return
    try { w.send(m) } catch (err) { this.#log.warn({ worker: slot.index, err }, 'Message to worker failed') }
  }

  /** A question to one worker; undefined when it does not answer in time or dies first. */
  async #ask (slot: Slot, message: (id: number) => ToWorker, timeoutMs: number): Promise<FromWorker | undefined> {
    if (slot.worker === undefined || !slot.worker.isConnected()) return undefined
    const id = this.#nextId++
    return await new Promise<FromWorker | undefined>((resolve) => {
      const timer = setTimeout(() => { this.#answer(id, undefined) }, timeoutMs)
      this.#pending.set(id, { slot, resolve, timer })
      this.#send(slot, message(id))
    })
  }

  #answer (id: number, m: FromWorker | undefined): void {
    const p = this.#pending.get(id)
    if (p === undefined) return
    this.#pending.delete(id)
    clearTimeout(p.timer)
    p.resolve(m)
  }

  async #spawn (slot: Slot): Promise<{ port: number, httpsPort: number | undefined }> {
    const worker = cluster.fork({ ...workerMallocEnv(process.env), PROXYCTL_WORKER: String(slot.index) })
    slot.worker = worker
    slot.listening = false
    slot.inflight = 0
    slot.startedAt = Date.now()
    let stderr = ''
    let failed: Error | undefined
    const relay = relayLines(worker.process.stdout!, this.#sink)
    this.#relays.add(relay)
    void relay.then(() => { this.#relays.delete(relay) })
    worker.process.stderr!.on('data', (c: Buffer) => {
      if (!slot.listening) stderr = (stderr + c.toString('utf8')).slice(-2_000)
      process.stderr.write(c)
    })
    return await new Promise((resolve, reject) => {
      // A worker that neither listens nor exits (stuck in its start) is killed: its exit then fails
      // the start, or is replaced like any other death.
      const startTimer = setTimeout(() => {
        failed = new InvalidOptionError(`worker ${slot.index} did not start listening within ${WORKER_START_TIMEOUT_MS / 1000} s`)
        this.#log.error({ worker: slot.index, workerPid: worker.process.pid }, 'Worker did not start in time; killing it')
        worker.process.kill('SIGKILL')
      }, WORKER_START_TIMEOUT_MS)
      startTimer.unref()
      worker.on('message', (m: FromWorker | PortClaimRequest) => {
        switch (m.type) {
          case 'claim-port':
          case 'port-released':
            this.#onPortClaim(slot, worker, m)
            return
          case 'ready':
            slot.initialized = true
            this.#send(slot, { type: 'init', options: this.#options, snapshot: this.#snapshot(), accept: this.#o.accept, ticketKeys: this.#ticketKeys })
            return
          case 'listening':
            clearTimeout(startTimer)
            slot.listening = true
            this.#log.info({ worker: slot.index, workerPid: worker.process.pid, port: m.port, httpsPort: m.httpsPort }, 'Worker listening')
            resolve({ port: m.port, httpsPort: m.httpsPort })
            return
          case 'failed':
            failed = new InvalidOptionError(m.message)
            return
          case 'requests':
            replayOutcomes(m.outcomes, this.#o.observer)
            slot.inflight = m.inflight
            return
          default:
            this.#answer(m.id, m)
        }
      })
      worker.once('exit', (code, signal) => {
        clearTimeout(startTimer)
        for (const [id, p] of this.#pending) if (p.slot === slot) this.#answer(id, undefined)
        this.#portClaims.releaseAll(slot.index)
        const wasListening = slot.listening
        slot.listening = false
        slot.initialized = false
        slot.inflight = 0
        if (slot.worker === worker) slot.worker = undefined
        if (!wasListening) reject(failed ?? new InvalidOptionError(`worker ${slot.index} exited before listening (${code ?? signal ?? ''}): ${stderr.trim().split('\n').slice(-3).join(' ')}`))
        // A worker that cannot start at boot fails the start; later ones are replaced.
        if (this.#stopping || !this.#started) return
        this.#restart(slot, worker.process.pid, code, signal)
      })
    })
  }

  #restart (slot: Slot, pid: number | undefined, code: number | null, signal: string | null): void {
    slot.quickDeaths = Date.now() - slot.startedAt < STABLE_AFTER_MS ? slot.quickDeaths + 1 : 0
    const delayMs = slot.quickDeaths === 0 ? 0 : Math.min(MAX_RESTART_DELAY_MS, 250 * 2 ** (slot.quickDeaths - 1))
    this.#log.error({ worker: slot.index, workerPid: pid, code, signal, restartInMs: delayMs }, 'Worker exited; starting another')
    setTimeout(() => {
      if (this.#stopping) return
      this.#spawn(slot).catch((err: unknown) => { this.#log.error({ worker: slot.index, err }, 'Worker restart failed') })
    }, delayMs).unref()
  }
}
