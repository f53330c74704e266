import type { Counter, Metric } from 'prom-client'

// The two per-request series (proxyctl_requests_total, proxyctl_request_duration_seconds) counted
// in plain numbers found through two Map lookups, and handed to prom-client when it is scraped.
// prom-client's own inc()/observe() hash and validate the label object on every call: 1.3-1.9 %
// of the proxy's CPU profile under the throughput bench, ~1 µs per request (metrics micro-bench in
// the commit). What a scrape prints is what prom-client printed for the same requests, line for
// line (test/unit/metrics-exposition.test.ts compares the two).

export const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx', 'none'] as const

/** Index into STATUS_CLASSES: 'none' for 0 (no answer) and anything outside 100-599. */
export function statusClassIndex (status: number): number {
  const i = Math.floor(status / 100) - 1
  return i >= 0 && i < 5 ? i : 5
}

export interface RequestSeries { readonly host: string, readonly cls: string, readonly upstream: string, count: number }

/**
 * proxyctl_requests_total's series in first-counted order (the order prom-client printed them);
 * the Counter reads them at each scrape (its collect()).
 */
export class RequestCounts {
  /** host -> upstream -> series per status class. */
  readonly #index = new Map<string, Map<string, Array<RequestSeries | undefined>>>()
  /** Every series, overflow ones included, in the order they were first counted. */
  readonly #ordered = new Set<RequestSeries>()
  readonly #overflow: Array<RequestSeries | undefined> = []
  readonly #overflowLabel: string
  readonly #max: number
  #size = 0

  constructor (max: number, overflowLabel: string) {
    this.#max = max
    this.#overflowLabel = overflowLabel
  }

  /** Label sets counted apart (the overflow ones not included). */
  get size (): number { return this.#size }

  get series (): Iterable<RequestSeries> { return this.#ordered }

  count (host: string, cls: number, upstream: string): void {
    let byUpstream = this.#index.get(host)
    const classes = byUpstream?.get(upstream)
    const found = classes?.[cls]
    if (found !== undefined) { found.count++; return }
    if (this.#size >= this.#max) {
      let over = this.#overflow[cls]
      if (over === undefined) {
        over = this.#overflow[cls] = { host: this.#overflowLabel, cls: STATUS_CLASSES[cls]!, upstream: this.#overflowLabel, count: 0 }
        this.#ordered.add(over)
      }
      over.count++
      return
    }
    const s: RequestSeries = { host, cls: STATUS_CLASSES[cls]!, upstream, count: 1 }
    if (byUpstream === undefined) this.#index.set(host, byUpstream = new Map())
    if (classes === undefined) byUpstream.set(upstream, [])
    byUpstream.get(upstream)![cls] = s
    this.#ordered.add(s)
    this.#size++
  }

  /** Removes the series of these hosts or upstreams (never the overflow ones). */
  remove (hosts: ReadonlySet<string>, upstreams: ReadonlySet<string>): void {
    for (const s of this.#ordered) {
      if (s.host === this.#overflowLabel && this.#overflow.includes(s)) continue
      if (!hosts.has(s.host) && !upstreams.has(s.upstream)) continue
      this.#ordered.delete(s)
      this.#size--
      const byUpstream = this.#index.get(s.host)!
      const classes = byUpstream.get(s.upstream)!
      classes[STATUS_CLASSES.indexOf(s.cls as typeof STATUS_CLASSES[number])] = undefined
      if (classes.every((c) => c === undefined)) byUpstream.delete(s.upstream)
      if (byUpstream.size === 0) this.#index.delete(s.host)
    }
  }

  /** The Counter's collect(): its series become these counts. */
  exportTo (counter: Counter<'host' | 'status_class' | 'upstream'>): void {
    counter.reset()
    for (const s of this.#ordered) counter.inc({ host: s.host, status_class: s.cls, upstream: s.upstream }, s.count)
  }
}

/** One line's value as prom-client's Registry reads it from a metric's get()/getForPromString(). */
interface ExportedValue {
  labels: Record<string, string | number>
  sharedLabels?: Record<string, string>
  value: number
  metricName: string
  exemplar: null | undefined
}

interface ExportedMetric { name: string, help: string, type: 'histogram', values: ExportedValue[], aggregator: 'sum' }

interface DurationSeries { readonly host: string, readonly buckets: Float64Array, sum: number, count: number }

/**
 * A histogram with one label (`host`) that prom-client's Registry prints as it prints its own
 * Histogram: the values get()/getForPromString() return have the same shape and order.
 */
export class HostDurationHistogram {
  readonly type = 'histogram' as const
  readonly aggregator = 'sum' as const
  readonly name: string
  readonly help: string
  readonly #bounds: readonly number[]
  /** Series by host label, in first-observed order. */
  #series = new Map<string, DurationSeries>()

  constructor (config: { name: string, help: string, buckets: readonly number[] }) {
    this.name = config.name
    this.help = config.help
    this.#bounds = config.buckets
  }

  /** `seconds` as prom-client's observe() adds it: the first bucket whose bound is >= it, else only +Inf. */
  observe (host: string, seconds: number): void {
    let s = this.#series.get(host)
    if (s === undefined) this.#series.set(host, s = { host, buckets: new Float64Array(this.#bounds.length), sum: 0, count: 0 })
    const bounds = this.#bounds
    for (let i = 0; i < bounds.length; i++) {
      if (seconds <= bounds[i]!) { s.buckets[i]!++; break }
    }
    s.sum += seconds
    s.count++
  }

  remove (host: string): void { this.#series.delete(host) }

  reset (): void { this.#series = new Map() }

  /** As prom-client's Histogram.getForPromString(): bucket labels apart from the series' labels. */
  getForPromString (): ExportedMetric {
    const values: ExportedValue[] = []
    const bucketName = `${this.name}_bucket`
    for (const s of this.#series.values()) {
      const shared = { host: s.host }
      let acc = 0
      for (let i = 0; i < this.#bounds.length; i++) {
        acc += s.buckets[i]!
        values.push({ labels: { le: this.#bounds[i]! }, sharedLabels: shared, value: acc, metricName: bucketName, exemplar: null })
      }
      values.push(
        { labels: { le: '+Inf' }, sharedLabels: shared, value: s.count, metricName: bucketName, exemplar: null },
        { labels: {}, sharedLabels: shared, value: s.sum, metricName: `${this.name}_sum`, exemplar: undefined },
        { labels: {}, sharedLabels: shared, value: s.count, metricName: `${this.name}_count`, exemplar: undefined }
      )
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator }
  }

  /** As prom-client's Histogram.get(): each value's labels with the series' labels merged in. */
  async get (): Promise<ExportedMetric> {
    const data = this.getForPromString()
    data.values = data.values.map(({ sharedLabels, ...rest }) => ({ ...rest, labels: { ...rest.labels, ...sharedLabels } }))
    return data
  }

  /** For Registry.registerMetric, which takes prom-client's metric classes by type only. */
  asMetric (): Metric { return this as unknown as Metric }
}
