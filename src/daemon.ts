import type { SkippedContainer } from './admin/api.js'
import { closeAdminServer, createAdminServer, listenOnSocket } from './admin/server/admin-server.js'
import { AdmissionWaiters } from './admin/server/admission.js'
import { DEFAULT_LONG_LIVED_GRACE_MS, listenHost, type ServeOptions } from './config/options.js'
import { nginxOnlyEnvWarnings, nginxOnlyWarnings } from './config/nginx-compat.js'
import { connectEngine, pingEngine } from './docker/docker-client.js'
import { RolloutHistory } from './history/rollout-history.js'
import { listenForScrapes } from './metrics/metrics-listener.js'
import { Telemetry } from './metrics/telemetry.js'
import { DockerSource } from './docker/docker-source.js'
import { startSwarmProvider } from './docker/swarm-provider.js'
import type { Logger } from './logger.js'
import { reconcilerOptions } from './proxy/proxy-setup.js'
import { startDataPlane, type DataPlane } from './workers/data-plane.js'
import { Reconciler } from './routing/reconciler.js'
import { RouteTableStore } from './routing/route-table-store.js'
import { VERSION } from './version.js'
import { PolicyStore } from './traffic/policy.js'
import { TrafficStateFile, trafficStateFileFor } from './traffic/traffic-state.js'

/**
 * A stop asked for (SIGTERM, SIGINT) before the proxy listened: the start was given up, everything
 * it had started is stopped again, nothing was served.
 */
export class StartAbandoned extends Error {
  constructor () {
    super('start abandoned: a stop was asked for before the proxy listened')
    this.name = 'StartAbandoned'
  }
}

export interface Daemon {
  readonly port: number
  /** Reload certificates and htpasswd files (SIGHUP, as acme-companion sends after a renewal). */
  reload (): Promise<void>
  stop (): Promise<void>
}

/**
 * Wiring and start/stop order; nothing else lives here. `abandon`: a stop asked for during the
 * start. Until the listeners open, each step races it and the start is given up (StartAbandoned,
 * what was started stopped again): Docker or a boot health wait may take long, and nothing has
 * been served yet. From the listeners on, the start completes (a worker may already be answering),
 * and the caller stops the daemon, which drains like any stop.
 */
export async function startDaemon (options: ServeOptions, root: Logger, abandon?: AbortSignal): Promise<Daemon> {
  const log = root.child({ component: 'daemon' })
  // What the start has running so far, stopped in reverse when it is abandoned.
  const started: Array<() => unknown> = []
  const step = async <T>(work: Promise<T>): Promise<T> => await untilAbandoned(work, abandon)
  try {
    const endpoint = connectEngine()
    started.push(async () => { await endpoint.api.close() })
    for (const w of endpoint.warnings) log.warn({ docker: endpoint.describe }, w)
    await step(pingEngine(endpoint))

    const store = new RouteTableStore()
    const telemetry = new Telemetry(options.metrics)
    started.push(() => { telemetry.stop() })
    const history = new RolloutHistory(options.historyFile, telemetry.errorsOn, root.child({ component: 'admin' }))
    await step(history.load())
    const policy = new PolicyStore()
    const trafficState = await step(restoreTrafficControl(policy, options.historyFile, root.child({ component: 'admin' })))
    const reconciler = new Reconciler(store, reconcilerOptions(options), root.child({ component: 'routing' }), telemetry.healthChecked)
    started.push(async () => { await reconciler.stop() })

    let problems = (): SkippedContainer[] => []
    const admission = new AdmissionWaiters(store, reconciler, () => problems())
    started.push(() => { admission.close() })
    // Swarm services beside containers, when this engine is a Swarm manager (swarm-provider.ts).
    // Steps that make something to stop are stopped once they resolve, even after the start was given up.
    const swarmStart = startSwarmProvider(endpoint.api, root.child({ component: 'swarm' }))
    started.push(() => { void swarmStart.then((s) => { s.stop() }, () => {}) })
    const swarm = await step(swarmStart)
    const source = new DockerSource(swarm, {
      stateChanged: (state) => { reconciler.apply(state) },
      groupWithdrawn: (id, reason) => { reconciler.withdraw(id, reason); admission.containerStopped(id, reason) },
      groupStarted: (id, reason) => { reconciler.restore(id, reason); admission.containerStarted(id) }
    }, root.child({ component: 'docker' }), { selfContainerId: options.selfContainerId, preferIpv6Network: options.preferIpv6Network })
    started.push(() => { source.stop() })
    await step(source.start())
    problems = () => source.problems.filter((p) => p.level === 'error').map((p) => ({ containerId: p.containerId, name: p.containerName, reason: p.message }))

    // Check what is already running before the listener opens: a proxy restart must not 503 healthy apps.
    await step(reconciler.probeAll(options.bootHealthWaitMs))

    for (const w of nginxOnlyWarnings(options.nginxRoot)) log.warn({ file: w.file }, w.message)
    for (const w of nginxOnlyEnvWarnings(process.env)) log.warn({ setting: w.setting }, w.message)
    // --workers N: worker processes accept and proxy (src/workers/); 1: this process, as before.
    const planeStart = startDataPlane({ options, store, reconciler, policy, observer: telemetry.requests, root })
    started.push(async () => { await planeStart.then(async (p) => { await p.stop() }, () => {}) })
    const plane = await step(planeStart)
    if (abandon?.aborted === true) throw new StartAbandoned()
    return await listening({ options, log, root, endpoint, store, telemetry, history, policy, trafficState, reconciler, admission, swarm, source, plane, problems: () => problems() })
  } catch (err) {
    if (!(err instanceof StartAbandoned)) throw err
    for (const stop of started.reverse()) await stop()
    throw err
  }
}

/** `work`, or StartAbandoned as soon as `abandon` fires (work left to settle by itself). */
async function untilAbandoned<T> (work: Promise<T>, abandon: AbortSignal | undefined): Promise<T> {
  if (abandon === undefined) return await work
  if (abandon.aborted) { work.catch(() => {}); throw new StartAbandoned() }
  let onAbort: (() => void) | undefined
  const abandoned = new Promise<never>((_resolve, reject) => {
    onAbort = () => { reject(new StartAbandoned()) }
    abandon.addEventListener('abort', onAbort, { once: true })
  })
  try {
    return await Promise.race([work, abandoned])
  } finally {
    abandon.removeEventListener('abort', onAbort!)
    // The step's own failure after the start was given up is of no interest.
    work.catch(() => {})
  }
}

interface Parts {
  options: ServeOptions
  log: Logger
  root: Logger
  endpoint: ReturnType<typeof connectEngine>
  store: RouteTableStore
  telemetry: Telemetry
  history: RolloutHistory
  policy: PolicyStore
  trafficState: TrafficStateFile | undefined
  reconciler: Reconciler
  admission: AdmissionWaiters
  swarm: Awaited<ReturnType<typeof startSwarmProvider>>
  source: DockerSource
  plane: DataPlane
  problems: () => SkippedContainer[]
}

/** The listeners, the admin API and the stop order: from here on the start is not given up. */
async function listening (p: Parts): Promise<Daemon> {
  const { options, log, root, endpoint, store, telemetry, history, policy, trafficState, reconciler, admission, swarm, source, plane, problems } = p
  const admin = createAdminServer({
    store,
    reconciler,
    version: VERSION,
    drainTimeoutMs: options.drainTimeoutMs,
    longLivedGraceMs: DEFAULT_LONG_LIVED_GRACE_MS,
    traffic: telemetry.traffic,
    versions: telemetry.versions,
    history,
    metrics: telemetry.metrics,
    admission,
    skipped: () => problems(),
    policy,
    held: (host) => plane.held(host),
    workers: plane.workers === undefined ? undefined : { refresh: async () => { await plane.workers?.refresh() }, load: (key) => plane.workers?.load(key) },
    trafficStatePersisted: trafficState !== undefined
  }, root.child({ component: 'admin' }))

  telemetry.observe({ store, inflight: () => plane.inflight, dockerReconnects: () => source.reconnects, targets: () => reconciler.targets() })
  const { port, httpsPort } = await plane.listen()
  // After the ports: a second proxy that cannot get them must not take over this one's socket.
  await listenOnSocket(admin, options.adminSocket)
  const scrapes = options.metricsListen === undefined ? undefined : await listenForScrapes(telemetry.metrics, options.metricsListen, async () => { await plane.workers?.refresh() })
  if (options.metricsListen !== undefined) log.info({ metrics: `${options.metricsListen.host}:${options.metricsListen.port}` }, 'Metrics listening')
  const ready = reconciler.targets().filter((t) => t.routable).length
  log.info({ port, httpsPort, host: listenHost(options), adminSocket: options.adminSocket, docker: endpoint.describe, hosts: store.current.hosts.length, ready }, 'Listening')

  let stopping: Promise<void> | undefined
  return {
    port,
    reload: async () => {
      log.info(await plane.reload(), 'Reloaded')
    },
    stop: async () => {
      stopping ??= (async () => {
        log.info({ inflight: plane.inflight }, 'Stopping')
        telemetry.stop()
        await plane.stop()
        scrapes?.close()
        source.stop()
        swarm.stop()
        await endpoint.api.close()
        admission.close()
        await closeAdminServer(admin)
        await reconciler.stop()
        log.info('Stopped')
      })()
      await stopping
    }
  }
}

/** Maintenance kept beside the history file (traffic-state.ts): restored now, saved on every change. */
async function restoreTrafficControl (policy: PolicyStore, historyFile: string | undefined, log: Logger): Promise<TrafficStateFile | undefined> {
  const file = trafficStateFileFor(historyFile)
  if (file === undefined) return undefined
  const state = new TrafficStateFile(file, log)
  const saved = await state.load()
  if (Object.keys(saved).length > 0) {
    policy.replace({ hosts: Object.fromEntries(Object.entries(saved).map(([host, maintenance]) => [host, { maintenance }])) })
    log.info({ hosts: Object.keys(saved), file }, 'Maintenance restored')
  }
  let last = JSON.stringify(saved)
  policy.onChanged((snapshot) => {
    // Pauses and canary shares change often and are not kept: write only when maintenance changed.
    const now = JSON.stringify(Object.fromEntries(Object.entries(snapshot.hosts).flatMap(([h, p]) => p.maintenance === undefined ? [] : [[h, p.maintenance]])))
    if (now === last) return
    last = now
    void state.save(snapshot)
  })
  return state
}
