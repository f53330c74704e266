import { Client } from 'undici'

export interface Sample {
  startMs: number
  endMs: number
  method: 'GET' | 'POST'
  status: number
  version: string | undefined
  error: string | undefined
}

export interface LoadResult {
  samples: Sample[]
  failures: Sample[]
  total: number
  byVersion: Record<string, number>
}

export interface LoadOptions {
  port: number
  host: string
  /** The proxy's address (a Swarm node's, say); 127.0.0.1 unless given. */
  address?: string
  clients?: number
  /** Every other request is a POST the app holds this long (`?delay=`). */
  postDelayMs?: number
  /** Hard bounds: the load stops by itself at whichever comes first. */
  maxDurationMs?: number
  maxRequests?: number
}

/**
 * Continuous load from N keep-alive clients, mixing GETs with slow POSTs (never retried by the
 * proxy, so only draining keeps them whole). Every request's outcome and time is recorded.
 */
export function startLoad (o: LoadOptions): { stop: () => Promise<LoadResult>, count: () => number, seen: () => readonly Sample[] } {
  const clients = o.clients ?? 20
  const deadline = Date.now() + (o.maxDurationMs ?? 120_000)
  const maxRequests = o.maxRequests ?? 100_000
  const samples: Sample[] = []
  let stopped = false
  const body = JSON.stringify({ order: 'x'.repeat(200) })
  const loops = Array.from({ length: clients }, async (_, i) => {
    const client = new Client(`http://${o.address ?? '127.0.0.1'}:${o.port}`, { keepAliveTimeout: 30_000, headersTimeout: 30_000, bodyTimeout: 30_000 })
    let n = i
    while (!stopped && Date.now() < deadline && samples.length < maxRequests) {
      const method = n++ % 2 === 0 ? 'GET' : 'POST'
      const startMs = Date.now()
      try {
        const res = await client.request({
          method,
          path: method === 'GET' ? `/?c=${i}` : `/orders?delay=${o.postDelayMs ?? 250}`,
          headers: { host: o.host, ...(method === 'POST' ? { 'content-type': 'application/json' } : {}) },
          body: method === 'POST' ? body : undefined
        })
        await res.body.dump()
        const v = res.headers['x-app-version']
        samples.push({ startMs, endMs: Date.now(), method, status: res.statusCode, version: Array.isArray(v) ? v[0] : v, error: undefined })
      } catch (err) {
        samples.push({ startMs, endMs: Date.now(), method, status: 0, version: undefined, error: (err as { code?: string }).code ?? (err as Error).message })
      }
    }
    await client.close().catch(() => {})
  })
  return {
    count: () => samples.length,
    /** The samples so far (answered requests only), for a wait on what the load itself saw. */
    seen: () => samples,
    stop: async () => {
      stopped = true
      await Promise.all(loops)
      const failures = samples.filter((s) => s.status !== 200)
      const byVersion: Record<string, number> = {}
      for (const s of samples) if (s.version !== undefined) byVersion[s.version] = (byVersion[s.version] ?? 0) + 1
      return { samples, failures, total: samples.length, byVersion }
    }
  }
}

export function describeFailures (r: LoadResult): string {
  return r.failures.slice(0, 10).map((f) => `${f.method} ${f.status} ${f.error ?? ''} at +${f.endMs - (r.samples[0]?.startMs ?? 0)}ms`).join('; ')
}
