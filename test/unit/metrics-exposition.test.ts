import t from 'tap'
import { Counter, Histogram, Registry } from 'prom-client'
import { Metrics } from '../../src/metrics/metrics.ts'

// The per-request series are counted in plain numbers (src/metrics/request-series.ts) and handed to
// prom-client at scrape time: what /metrics prints must be, line for line, what prom-client's own
// Counter.inc() and Histogram.observe() printed for the same requests (the code before that change).

const readings = { inflight: () => 0, upstreamStates: () => ({}), dockerReconnects: () => 0 }
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
const NAMES = ['proxyctl_requests_total', 'proxyctl_request_duration_seconds']

/** prom-client driven per request, as Metrics did it before (cached children, same caps). */
class Reference {
  readonly registry = new Registry()
  readonly #requests = new Counter({ name: NAMES[0]!, help: 'Requests answered, by host, status class and upstream container', labelNames: ['host', 'status_class', 'upstream'], registers: [this.registry] })
  readonly #duration = new Histogram({ name: NAMES[1]!, help: 'Time from request to response end, by host', labelNames: ['host'], registers: [this.registry], buckets: BUCKETS })
  readonly series = new Map<string, { host: string, cls: string, upstream: string }>()
  readonly durations = new Set<string>()
  constructor (readonly max: number) {}
  requestCompleted (host: string, status: number, upstream: string | undefined, durationMs: number): void {
    const cls = ['1xx', '2xx', '3xx', '4xx', '5xx'][Math.floor(status / 100) - 1] ?? 'none'
    const up = upstream ?? ''
    const key = `${host}\u0000${cls}\u0000${up}`
    if (this.series.has(key)) this.#requests.inc({ host, status_class: cls, upstream: up })
    else if (this.series.size >= this.max) this.#requests.inc({ host: '(overflow)', status_class: cls, upstream: '(overflow)' })
    else { this.series.set(key, { host, cls, upstream: up }); this.#requests.inc({ host, status_class: cls, upstream: up }) }
    let label = host
    if (!this.durations.has(host)) {
      if (this.durations.size < this.max) this.durations.add(host)
      else label = '(overflow)'
    }
    this.#duration.observe({ host: label }, durationMs / 1000)
  }
  remove (hosts: Set<string>, upstreams: Set<string>): void {
    for (const [key, s] of this.series) {
      if (!hosts.has(s.host) && !upstreams.has(s.upstream)) continue
      this.#requests.remove(s.host, s.cls, s.upstream)
      this.series.delete(key)
    }
    for (const h of hosts) if (this.durations.delete(h)) this.#duration.remove(h)
  }
}

/** The two request series' lines of a registry's exposition. */
async function lines (registry: Registry): Promise<string> {
  const text = await registry.metrics()
  return text.split('\n').filter((l) => NAMES.some((n) => l.includes(n))).join('\n')
}

async function json (registry: Registry): Promise<unknown> {
  const all = await registry.getMetricsAsJSON()
  return all.filter((m) => NAMES.includes(m.name))
}

function random (seed: number): () => number {
  let x = seed
  return () => { x = (x * 1103515245 + 12345) % 2147483648; return x / 2147483648 }
}

t.test('the exposition equals prom-client\'s for the same requests, with overflow and removal', async (t) => {
  const rnd = random(7)
  const statuses = [0, 101, 200, 204, 301, 404, 499, 502, 503, 600, 999]
  const durations = [0, 0.2, 1, 2.5, 3, 9.99, 10, 60, 999, 12_000, 1e6, 0.0001]
  for (const max of [10_000, 7]) {
    let now = 0
    const m = new Metrics(readings, { maxSeries: max, retentionGraceMs: 10, now: () => now })
    const ref = new Reference(max)
    const step = (): void => {
      const host = `h${Math.floor(rnd() * 6)}.test`
      const upstream = rnd() < 0.1 ? undefined : `c${Math.floor(rnd() * 4)}`
      const status = statuses[Math.floor(rnd() * statuses.length)]!
      const d = rnd() < 0.5 ? durations[Math.floor(rnd() * durations.length)]! : rnd() * 30
      m.requestCompleted(host, status, upstream, d)
      ref.requestCompleted(host, status, upstream, d)
    }
    for (let i = 0; i < 2000; i++) step()
    t.equal(await lines(m.registry), await lines(ref.registry), `max ${max}: same lines`)
    t.same(await json(m.registry), await json(ref.registry), `max ${max}: same JSON`)
    t.equal(m.seriesCount.requests, ref.series.size)
    // h1.test and c2 are gone for the grace period: both sides drop the same series.
    m.retain({ hosts: ['h0.test', 'h2.test', 'h3.test', 'h4.test', 'h5.test'], upstreams: ['c0', 'c1', 'c3'] })
    now = 20
    m.retain({ hosts: ['h0.test', 'h2.test', 'h3.test', 'h4.test', 'h5.test'], upstreams: ['c0', 'c1', 'c3'] })
    ref.remove(new Set(['h1.test']), new Set(['c2']))
    t.equal(await lines(m.registry), await lines(ref.registry), `max ${max}: same lines after removal`)
    t.notMatch(await lines(m.registry), /h1\.test|"c2"/)
    // Names that come back start again from zero, at the end, as prom-client's.
    for (let i = 0; i < 500; i++) step()
    t.equal(await lines(m.registry), await lines(ref.registry), `max ${max}: same lines after they came back`)
    t.match(await lines(m.registry), /h1\.test/)
  }
})

t.test('every request is counted, by status class', async (t) => {
  const m = new Metrics(readings)
  for (let i = 0; i < 1234; i++) m.requestCompleted('a.test', i % 3 === 0 ? 502 : 200, 'app-1', 1)
  m.requestCompleted('a.test', 0, undefined, 1)
  const text = await m.registry.metrics()
  t.match(text, 'proxyctl_requests_total{host="a.test",status_class="2xx",upstream="app-1"} 822\n')
  t.match(text, 'proxyctl_requests_total{host="a.test",status_class="5xx",upstream="app-1"} 412\n')
  t.match(text, 'proxyctl_requests_total{host="a.test",status_class="none",upstream=""} 1\n')
  t.match(text, 'proxyctl_request_duration_seconds_count{host="a.test"} 1235\n')
  t.match(text, 'proxyctl_request_duration_seconds_bucket{le="0.001",host="a.test"} 1235\n')
})
