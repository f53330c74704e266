import { DEFAULT_RETENTION_GRACE_MS, GoneNames } from './retention.js'

// Per-host request and failure totals: the one owner of these counters. Read by the status page
// (rates), `proxyctl status` and the rollout history (failed requests seen during a deploy).
// Hosts come from the route table; those gone for a grace period are forgotten by retain(), long
// enough that a deploy which briefly empties a host keeps its totals.

export interface HostTraffic { requests: number, errors: number }

export const MAX_TRAFFIC_HOSTS = 10_000

export class TrafficStats {
  readonly #hosts = new Map<string, HostTraffic>()
  readonly #gone: GoneNames

  constructor (options: { retentionGraceMs?: number, now?: () => number } = {}) {
    this.#gone = new GoneNames(options.retentionGraceMs ?? DEFAULT_RETENTION_GRACE_MS, options.now ?? Date.now)
  }

  requestCompleted (host: string, status: number): void {
    let h = this.#hosts.get(host)
    if (h === undefined) {
      if (this.#hosts.size >= MAX_TRAFFIC_HOSTS) return
      h = { requests: 0, errors: 0 }
      this.#hosts.set(host, h)
    }
    h.requests++
    // 5xx, and 0: the connection was cut before a status could be sent.
    if (status >= 500 || status === 0) h.errors++
  }

  /** Forget hosts out of `liveHosts` for the grace period; level-triggered, like Metrics.retain. */
  retain (liveHosts: Iterable<string>): void {
    for (const host of this.#gone.expired(this.#hosts.keys(), new Set(liveHosts))) this.#hosts.delete(host)
  }

  get size (): number { return this.#hosts.size }

  get (host: string): HostTraffic { return { ...(this.#hosts.get(host) ?? { requests: 0, errors: 0 }) } }

  snapshot (): Record<string, HostTraffic> {
    const out: Record<string, HostTraffic> = {}
    for (const [host, t] of this.#hosts) out[host] = { ...t }
    return out
  }
}
