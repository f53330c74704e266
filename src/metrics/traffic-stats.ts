// Per-host request and failure totals: the one owner of these counters. Read by the status page
// (rates), `proxyctl status` and the rollout history (failed requests seen during a deploy).

export interface HostTraffic { requests: number, errors: number }

export class TrafficStats {
  readonly #hosts = new Map<string, HostTraffic>()

  requestCompleted (host: string, status: number): void {
    let h = this.#hosts.get(host)
    if (h === undefined) {
      if (this.#hosts.size >= 10_000) return
      h = { requests: 0, errors: 0 }
      this.#hosts.set(host, h)
    }
    h.requests++
    // 5xx, and 0: the connection was cut before a status could be sent.
    if (status >= 500 || status === 0) h.errors++
  }

  get (host: string): HostTraffic { return { ...(this.#hosts.get(host) ?? { requests: 0, errors: 0 }) } }

  snapshot (): Record<string, HostTraffic> {
    const out: Record<string, HostTraffic> = {}
    for (const [host, t] of this.#hosts) out[host] = { ...t }
    return out
  }
}
