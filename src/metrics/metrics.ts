import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

// Prometheus metrics (prom-client: the exposition format, histograms and registry are its job).
// Per-request work is one cached child lookup per (host, status class, upstream) and one observe.

export interface RuntimeReadings {
  inflight: () => number
  upstreamStates: () => Record<string, number>
  dockerReconnects: () => number
}

const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const

export class Metrics {
  readonly registry = new Registry()
  readonly #requests: Counter<'host' | 'status_class' | 'upstream'>
  readonly #duration: Histogram<'host'>
  readonly #healthChecks: Counter<'result'>
  readonly #deploys: Counter<'outcome'>
  readonly #deployDuration: Histogram<'outcome'>
  readonly #requestChildren = new Map<string, { inc: () => void }>()
  readonly #durationChildren = new Map<string, { observe: (v: number) => void }>()

  constructor (readings: RuntimeReadings) {
    const registers = [this.registry]
    collectDefaultMetrics({ register: this.registry, prefix: 'proxyctl_process_' })
    this.#requests = new Counter({ name: 'proxyctl_requests_total', help: 'Requests answered, by host, status class and upstream container', labelNames: ['host', 'status_class', 'upstream'], registers })
    this.#duration = new Histogram({
      name: 'proxyctl_request_duration_seconds', help: 'Time from request to response end, by host', labelNames: ['host'], registers,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
    })
    this.#healthChecks = new Counter({ name: 'proxyctl_health_checks_total', help: 'Active health checks by result', labelNames: ['result'], registers })
    this.#deploys = new Counter({ name: 'proxyctl_deploys_total', help: 'Deploys by outcome', labelNames: ['outcome'], registers })
    this.#deployDuration = new Histogram({ name: 'proxyctl_deploy_duration_seconds', help: 'Deploy duration by outcome', labelNames: ['outcome'], registers, buckets: [1, 2, 5, 10, 20, 30, 60, 120, 300] })
    new Gauge({ name: 'proxyctl_inflight_requests', help: 'Requests in flight', registers, collect () { this.set(readings.inflight()) } })
    new Gauge({
      name: 'proxyctl_upstreams', help: 'Upstreams by state', labelNames: ['state'], registers,
      collect () {
        const states = readings.upstreamStates()
        for (const s of ['starting', 'ready', 'unhealthy', 'draining']) this.set({ state: s }, states[s] ?? 0)
      }
    })
    new Counter({ name: 'proxyctl_docker_reconnects_total', help: 'Docker event stream reconnects', registers, collect () { this.reset(); this.inc(readings.dockerReconnects()) } })
  }

  requestCompleted (host: string, status: number, upstream: string | undefined, durationMs: number): void {
    const cls = STATUS_CLASSES[Math.floor(status / 100) - 1] ?? 'none'
    const key = `${host}\u0000${cls}\u0000${upstream ?? ''}`
    let child = this.#requestChildren.get(key)
    if (child === undefined) {
      child = this.#requests.labels(host, cls, upstream ?? '')
      // Bound label cardinality: hosts come from the table, but Host headers from clients.
      if (this.#requestChildren.size < 10_000) this.#requestChildren.set(key, child)
    }
    child.inc()
    let d = this.#durationChildren.get(host)
    if (d === undefined) {
      d = this.#duration.labels(host)
      if (this.#durationChildren.size < 10_000) this.#durationChildren.set(host, d)
    }
    d.observe(durationMs / 1000)
  }

  healthCheckCompleted (ok: boolean): void { this.#healthChecks.inc({ result: ok ? 'pass' : 'fail' }) }

  deployFinished (outcome: string, durationMs: number): void {
    this.#deploys.inc({ outcome })
    this.#deployDuration.observe({ outcome }, durationMs / 1000)
  }
}
