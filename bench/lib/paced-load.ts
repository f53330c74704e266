import { Readable } from 'node:stream'
import { Pool } from 'undici'
import { int } from './cli.ts'

// An open-loop load generator: request i is due at i / rate seconds, whatever happened to the
// ones before it. A closed loop (send the next request when the last one returns) re-sends fast
// 502s at once and so inflates failure counts; here failures count for the time they cover.
// Latency is measured from the scheduled time, so queueing behind busy connections shows up.

export interface PacedLoadOptions {
  origin: string
  host: string
  /** Requests per second. */
  rate: number
  /** Keep-alive connections (undici Pool). */
  connections: number
  /** Every Nth request is a slow POST (0: none). */
  postEvery: number
  postBytes: number
  /** The POST body is sent in `postChunks` pieces over this many ms. */
  postSpreadMs: number
  postChunks: number
  /** The app holds a POST this long after reading it (`?delay=`). */
  postDelayMs: number
  /** Per request, counted from its scheduled start (queueing included): then it is abandoned as CLIENT_TIMEOUT. */
  timeoutMs: number
  /** Hard bounds: the generator stops by itself at whichever comes first. */
  maxDurationMs: number
  maxRequests: number
}

/**
 * The rollout benches' load from their shared settings (connections, post-every, post-bytes,
 * post-spread-ms, post-delay-ms, timeout-ms), bounded to `maxMinutes` at `rate`.
 */
export function rolloutLoadOptions (
  s: Record<'connections' | 'postEvery' | 'postBytes' | 'postSpreadMs' | 'postDelayMs' | 'timeoutMs', string>,
  at: { origin: string, host: string, rate: number, maxMinutes: number }
): PacedLoadOptions {
  return {
    origin: at.origin,
    host: at.host,
    rate: at.rate,
    connections: int(s.connections, 'connections'),
    postEvery: int(s.postEvery, 'post-every'),
    postBytes: int(s.postBytes, 'post-bytes'),
    postSpreadMs: int(s.postSpreadMs, 'post-spread-ms'),
    postChunks: 4,
    postDelayMs: int(s.postDelayMs, 'post-delay-ms'),
    timeoutMs: int(s.timeoutMs, 'timeout-ms'),
    maxDurationMs: at.maxMinutes * 60_000,
    maxRequests: at.rate * at.maxMinutes * 60
  }
}

export interface Outcome {
  /** Scheduled start, ms since the load started. */
  t: number
  /** Completion (response body read, or error), ms since the load started. */
  end: number
  method: 'GET' | 'POST'
  status: number
  error: string | undefined
  version: string | undefined
}

export interface PacedLoad {
  /** ms since the load started (the clock every Outcome uses). */
  now (): number
  readonly startedAt: number
  issued (): number
  stop (): Promise<Outcome[]>
}

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

export function startPacedLoad (o: PacedLoadOptions): PacedLoad {
  const pool = new Pool(o.origin, {
    connections: o.connections,
    pipelining: 1,
    keepAliveTimeout: 30_000,
    headersTimeout: o.timeoutMs,
    bodyTimeout: o.timeoutMs,
    connect: { timeout: o.timeoutMs }
  })
  const startedAt = Date.now()
  const t0 = performance.now()
  const now = (): number => performance.now() - t0
  const outcomes: Outcome[] = []
  const inflight = new Set<Promise<void>>()
  let issued = 0
  let stopped = false
  const chunk = Buffer.alloc(Math.max(1, Math.ceil(o.postBytes / Math.max(1, o.postChunks))), 'x')

  async function * slowBody (): AsyncGenerator<Buffer> {
    const gap = o.postSpreadMs / Math.max(1, o.postChunks)
    for (let k = 0; k < o.postChunks; k++) {
      if (k > 0) await sleep(gap)
      yield chunk
    }
  }

  async function one (i: number, t: number): Promise<void> {
    const post = o.postEvery > 0 && i % o.postEvery === o.postEvery - 1
    const method = post ? 'POST' : 'GET'
    let status = 0
    let error: string | undefined
    let version: string | undefined
    // The deadline runs from the scheduled start: a request stuck in the pool's queue times out too.
    const signal = AbortSignal.timeout(Math.max(1, Math.round(o.timeoutMs - (now() - t))))
    try {
      const res = await pool.request({
        method,
        path: post ? `/orders?delay=${o.postDelayMs}&n=${i}` : `/?n=${i}`,
        headers: post
          ? { host: o.host, 'content-type': 'application/octet-stream', 'content-length': String(chunk.length * o.postChunks) }
          : { host: o.host },
        body: post ? Readable.from(slowBody()) : undefined,
        signal
      })
      await res.body.dump({ limit: 1 << 20 })
      status = res.statusCode
      const v = res.headers['x-app-version']
      version = Array.isArray(v) ? v[0] : v
    } catch (err) {
      const e = err as { code?: string, name?: string, message?: string }
      error = signal.aborted ? 'CLIENT_TIMEOUT' : e.code ?? e.name ?? String(err)
    }
    outcomes.push({ t: Math.round(t * 10) / 10, end: Math.round(now() * 10) / 10, method, status, error, version })
  }

  const loop = (async () => {
    const periodMs = 1000 / o.rate
    while (!stopped && issued < o.maxRequests && now() < o.maxDurationMs) {
      const due = Math.min(o.maxRequests, Math.floor(now() / periodMs) + 1)
      while (issued < due) {
        const i = issued++
        const p = one(i, i * periodMs)
        inflight.add(p)
        void p.finally(() => inflight.delete(p))
      }
      await sleep(1)
    }
  })()

  return {
    now,
    startedAt,
    issued: () => issued,
    stop: async () => {
      stopped = true
      await loop
      // Every request ends by its own deadline; the margin covers a slow event loop.
      const deadline = Date.now() + o.timeoutMs + 5_000
      while (inflight.size > 0 && Date.now() < deadline) await Promise.race([...inflight, sleep(500)])
      await pool.destroy().catch(() => {})
      return outcomes.sort((a, b) => a.t - b.t)
    }
  }
}
