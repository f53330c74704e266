import t from 'tap'
import { DEFAULT_SERVE_OPTIONS } from '../../src/config/options.ts'
import { Metrics } from '../../src/metrics/metrics.ts'
import { Telemetry } from '../../src/metrics/telemetry.ts'
import { DEFAULT_AUTH_MAX_FAILURES } from '../../src/proxy/auth-throttle.ts'
import type { PolicySnapshot } from '../../src/traffic/policy.ts'
import { ProcessSampler } from '../../src/workers/figures.ts'
import {
  authFailuresPerWorker, authFailuresTotal, budgetShare, shareProblem, workerAuthOptions, workerPolicy, workerServeOptions
} from '../../src/workers/worker-limits.ts'

// Issue 12: limits documented per proxy are split over the worker processes, and each worker's
// process figures reach the primary's /metrics by slot.

t.test('a budget split over N workers adds up to the total exactly, shares differ by at most one', async (t) => {
  for (const total of [1, 2, 3, 4, 5, 7, 10, 1000, 10_240, 10_241]) {
    for (const count of [1, 2, 3, 4, 8, 16]) {
      if (count > total) continue
      const shares = Array.from({ length: count }, (_, slot) => budgetShare(total, count, slot))
      t.equal(shares.reduce((a, b) => a + b, 0), total, `${total} over ${count}: sum`)
      t.ok(Math.max(...shares) - Math.min(...shares) <= 1, `${total} over ${count}: even`)
      t.ok(Math.min(...shares) >= 1, `${total} over ${count}: every worker gets one`)
    }
  }
  t.same([0, 1].map((s) => budgetShare(4, 2, s)), [2, 2])
  t.same([0, 1].map((s) => budgetShare(5, 2, s)), [3, 2])
  t.same([0, 1, 2].map((s) => budgetShare(10_240, 3, s)), [3414, 3413, 3413])
})

t.test('MAX_CLIENT_CONNECTIONS: each worker serves its share; one process keeps the whole limit', async (t) => {
  const o = { ...DEFAULT_SERVE_OPTIONS, maxClientConnections: 5, workers: 2 }
  t.equal(workerServeOptions(o, 0).maxClientConnections, 3)
  t.equal(workerServeOptions(o, 1).maxClientConnections, 2)
  t.equal(workerServeOptions(o, 1).port, o.port, 'the rest unchanged')
  t.equal(workerServeOptions({ ...o, workers: 1 }, 0).maxClientConnections, 5)
  t.equal(shareProblem(o), undefined)
  t.equal(shareProblem({ maxClientConnections: 2, workers: 2 }), undefined)
  t.match(shareProblem({ maxClientConnections: 1, workers: 2 }), /MAX_CLIENT_CONNECTIONS \(1\) is the total over all workers and must be at least WORKERS \(2\)/)
})

t.test('failed logins: an address gets at most max(10, 3N) tries per window over all workers, a worker at least 3', async (t) => {
  t.equal(DEFAULT_AUTH_MAX_FAILURES, 10)
  t.equal(authFailuresPerWorker(10, 1), 10, 'one process: unchanged')
  t.equal(workerAuthOptions({ workers: 1 }).maxFailures, 10)
  t.equal(authFailuresPerWorker(10, 2), 5)
  t.equal(workerAuthOptions({ workers: 2 }).maxFailures, 5)
  t.same([1, 2, 3, 4, 8, 16, 64].map((n) => authFailuresTotal(10, n)), [10, 10, 12, 12, 24, 48, 192])
  t.equal(authFailuresPerWorker(2, 8), 2, 'a total below the floor is not raised')
  for (let n = 1; n <= 64; n++) t.ok(authFailuresTotal(10, n) <= Math.max(10 + n - 1, 3 * n), `${n} workers: bounded`)
})

t.test('a pause\'s maxQueued is split per worker, at least one each; other policy passes through', async (t) => {
  const snapshot: PolicySnapshot = {
    hosts: {
      'a.test': { pause: { since: 1, maxHoldMs: 30_000, maxQueued: 1000 } },
      'b.test': { pause: { since: 2, maxHoldMs: 5_000, maxQueued: 1 } },
      'c.test': { maintenance: { page: undefined, allow: [], since: 3 } }
    }
  }
  t.equal(workerPolicy(snapshot, 1, 0), snapshot, 'one process: the same snapshot')
  const w0 = workerPolicy(snapshot, 3, 0)
  const w2 = workerPolicy(snapshot, 3, 2)
  t.same(w0.hosts['a.test']?.pause, { since: 1, maxHoldMs: 30_000, maxQueued: 334 })
  t.same(w2.hosts['a.test']?.pause, { since: 1, maxHoldMs: 30_000, maxQueued: 333 })
  t.equal(w2.hosts['b.test']?.pause?.maxQueued, 1, 'never 0: a worker would refuse before anything is held')
  t.equal(w0.hosts['c.test'], snapshot.hosts['c.test'])
  t.equal(snapshot.hosts['a.test']?.pause?.maxQueued, 1000, 'the primary\'s snapshot untouched')
})

t.test('a worker\'s process figures are plausible and cover the time since the previous sample', async (t) => {
  const sampler = new ProcessSampler()
  t.teardown(() => { sampler.stop() })
  const first = sampler.sample()
  t.ok(first.residentMemoryBytes > 10 * 1024 * 1024, 'rss of a node process')
  t.ok(first.heapUsedBytes > 0 && first.heapUsedBytes < first.residentMemoryBytes)
  t.ok(first.cpuSeconds > 0)
  // The loop blocked for 200 ms: busy time and delay show it (wall time: holds on a loaded machine too).
  await new Promise((resolve) => setTimeout(resolve, 30))
  const until = Date.now() + 200
  while (Date.now() < until) { /* block the event loop */ }
  await new Promise((resolve) => setTimeout(resolve, 30))
  const busy = sampler.sample()
  t.ok(busy.cpuSeconds > first.cpuSeconds, `cpu grew (${first.cpuSeconds} -> ${busy.cpuSeconds})`)
  t.ok(busy.eventLoopBusySeconds >= first.eventLoopBusySeconds + 0.19, `busy loop time grew (${first.eventLoopBusySeconds} -> ${busy.eventLoopBusySeconds})`)
  t.ok(busy.eventLoopDelayP99Seconds >= 0.15, `p99 delay ${busy.eventLoopDelayP99Seconds}`)
  await new Promise((resolve) => setTimeout(resolve, 100))
  const idle = sampler.sample()
  t.ok(idle.eventLoopBusySeconds >= busy.eventLoopBusySeconds, 'a total: it never goes down')
  t.ok(idle.eventLoopDelayP99Seconds < 0.15, `the delay's p99 starts afresh (${idle.eventLoopDelayP99Seconds})`)
})

t.test('/metrics: worker gauges by slot once the pool reports, none in a single process', async (t) => {
  const single = new Telemetry(true)
  const before = await single.metrics.registry.metrics()
  t.notMatch(before, /proxyctl_worker_/, 'a single process exports what it did before')
  const telemetry = new Telemetry(true)
  const figures = { heapUsedBytes: 2e6, cpuSeconds: 1.5, eventLoopBusySeconds: 0.25, eventLoopDelayP99Seconds: 0.012 }
  telemetry.requests.workerProcesses([{ worker: 0, residentMemoryBytes: 5e7, ...figures }, { worker: 1, residentMemoryBytes: 6e7, ...figures }])
  let text = await telemetry.metrics.registry.metrics()
  t.match(text, /\nproxyctl_worker_resident_memory_bytes\{worker="0"\} 50000000\n/)
  t.match(text, /\nproxyctl_worker_resident_memory_bytes\{worker="1"\} 60000000\n/)
  t.match(text, /\nproxyctl_worker_heap_used_bytes\{worker="1"\} 2000000\n/)
  t.match(text, /# TYPE proxyctl_worker_cpu_seconds_total counter\nproxyctl_worker_cpu_seconds_total\{worker="0"\} 1\.5\n/)
  t.match(text, /# TYPE proxyctl_worker_event_loop_busy_seconds_total counter\nproxyctl_worker_event_loop_busy_seconds_total\{worker="0"\} 0\.25\n/)
  t.match(text, /\nproxyctl_worker_event_loop_delay_p99_seconds\{worker="1"\} 0\.012\n/)
  t.match(text, /\nproxyctl_process_process_resident_memory_bytes \d+/, 'the primary\'s own figures stay')
  // Worker 1 did not answer this refresh (being replaced): its series go, not a stale value.
  telemetry.requests.workerProcesses([{ worker: 0, residentMemoryBytes: 5.5e7, ...figures }])
  text = await telemetry.metrics.registry.metrics()
  t.match(text, /proxyctl_worker_resident_memory_bytes\{worker="0"\} 55000000\n/)
  t.notMatch(text, /worker="1"/)
  t.ok(new Metrics({ inflight: () => 0, upstreamStates: () => ({}), dockerReconnects: () => 0 }), 'Metrics without workers as before')
})
