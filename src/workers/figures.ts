import { monitorEventLoopDelay, performance, type IntervalHistogram } from 'node:perf_hooks'
import type { RequestObserver } from '../proxy/proxy-server.js'
import type { OutcomeBatch, TargetLoad, WorkerProcessFigures } from './messages.js'

// What worker processes report to the primary, and how the primary adds it up: request outcomes
// replayed one by one into the primary's observers (metrics, traffic stats, version figures count
// as if it had answered them itself), in-flight counts summed per target.

/** Outcomes queued this many at most before they are sent; else every BATCH_MS. */
export const MAX_BATCH_OUTCOMES = 512
export const BATCH_MS = 50

/** A worker's RequestObserver: batches outcomes, `send` ships one batch. */
export class OutcomeBatcher implements RequestObserver {
  readonly #send: (batch: OutcomeBatch) => void
  readonly #maxOutcomes: number
  readonly #batchMs: number
  #batch: OutcomeBatch = []
  #timer: NodeJS.Timeout | undefined

  constructor (send: (batch: OutcomeBatch) => void, limits: { maxOutcomes?: number, batchMs?: number } = {}) {
    this.#send = send
    this.#maxOutcomes = limits.maxOutcomes ?? MAX_BATCH_OUTCOMES
    this.#batchMs = limits.batchMs ?? BATCH_MS
  }

  requestCompleted (host: string, status: number, upstream: string | undefined, durationMs: number): void {
    this.#batch.push(host, status, upstream ?? '', durationMs)
    if (this.#batch.length >= this.#maxOutcomes * 4) this.flush()
    else this.#timer ??= setTimeout(() => { this.flush() }, this.#batchMs)
  }

  /** Sends what is queued now (also when nothing is: the primary learns the in-flight count). */
  flush (): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    const batch = this.#batch
    this.#batch = []
    this.#send(batch)
  }
}

/** Replays a batch into `observer`, in the order the worker answered; a malformed entry ends it. */
export function replayOutcomes (batch: OutcomeBatch, observer: RequestObserver): number {
  let n = 0
  for (let i = 0; i + 3 < batch.length; i += 4) {
    const host = batch[i]
    const status = batch[i + 1]
    const upstream = batch[i + 2]
    const durationMs = batch[i + 3]
    if (typeof host !== 'string' || typeof status !== 'number' || typeof upstream !== 'string' || typeof durationMs !== 'number') break
    observer.requestCompleted(host, status, upstream === '' ? undefined : upstream, durationMs)
    n++
  }
  return n
}

/** Every worker's load per target key, summed. */
export function sumTargetLoads (reports: ReadonlyArray<readonly TargetLoad[]>): Map<string, { inflight: number, longLived: number }> {
  const sums = new Map<string, { inflight: number, longLived: number }>()
  for (const report of reports) {
    for (const t of report) {
      const s = sums.get(t.key) ?? { inflight: 0, longLived: 0 }
      s.inflight += t.inflight
      s.longLived += t.longLived
      sums.set(t.key, s)
    }
  }
  return sums
}

/**
 * A worker's process figures, read when the primary asks (before every scrape and admin answer):
 * a few syscalls, no timer of its own. Totals since the start where a total exists (CPU, busy
 * loop time: any number of readers can rate() them); the loop delay's p99 covers the time since
 * the previous read, as prom-client's own nodejs_eventloop_lag_* do for the primary.
 */
export class ProcessSampler {
  readonly #delay: IntervalHistogram

  constructor () {
    this.#delay = monitorEventLoopDelay({ resolution: 20 })
    this.#delay.enable()
  }

  sample (): WorkerProcessFigures {
    const cpu = process.cpuUsage()
    const memory = process.memoryUsage()
    const p99 = this.#delay.count === 0 ? 0 : this.#delay.percentile(99) / 1e9
    this.#delay.reset()
    return {
      residentMemoryBytes: memory.rss,
      heapUsedBytes: memory.heapUsed,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      eventLoopBusySeconds: performance.eventLoopUtilization().active / 1000,
      eventLoopDelayP99Seconds: p99
    }
  }

  stop (): void { this.#delay.disable() }
}
