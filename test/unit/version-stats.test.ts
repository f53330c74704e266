// VersionStats: the bounded sliding window of live figures per upstream (issue 13).
import t from 'tap'
import { HISTOGRAM_BINS, SLOT_MS, VersionStats, WINDOW_MS, binOf, binUpperMs } from '../../src/traffic/version-stats.ts'

function clock (start = 1_000_000_000_000): { now: () => number, advance: (ms: number) => void } {
  let now = start
  return { now: () => now, advance: (ms) => { now += ms } }
}

t.test('counts requests and 5xx (and status 0) per upstream, and merges upstreams', async (t) => {
  const c = clock()
  const s = new VersionStats({ now: c.now })
  for (let i = 0; i < 90; i++) s.requestCompleted('a', 200, 10)
  for (let i = 0; i < 8; i++) s.requestCompleted('a', 503, 10)
  s.requestCompleted('a', 0, 10)
  s.requestCompleted('a', 404, 10)
  s.requestCompleted('b', 500, 10)
  const a = s.figures(['a'])
  t.equal(a.requests, 100)
  t.equal(a.errors, 9)
  t.equal(a.errorRate, 0.09)
  const ab = s.figures(['a', 'b', 'a'])
  t.equal(ab.requests, 101, 'a name given twice counts once')
  t.equal(ab.errors, 10)
  t.same(s.figures(['nobody']), { requests: 0, errors: 0, errorRate: 0, p50Ms: undefined, p99Ms: undefined })
})

t.test('p50 and p99 read from the histogram within one bin (~20 %)', async (t) => {
  const s = new VersionStats({ now: clock().now })
  for (let i = 0; i < 980; i++) s.requestCompleted('a', 200, 20)
  for (let i = 0; i < 20; i++) s.requestCompleted('a', 200, 400)
  const f = s.figures(['a'])
  t.ok(f.p50Ms! >= 20 && f.p50Ms! <= 24, `p50 ${f.p50Ms}`)
  t.ok(f.p99Ms! >= 400 && f.p99Ms! <= 480, `p99 ${f.p99Ms}`)
  t.equal(binOf(0), 0)
  t.equal(binOf(-5), 0)
  t.equal(binOf(Number.NaN), 0)
  t.equal(binOf(1e12), HISTOGRAM_BINS - 1, 'huge durations land in the last bin')
  t.ok(binUpperMs(binOf(1234)) >= 1234)
})

t.test('the window slides: slots older than the window are not counted, and are reused', async (t) => {
  const c = clock()
  const s = new VersionStats({ now: c.now })
  s.requestCompleted('a', 500, 10)
  c.advance(WINDOW_MS - SLOT_MS)
  s.requestCompleted('a', 200, 10)
  t.equal(s.figures(['a']).requests, 2, 'both inside the window')
  c.advance(SLOT_MS)
  t.equal(s.figures(['a']).requests, 1, 'the first slot fell out of the window')
  t.equal(s.figures(['a']).errors, 0)
  // The same ring position, one lap later: its old counts are not added to the new ones.
  s.requestCompleted('a', 200, 10)
  t.equal(s.figures(['a']).requests, 2)
})

t.test('figures since a time count only the slots that began then or later', async (t) => {
  const c = clock()
  const s = new VersionStats({ now: c.now })
  for (let i = 0; i < 10; i++) s.requestCompleted('a', 200, 10)
  c.advance(3 * SLOT_MS)
  const since = c.now()
  for (let i = 0; i < 5; i++) s.requestCompleted('a', 500, 10)
  const f = s.figures(['a'], since)
  t.equal(f.requests, 5)
  t.equal(f.errorRate, 1)
})

t.test('at most maxKeys upstreams: the least recently updated one is evicted', async (t) => {
  const c = clock()
  const s = new VersionStats({ now: c.now, maxKeys: 3 })
  for (const name of ['a', 'b', 'c', 'a', 'd']) { // a is the most recent when d arrives
    s.requestCompleted(name, 200, 1)
    c.advance(10)
  }
  t.equal(s.size, 3)
  t.equal(s.figures(['b']).requests, 0, 'b evicted')
  t.equal(s.figures(['a']).requests, 2)
})

t.test('retain forgets upstreams no longer routed once their figures left the window', async (t) => {
  const c = clock()
  const s = new VersionStats({ now: c.now })
  s.requestCompleted('gone', 200, 1)
  s.requestCompleted('live', 200, 1)
  s.retain(new Set(['live']))
  t.equal(s.size, 2, 'a retired version stays readable while its figures are in the window')
  c.advance(WINDOW_MS + SLOT_MS)
  s.retain(new Set(['live']))
  t.equal(s.size, 1)
})
