import { isIPv6 } from 'node:net'
import { LRUCache } from 'lru-cache'

// Slows down password guessing per client address. After `maxFailures` wrong credentials within
// `windowMs` of the first one, the address gets 'throttled' (429) without any hashing until that
// window ends. For comparison: nginx has no lockout (auth_delay only pads each 401; limit_req
// rate-limits all requests), and fail2ban's stock jail bans 10 min after 5 failures in 10 min.
// We answer in-process and for a shorter time, because a shared (NAT) address also carries
// legitimate users: their cached successes still pass (BasicAuthStore checks the cache first).

export const DEFAULT_AUTH_MAX_FAILURES = 10
export const DEFAULT_AUTH_FAILURE_WINDOW_MS = 60_000
/** Addresses remembered at once; the least recently failing are forgotten first. */
export const DEFAULT_AUTH_TRACKED_CLIENTS = 10_000

export interface AuthThrottleOptions {
  maxFailures: number
  windowMs: number
  maxClients: number
  now?: () => number
}

interface Failures { count: number, pending: number, resetAt: number }

export class AuthThrottle {
  readonly #options: AuthThrottleOptions
  readonly #now: () => number
  readonly #clients: LRUCache<string, Failures>

  constructor (options: AuthThrottleOptions) {
    this.#options = options
    this.#now = options.now ?? Date.now
    // The window is enforced by resetAt; lru-cache's ttl only lets idle entries go.
    this.#clients = new LRUCache({ max: options.maxClients, ttl: options.windowMs, ttlAutopurge: false, perf: { now: this.#now } })
  }

  get size (): number { return this.#clients.size }

  /** Seconds until `client` may try again; 0 when it is not throttled. */
  retryAfterSeconds (client: string): number {
    const f = this.#current(clientKey(client))
    if (f === undefined || f.count + f.pending < this.#options.maxFailures) return 0
    return Math.max(1, Math.ceil((f.resetAt - this.#now()) / 1000))
  }

  /**
   * Reserve a verification for `client`: false when it is throttled. Verifications in flight
   * count as failures until settled, so a burst of parallel guesses cannot overshoot the limit.
   */
  begin (client: string): boolean {
    const key = clientKey(client)
    const f = this.#current(key) ?? this.#fresh(key)
    if (f.count + f.pending >= this.#options.maxFailures) return false
    f.pending++
    return true
  }

  settled (client: string, ok: boolean): void {
    const key = clientKey(client)
    const f = this.#current(key) ?? this.#fresh(key)
    if (f.pending > 0) f.pending--
    if (!ok) this.failed(client)
  }

  /** A failure that needed no verification (malformed credentials). */
  failed (client: string): void {
    const key = clientKey(client)
    const f = this.#current(key) ?? this.#fresh(key)
    f.count++
    this.#clients.set(key, f, { ttl: Math.max(1, f.resetAt - this.#now()) })
  }

  // Private

  #current (key: string): Failures | undefined {
    const f = this.#clients.get(key)
    if (f === undefined || this.#now() < f.resetAt) return f
    f.count = 0
    f.resetAt = this.#now() + this.#options.windowMs
    return f
  }

  #fresh (key: string): Failures {
    const f = { count: 0, pending: 0, resetAt: this.#now() + this.#options.windowMs }
    this.#clients.set(key, f)
    return f
  }
}

/**
 * The unit a client is counted by: the IPv4 address (IPv4-mapped IPv6 unwrapped), or the /64 of
 * an IPv6 address, because one subscriber usually holds a whole /64 and could rotate within it.
 */
export function clientKey (address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  if (mapped !== null) return mapped[1]!
  if (!isIPv6(address)) return address
  const [head = '', tail = ''] = address.toLowerCase().split('%')[0]!.split('::')
  const left = head === '' ? [] : head.split(':')
  const right = address.includes('::') ? (tail === '' ? [] : tail.split(':')) : []
  const groups = [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right]
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`
}
