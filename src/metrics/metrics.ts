import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { WorkerProcessFigures } from '../workers/messages.js'
import { HostDurationHistogram, RequestCounts, statusClassIndex } from './request-series.js'
import { DEFAULT_RETENTION_GRACE_MS, GoneNames } from './retention.js'

// Prometheus metrics (prom-client: the exposition format, histograms and registry are its job).
// Per-request work is two Map lookups and a few additions (request-series.ts); prom-client reads
// the counts when scraped.
// Label values come from the route table (hosts) and containers (upstreams), never from a client's
// Host header; series of hosts and containers gone for a grace period are removed by retain(), and
// a hard cap folds anything beyond it into '(overflow)'.

export interface RuntimeReadings {
  inflight: () => number
  upstreamStates: () => Record<string, number>
  dockerReconnects: () => number
}

/** One worker process's figures; `worker` is its slot (0..N-1), a bounded label unlike its pid. */
export type WorkerReading = { worker: number } & WorkerProcessFigures

export interface MetricsOptions {
  /** Label sets of proxyctl_requests_total kept at most (hosts × status classes × upstreams). */
  maxSeries: number
  retentionGraceMs: number
  now: () => number
}

export const DEFAULT_METRICS_OPTIONS: MetricsOptions = { maxSeries: 10_000, retentionGraceMs: DEFAULT_RETENTION_GRACE_MS, now: Date.now }

/** What is live now: the table's hosts and the live targets' container names. */
export interface LiveLabels { hosts: Iterable<string>, upstreams: Iterable<string> }

const OVERFLOW = '(overflow)'

export class Metrics {
  readonly registry = new Registry()
  readonly #requests: RequestCounts
  readonly #duration: HostDurationHistogram
  readonly #healthChecks: Counter<'result'>
  readonly #deploys: Counter<'outcome'>
  readonly #deployDuration: Histogram<'outcome'>
  readonly #options: MetricsOptions
  /** Hosts with a duration series of their own (the rest share the overflow one). */
  readonly #durationHosts = new Set<string>()
  readonly #goneHosts: GoneNames
  readonly #goneUpstreams: GoneNames

  constructor (readings: RuntimeReadings, options: Partial<MetricsOptions> = {}) {
    this.#options = { ...DEFAULT_METRICS_OPTIONS, ...options }
    this.#goneHosts = new GoneNames(this.#options.retentionGraceMs, this.#options.now)
    this.#goneUpstreams = new GoneNames(this.#options.retentionGraceMs, this.#options.now)
    const registers = [this.registry]
    collectDefaultMetrics({ register: this.registry, prefix: 'proxyctl_process_' })
    const requests = this.#requests = new RequestCounts(this.#options.maxSeries, OVERFLOW)
    new Counter({ name: 'proxyctl_requests_total', help: 'Requests answered, by host, status class and upstream container', labelNames: ['host', 'status_class', 'upstream'], registers, collect () { requests.exportTo(this) } })
    this.#duration = new HostDurationHistogram({
      name: 'proxyctl_request_duration_seconds', help: 'Time from request to response end, by host',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
    })
    this.registry.registerMetric(this.#duration.asMetric())
    this.#healthChecks = new Counter({ name: 'proxyctl_health_checks_total', help: 'Active health checks by result', labelNames: ['result'], registers })
    this.#deploys = new Counter({ name: 'proxyctl_deploys_total', help: 'Deploys by outcome', labelNames: ['outcome'], registers })
    this.#deployDuration = new Histogram({ name: 'proxyctl_deploy_duration_seconds', help: 'Deploy duration by outcome', labelNames: ['outcome'], registers, buckets: [1, 2, 5, 10, 20, 30, 60, 120, 300] })
    new Gauge({ name: 'proxyctl_inflight_requests', help: 'Requests in flight', registers, collect () { this.set(readings.inflight()) } })
    new Gauge({
      name: 'proxyctl_upstreams', help: 'Upstreams by state', labelNames: ['state'], registers,
      collect () {
        const states = readings.upstreamStates()
        for (const s of ['starting', 'ready', 'unhealthy', 'draining', 'standby']) this.set({ state: s }, states[s] ?? 0)
      }
    })
    new Counter({ name: 'proxyctl_docker_reconnects_total', help: 'Docker event stream reconnects', registers, collect () { this.reset(); this.inc(readings.dockerReconnects()) } })
  }

  requestCompleted (host: string, status: number, upstream: string | undefined, durationMs: number): void {
    this.#requests.count(host, statusClassIndex(status), upstream ?? '')
    let label = host
    if (!this.#durationHosts.has(host)) {
      if (this.#durationHosts.size < this.#options.maxSeries) this.#durationHosts.add(host)
      else label = OVERFLOW
    }
    this.#duration.observe(label, durationMs / 1000)
  }

  /**
   * Drop the series of hosts and upstreams that have been out of `live` for the grace period.
   * Level-triggered: call it with the current table whenever convenient (the daemon: every minute).
   */
  retain (live: LiveLabels): void {
    const series = [...this.#requests.series]
    const hosts = this.#goneHosts.expired(series.map((s) => s.host).concat([...this.#durationHosts]), new Set(live.hosts))
    const upstreams = this.#goneUpstreams.expired(series.map((s) => s.upstream), new Set(live.upstreams))
    this.#requests.remove(hosts, upstreams)
    for (const host of hosts) {
      if (!this.#durationHosts.delete(host)) continue
      this.#duration.remove(host)
    }
  }

  /** Label sets currently exported by proxyctl_requests_total and the duration histogram. */
  get seriesCount (): { requests: number, durations: number } {
    return { requests: this.#requests.size, durations: this.#durationHosts.size }
  }

  /**
   * --workers N: each worker's own process figures by slot (proxyctl_process_* are the primary's).
   * Registered only then, so a single process exports what it did before.
   */
  observeWorkers (read: () => ReadonlyArray<WorkerReading>): void { workerGauges(read, [this.registry]) }

  healthCheckCompleted (ok: boolean): void { this.#healthChecks.inc({ result: ok ? 'pass' : 'fail' }) }

  deployFinished (outcome: string, durationMs: number): void {
    this.#deploys.inc({ outcome })
    this.#deployDuration.observe({ outcome }, durationMs / 1000)
  }
}

/**
 * Per worker process, labelled by slot. Each collect sets the series of the workers that answered
 * the scrape's refresh and drops the others (a worker being replaced has none until it answers).
 */
function workerGauges (read: () => ReadonlyArray<WorkerReading>, registers: Registry[]): void {
  const figures: Array<[string, string, (w: WorkerReading) => number]> = [
    ['proxyctl_worker_resident_memory_bytes', 'Resident memory of each worker process', (w) => w.residentMemoryBytes],
    ['proxyctl_worker_heap_used_bytes', 'V8 heap used by each worker process', (w) => w.heapUsedBytes],
    ['proxyctl_worker_event_loop_delay_p99_seconds', 'P99 event loop delay of each worker since the previous scrape', (w) => w.eventLoopDelayP99Seconds]
  ]
  for (const [name, help, value] of figures) {
    new Gauge({
      name, help, labelNames: ['worker'], registers,
      collect () {
        this.reset()
        for (const w of read()) this.set({ worker: String(w.worker) }, value(w))
      }
    })
  }
  // Counters (rate() them); one starts again from 0 when a worker is replaced, which rate() reads as a reset.
  const totals: Array<[string, string, (w: WorkerReading) => number]> = [
    ['proxyctl_worker_cpu_seconds_total', 'User and system CPU time of each worker process since it started', (w) => w.cpuSeconds],
    ['proxyctl_worker_event_loop_busy_seconds_total', 'Time each worker\'s event loop was busy since it started (rate(): its utilization, 0..1)', (w) => w.eventLoopBusySeconds]
  ]
  for (const [name, help, value] of totals) {
    new Counter({
      name, help, labelNames: ['worker'], registers,
      collect () {
        this.reset()
        for (const w of read()) this.inc({ worker: String(w.worker) }, value(w))
      }
    })
  }
}
