// Label values (hosts, container names) that left the live table are forgotten after a grace
// period, so series of gone containers do not pile up across deploys, while a scrape or two still
// sees their final counts (Prometheus then marks them stale, as it does for a vanished target).

export const DEFAULT_RETENTION_GRACE_MS = 5 * 60_000

/** The proxy's own label values ('(unmatched)', '(overflow)', '' for "no upstream") are never dropped. */
export function isSyntheticLabel (value: string): boolean {
  return value === '' || value.startsWith('(')
}

export class GoneNames {
  readonly #graceMs: number
  readonly #now: () => number
  readonly #since = new Map<string, number>()

  constructor (graceMs: number, now: () => number) {
    this.#graceMs = graceMs
    this.#now = now
  }

  /** Of `known`, the names absent from `live` for at least the grace period (forgotten here once returned). */
  expired (known: Iterable<string>, live: ReadonlySet<string>): Set<string> {
    const now = this.#now()
    const out = new Set<string>()
    const seen = new Set<string>()
    for (const name of known) {
      if (seen.has(name) || isSyntheticLabel(name)) continue
      seen.add(name)
      if (live.has(name)) { this.#since.delete(name); continue }
      const since = this.#since.get(name)
      if (since === undefined) this.#since.set(name, now)
      else if (now - since >= this.#graceMs) out.add(name)
    }
    for (const name of this.#since.keys()) if (!seen.has(name) || out.has(name)) this.#since.delete(name)
    return out
  }
}
