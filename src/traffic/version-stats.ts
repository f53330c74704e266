// Recent live figures per upstream (container name), for verified deploys and canaries (issue 13):
// requests, 5xx/connection failures and a latency histogram, in a sliding window. Fed from the
// RequestObserver in the primary process (Telemetry), so worker processes (issue 12) count too.
//
// Bounds: each key keeps WINDOW_SLOTS slots of SLOT_MS (60 × 5 s = the last 5 minutes), each slot a
// fixed histogram of HISTOGRAM_BINS counters; at most MAX_KEYS keys (the least recently updated
// one is evicted). Worst case MAX_KEYS × 60 × 74 × 4 B ≈ 9 MB; a key costs only the slots it used.

export const SLOT_MS = 5_000
export const WINDOW_SLOTS = 60
export const WINDOW_MS = SLOT_MS * WINDOW_SLOTS
export const MAX_KEYS = 512
/** Latency bins grow by GROWTH from MIN_MS: ~±10 % resolution, 0.5 ms to ~200 s. */
const MIN_MS = 0.5
const GROWTH = 1.2
export const HISTOGRAM_BINS = 72
const LOG_GROWTH = Math.log(GROWTH)
// Slot layout: [requests, errors, ...bins]
const HEADER = 2

export interface Figures {
  requests: number
  /** 5xx answers, the proxy's own 502/504 for connection failures and timeouts included. */
  errors: number
  /** errors / requests, 0 when there were none. */
  errorRate: number
  /** Upper bound of the bin holding the 50th / 99th percentile; undefined without requests. */
  p50Ms: number | undefined
  p99Ms: number | undefined
}

export const NO_FIGURES: Figures = Object.freeze({ requests: 0, errors: 0, errorRate: 0, p50Ms: undefined, p99Ms: undefined })

interface Series {
  /** Epoch ms of the last request: the least recently updated series is evicted when full. */
  updated: number
  /** Slot start (epoch ms, multiple of SLOT_MS) per ring position; -1: unused. */
  starts: number[]
  slots: Array<Uint32Array | undefined>
}

export function binOf (durationMs: number): number {
  if (!(durationMs > MIN_MS)) return 0
  return Math.min(HISTOGRAM_BINS - 1, Math.ceil(Math.log(durationMs / MIN_MS) / LOG_GROWTH))
}

/** The upper bound of a bin (what a percentile in it reads as). */
export function binUpperMs (bin: number): number {
  return Math.round(MIN_MS * GROWTH ** bin * 10) / 10
}

export class VersionStats {
  readonly #series = new Map<string, Series>()
  readonly #now: () => number
  readonly #maxKeys: number

  constructor (options: { now?: () => number, maxKeys?: number } = {}) {
    this.#now = options.now ?? Date.now
    this.#maxKeys = options.maxKeys ?? MAX_KEYS
  }

  get size (): number { return this.#series.size }

  requestCompleted (upstream: string, status: number, durationMs: number): void {
    const now = this.#now()
    let s = this.#series.get(upstream)
    if (s === undefined) {
      s = { updated: now, starts: new Array<number>(WINDOW_SLOTS).fill(-1), slots: new Array<Uint32Array | undefined>(WINDOW_SLOTS).fill(undefined) }
      if (this.#series.size >= this.#maxKeys) this.#evictOldest()
      this.#series.set(upstream, s)
    }
    s.updated = now
    const start = now - (now % SLOT_MS)
    const i = Math.floor(start / SLOT_MS) % WINDOW_SLOTS
    let slot = s.slots[i]
    if (slot === undefined || s.starts[i] !== start) {
      slot = slot === undefined ? new Uint32Array(HEADER + HISTOGRAM_BINS) : slot.fill(0)
      s.slots[i] = slot
      s.starts[i] = start
    }
    slot[0]!++
    // 5xx, and 0 (no status: the request never got an answer from anyone).
    if (status >= 500 || status === 0) slot[1]!++
    slot[HEADER + binOf(durationMs)]!++
  }

  /**
   * The figures of these upstreams together, over the slots that began at or after `sinceMs`
   * (the whole window when older) and are still in the window.
   */
  figures (upstreams: readonly string[], sinceMs = 0): Figures {
    const now = this.#now()
    const oldest = Math.max(now - (now % SLOT_MS) - (WINDOW_SLOTS - 1) * SLOT_MS, sinceMs - (sinceMs % SLOT_MS))
    const sum = new Float64Array(HEADER + HISTOGRAM_BINS)
    for (const name of new Set(upstreams)) {
      const s = this.#series.get(name)
      if (s === undefined) continue
      for (let i = 0; i < WINDOW_SLOTS; i++) {
        const slot = s.slots[i]
        if (slot === undefined || s.starts[i]! < oldest) continue
        for (let j = 0; j < sum.length; j++) sum[j]! += slot[j]!
      }
    }
    const requests = sum[0]!
    if (requests === 0) return NO_FIGURES
    return {
      requests,
      errors: sum[1]!,
      errorRate: sum[1]! / requests,
      p50Ms: percentile(sum, requests, 0.5),
      p99Ms: percentile(sum, requests, 0.99)
    }
  }

  // A scan, only when a new upstream arrives with the map full (rare: MAX_KEYS is far above the
  // upstreams one proxy routes), instead of reordering the map on every request.
  #evictOldest (): void {
    let oldest: string | undefined
    let at = Number.POSITIVE_INFINITY
    for (const [name, s] of this.#series) if (s.updated < at) { at = s.updated; oldest = name }
    if (oldest !== undefined) this.#series.delete(oldest)
  }

  /** Forgets upstreams no longer routed (called with the live names; level-triggered). */
  retain (names: ReadonlySet<string>): void {
    const now = this.#now()
    for (const [name, s] of this.#series) {
      if (names.has(name)) continue
      // Kept while it has figures in the window: a retired version's figures stay readable.
      if (s.updated < now - WINDOW_MS) this.#series.delete(name)
    }
  }
}

function percentile (sum: Float64Array, requests: number, q: number): number {
  const rank = Math.ceil(requests * q)
  let seen = 0
  for (let b = 0; b < HISTOGRAM_BINS; b++) {
    seen += sum[HEADER + b]!
    if (seen >= rank) return binUpperMs(b)
  }
  return binUpperMs(HISTOGRAM_BINS - 1)
}
