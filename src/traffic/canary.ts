import { randomBytes } from 'node:crypto'
import type { LoadBalancer } from '../routing/load-balancer.js'
import type { Target } from '../routing/target.js'
import type { CanaryPolicy } from './policy.js'

// The canary split on the request path (issue 13 item 2). Every client has a bucket in
// [0, BUCKETS): the one its cookie names; else the one this process gave its address (so clients
// that keep no cookies stay put while their address does); else a new one, taken from a
// low-discrepancy sequence so that any run of N new clients splits within a few clients of the
// share (a hash of the address would be off by ±sqrt(N·s(1−s)) clients: ±6 points for 50).
// A client is on the new version while bucket < share × BUCKETS; shares only grow during a
// rollout, so a client once on the new version stays there. The proxy sets the cookie with the
// bucket it used, so a client keeps its side when its address changes; no app change.
//
// The address memory is per process and bounded (MAX_REMEMBERED_ADDRESSES, the least recently
// seen forgotten first, by halves):
// with worker processes a client without cookies keeps its side while its connections land on
// the same worker.
//
// The cookie is client input: only `<name>=<1-4 digits>` below BUCKETS is read, anything else is
// ignored (the address decides) and overwritten.

export const BUCKETS = 10_000
export const COOKIE_MAX_AGE_S = 86_400
/** Cookie names this proxy sets: a prefix and 8 hex digits, new per rollout. */
export const COOKIE_NAME = /^pxc_[0-9a-f]{8}$/

export function newCookieName (): string { return `pxc_${randomBytes(4).toString('hex')}` }

/** At most this many addresses remembered; at least half of them, the most recently seen. */
export const MAX_REMEMBERED_ADDRESSES = 100_000
/** 1/φ: the Weyl sequence n/φ mod 1 has the lowest discrepancy of its kind. */
const INVERSE_PHI = (Math.sqrt(5) - 1) / 2

export interface CanaryChoice {
  side: 'new' | 'old'
  /** The other side's targets: what the balancer must not pick. */
  exclude: ReadonlySet<Target>
  /** Set-Cookie value when the client did not send a valid one. */
  setCookie: string | undefined
}

/** The bucket a Cookie header names for `name`; undefined when absent or not a valid bucket. */
export function bucketFromCookie (cookie: string | undefined, name: string): number | undefined {
  if (cookie === undefined || cookie.length === 0) return undefined
  let from = 0
  // Header size is bounded by the listener (maxHeaderSize); each occurrence is looked at once.
  for (;;) {
    const at = cookie.indexOf(name, from)
    if (at < 0) return undefined
    from = at + name.length
    const before = at === 0 ? ' ' : cookie[at - 1]!
    if ((before !== ' ' && before !== ';') || cookie[from] !== '=') continue
    const end = cookie.indexOf(';', from)
    const value = cookie.slice(from + 1, end < 0 ? undefined : end).trim()
    if (!/^\d{1,4}$/.test(value)) return undefined
    const bucket = Number(value)
    return bucket < BUCKETS ? bucket : undefined
  }
}

export function isNewTarget (t: Target, policy: CanaryPolicy): boolean {
  return policy.newTargets.some((id) => t.isContainer(id))
}

interface Sides { policy: CanaryPolicy, new: ReadonlySet<Target>, old: ReadonlySet<Target> }

/** Per route location: which side each of its targets is on, recomputed when the policy changes. */
export class CanarySplit {
  // Keyed by the balancer (one per table swap and location) so a new table starts afresh.
  readonly #sides = new WeakMap<LoadBalancer, Sides>()
  // `${cookie name}\0${address}` -> bucket, in two generations: when the current one is full it
  // becomes the previous one (the one before is dropped), so eviction is O(1) and an address
  // in use moves to the current one. (Deleting a Map's oldest entries one by one made V8 skip
  // ever more holes: 40 µs a request at 1M addresses.)
  #byAddress = new Map<string, number>()
  #previous = new Map<string, number>()
  readonly #maxRemembered: number
  #next = 0
  readonly #offset: number

  constructor (options: { maxRemembered?: number, offset?: number } = {}) {
    this.#maxRemembered = options.maxRemembered ?? MAX_REMEMBERED_ADDRESSES
    this.#offset = options.offset ?? Math.random()
  }

  /** undefined: no split (no policy, or the client's side has no ready target: any target then). */
  choose (balancer: LoadBalancer, policy: CanaryPolicy | undefined, cookie: string | undefined, client: string): CanaryChoice | undefined {
    if (policy === undefined) return undefined
    const sides = this.#sidesOf(balancer, policy)
    const fromCookie = bucketFromCookie(cookie, policy.cookie)
    const bucket = fromCookie ?? this.#bucketOf(`${policy.cookie}\u0000${client}`)
    const side = bucket < Math.round(policy.share * BUCKETS) ? 'new' : 'old'
    const mine = side === 'new' ? sides.new : sides.old
    let ready = false
    for (const t of mine) if (t.routable) { ready = true; break }
    if (!ready) return undefined
    return {
      side,
      exclude: side === 'new' ? sides.old : sides.new,
      setCookie: fromCookie === undefined ? `${policy.cookie}=${bucket}; Path=/; Max-Age=${COOKIE_MAX_AGE_S}; HttpOnly; SameSite=Lax` : undefined
    }
  }

  // Private

  #bucketOf (key: string): number {
    const known = this.#byAddress.get(key)
    if (known !== undefined) return known
    let bucket = this.#previous.get(key)
    if (bucket === undefined) {
      bucket = Math.floor(((this.#next++ * INVERSE_PHI + this.#offset) % 1) * BUCKETS)
      if (this.#next > 1e9) this.#next = 0
    }
    if (this.#byAddress.size >= this.#maxRemembered / 2) {
      this.#previous = this.#byAddress
      this.#byAddress = new Map()
    }
    this.#byAddress.set(key, bucket)
    return bucket
  }

  #sidesOf (balancer: LoadBalancer, policy: CanaryPolicy): Sides {
    const cached = this.#sides.get(balancer)
    if (cached?.policy === policy) return cached
    const fresh = new Set<Target>()
    const old = new Set<Target>()
    for (const t of balancer.targets) (isNewTarget(t, policy) ? fresh : old).add(t)
    const sides = { policy, new: fresh, old }
    this.#sides.set(balancer, sides)
    return sides
  }
}
