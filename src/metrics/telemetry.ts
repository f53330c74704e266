import type { RouteTableStore } from '../routing/route-table-store.js'
import type { Target } from '../routing/target.js'
import { Metrics, type WorkerReading } from './metrics.js'
import { TrafficStats } from './traffic-stats.js'
import { VersionStats } from '../traffic/version-stats.js'

const RETAIN_INTERVAL_MS = 60_000

/** What telemetry reads from the parts it observes; bound once they exist (they need it first). */
export interface Observed {
  inflight: () => number
  dockerReconnects: () => number
  targets: () => readonly Target[]
  store: RouteTableStore
}

/**
 * The per-host totals (status, history) and the Prometheus metrics, with the callbacks the proxy,
 * the reconciler and the admin API report to. Created before them, bound to them by observe().
 */
export class Telemetry {
  readonly traffic = new TrafficStats()
  /** Recent figures per upstream: what verified deploys and canaries judge (issue 13). */
  readonly versions = new VersionStats()
  readonly metrics: Metrics
  readonly #prometheus: boolean
  #observed: Observed | undefined
  #workers: readonly WorkerReading[] | undefined
  #retainTimer: NodeJS.Timeout | undefined

  /** `prometheus`: METRICS (off: the /metrics series are not counted per request). */
  constructor (prometheus: boolean) {
    this.#prometheus = prometheus
    this.metrics = new Metrics({
      inflight: () => this.#observed?.inflight() ?? 0,
      dockerReconnects: () => this.#observed?.dockerReconnects() ?? 0,
      upstreamStates: () => {
        const counts: Record<string, number> = {}
        for (const t of this.#observed?.targets() ?? []) counts[t.state] = (counts[t.state] ?? 0) + 1
        return counts
      }
    })
  }

  /** For the reconciler: every health check's result. */
  readonly healthChecked = (ok: boolean): void => { this.metrics.healthCheckCompleted(ok) }

  /** For the proxy server: every answered request; for the worker pool also its workers' process figures. */
  readonly requests = {
    /** --workers N, before every scrape: each worker's figures by slot (the gauges appear with the first report). */
    workerProcesses: (figures: readonly WorkerReading[]): void => {
      if (this.#workers === undefined) this.metrics.observeWorkers(() => this.#workers ?? [])
      this.#workers = figures
    },
    requestCompleted: (host: string, status: number, upstream: string | undefined, durationMs: number): void => {
      this.traffic.requestCompleted(host, status)
      if (upstream !== undefined) this.versions.requestCompleted(upstream, status, durationMs)
      if (this.#prometheus) this.metrics.requestCompleted(host, status, upstream, durationMs)
    }
  }

  /** Failed requests on these hosts so far (the rollout history counts them per deploy). */
  readonly errorsOn = (hosts: readonly string[]): number => hosts.reduce((n, h) => n + this.traffic.get(h).errors, 0)

  /** Binds the gauges, and prunes series of hosts and containers gone for a grace period (level-triggered). */
  observe (observed: Observed): void {
    this.#observed = observed
    this.#retainTimer = setInterval(() => {
      const hosts = observed.store.current.hosts.map((h) => h.host)
      this.traffic.retain(hosts)
      this.versions.retain(new Set(observed.targets().map((t) => t.name)))
      this.metrics.retain({ hosts, upstreams: observed.targets().map((t) => t.name) })
    }, RETAIN_INTERVAL_MS).unref()
  }

  stop (): void { clearInterval(this.#retainTimer) }
}
