// Traffic control set through the admin API (issue 13): pause, maintenance, canary split, per host.
// One owner (PolicyStore, in the process that runs the admin API); the request path reads
// `current` once per request. A snapshot is plain JSON so the same value can be sent to worker
// processes (issue 12) exactly as it is read here. Build the next snapshot aside, swap it whole.

/** `proxyctl pause`: new requests are held, not answered, until resume or a bound. */
export interface PausePolicy {
  /** Epoch ms when the pause began. */
  since: number
  /** A request held this long gets 503 with Retry-After. */
  maxHoldMs: number
  /** Held requests beyond this many get 503 with Retry-After at once. */
  maxQueued: number
}

/** `proxyctl maintenance on`: 503 + Retry-After + a page, except for allowed client addresses. */
export interface MaintenancePolicy {
  /** The HTML page answered; undefined: the built-in page. */
  page: string | undefined
  /** CIDRs (or single addresses) whose clients still reach the app. */
  allow: string[]
  since: number
}

/** `proxyctl deploy --canary`: the share of new clients the new containers get (issue 13 item 2). */
export interface CanaryPolicy {
  /** Container ids of the new version. */
  newTargets: string[]
  /** 0..1 */
  share: number
  /** The sticky cookie's name. */
  cookie: string
}

export interface HostPolicy {
  pause?: PausePolicy | undefined
  maintenance?: MaintenancePolicy | undefined
  canary?: CanaryPolicy | undefined
}

/** Keyed by the route's host (the VIRTUAL_HOST entry, as RouteTable's HostRoutes.host). */
export interface PolicySnapshot {
  readonly hosts: Readonly<Record<string, HostPolicy>>
}

export const EMPTY_POLICY: PolicySnapshot = Object.freeze({ hosts: Object.freeze({}) })

/** The one mutable holder of the live policy snapshot. */
export class PolicyStore {
  #current: PolicySnapshot = EMPTY_POLICY
  readonly #changed = new Set<(current: PolicySnapshot) => void>()

  get current (): PolicySnapshot { return this.#current }

  /** The host's policy, or undefined when none is set. */
  forHost (host: string): HostPolicy | undefined { return this.#current.hosts[host] }

  /** Replaces one host's policy (undefined or an empty policy removes it) and tells the listeners. */
  update (host: string, change: (previous: HostPolicy) => HostPolicy): PolicySnapshot {
    const next: Record<string, HostPolicy> = { ...this.#current.hosts }
    const policy = change({ ...(next[host] ?? {}) })
    if (policy.pause === undefined && policy.maintenance === undefined && policy.canary === undefined) delete next[host]
    else next[host] = policy
    return this.replace({ hosts: next })
  }

  /** Swaps in a whole snapshot (a restored state file, a worker receiving the primary's). */
  replace (next: PolicySnapshot): PolicySnapshot {
    this.#current = Object.freeze({ hosts: Object.freeze({ ...next.hosts }) })
    for (const listener of this.#changed) listener(this.#current)
    return this.#current
  }

  onChanged (listener: (current: PolicySnapshot) => void): () => void {
    this.#changed.add(listener)
    return () => { this.#changed.delete(listener) }
  }
}
