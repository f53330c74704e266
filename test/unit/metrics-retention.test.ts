import t from 'tap'
import { Metrics } from '../../src/metrics/metrics.ts'
import { TrafficStats } from '../../src/metrics/traffic-stats.ts'

// Issue 10, item 5: per-host / per-upstream series of containers that are gone do not pile up.

const readings = { inflight: () => 0, upstreamStates: () => ({}), dockerReconnects: () => 0 }

async function requestSeries (m: Metrics): Promise<string[]> {
  const metric = await m.registry.getSingleMetric('proxyctl_requests_total')!.get()
  return metric.values.map((v) => `${String(v.labels.host)} ${String(v.labels.status_class)} ${String(v.labels.upstream)}`).sort()
}

t.test('series of upstreams and hosts gone for the grace period are removed', async (t) => {
  let now = 0
  const m = new Metrics(readings, { retentionGraceMs: 60_000, now: () => now })
  m.requestCompleted('app.test', 200, 'app-1', 1)
  m.requestCompleted('app.test', 502, 'app-1', 1)
  m.requestCompleted('app.test', 200, 'app-2', 1)
  m.requestCompleted('old.test', 200, 'old-1', 1)
  m.requestCompleted('(unmatched)', 404, undefined, 1)
  t.equal(m.seriesCount.requests, 5)

  // A deploy replaced app-1 by app-3, and old.test went away.
  m.retain({ hosts: ['app.test'], upstreams: ['app-2', 'app-3'] })
  t.equal(m.seriesCount.requests, 5, 'kept during the grace period (a scrape still sees final counts)')
  now = 60_000
  m.retain({ hosts: ['app.test'], upstreams: ['app-2', 'app-3'] })
  t.same(await requestSeries(m), ['(unmatched) 4xx ', 'app.test 2xx app-2'])
  t.same(m.seriesCount, { requests: 2, durations: 2 }, 'old.test\'s duration histogram went too')
  const text = await m.registry.metrics()
  t.notMatch(text, /old\.test|app-1/)
})

t.test('a name that comes back within the grace period is kept', async (t) => {
  let now = 0
  const m = new Metrics(readings, { retentionGraceMs: 60_000, now: () => now })
  m.requestCompleted('app.test', 200, 'app-1', 1)
  m.retain({ hosts: [], upstreams: [] })
  now = 30_000
  m.retain({ hosts: ['app.test'], upstreams: ['app-1'] })
  now = 200_000
  m.retain({ hosts: ['app.test'], upstreams: ['app-1'] })
  t.equal(m.seriesCount.requests, 1)
})

t.test('label sets are capped; the rest is counted under (overflow)', async (t) => {
  const m = new Metrics(readings, { maxSeries: 10 })
  for (let i = 0; i < 100; i++) m.requestCompleted(`h${i}.test`, 200, `c${i}`, 1)
  t.same(m.seriesCount, { requests: 10, durations: 10 })
  const series = await requestSeries(m)
  t.equal(series.length, 11)
  t.ok(series.includes('(overflow) 2xx (overflow)'))
})

t.test('traffic totals of hosts gone for the grace period are forgotten', async (t) => {
  let now = 0
  const traffic = new TrafficStats({ retentionGraceMs: 60_000, now: () => now })
  traffic.requestCompleted('a.test', 200)
  traffic.requestCompleted('b.test', 502)
  traffic.requestCompleted('(unmatched)', 404)
  traffic.retain(['a.test'])
  now = 59_999
  traffic.retain(['a.test'])
  t.same(traffic.get('b.test'), { requests: 1, errors: 1 }, 'kept within the grace period')
  now = 60_000
  traffic.retain(['a.test'])
  t.same(Object.keys(traffic.snapshot()).sort(), ['(unmatched)', 'a.test'])
})
