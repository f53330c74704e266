import type { BalancingStrategy } from '../config/options.js'
import { type Target, targetStateEpoch } from './target.js'

/**
 * The proxy-wide strategies, plus client-address affinity from nginx-proxy's loadbalance label:
 * 'ip-hash' keys on what nginx's ip_hash does (an IPv4 address's first three octets, a whole IPv6
 * address), 'remote-addr-hash' on the whole address (`hash $remote_addr [consistent];`).
 */
export type LoadBalancing = BalancingStrategy | 'ip-hash' | 'remote-addr-hash'

/** Picks a ready Target for one route; the ready list is recomputed only when some state changed. */
export class LoadBalancer {
  readonly targets: readonly Target[]
  readonly strategy: LoadBalancing
  #ready: Target[] = []
  #epoch = -1
  #next = 0

  constructor (targets: readonly Target[], strategy: LoadBalancing) {
    this.targets = targets
    this.strategy = strategy
  }

  get readyCount (): number { return this.#readyTargets().length }

  /**
   * Returns undefined when no ready target is left outside `exclude`. `client` (the peer address)
   * is read by the affinity strategies only.
   */
  pick (exclude?: ReadonlySet<Target>, client?: string): Target | undefined {
    const ready = this.#readyTargets()
    const n = ready.length
    if (n === 0) return undefined
    if ((this.strategy === 'ip-hash' || this.strategy === 'remote-addr-hash') && client !== undefined) {
      return pickByAddress(ready, this.strategy === 'ip-hash' ? ipHashKey(client) : client, exclude)
    }
    const start = this.#next++ % n
    if (this.#next > 1e9) this.#next = 0
    let best: Target | undefined
    for (let i = 0; i < n; i++) {
      const t = ready[(start + i) % n]!
      if (exclude?.has(t) === true) continue
      if (this.strategy === 'round-robin') return t
      // Least outstanding requests; ties go round-robin via the rotating start.
      if (best === undefined || t.inflight < best.inflight) best = t
    }
    return best
  }

  // Private

  #readyTargets (): Target[] {
    const epoch = targetStateEpoch()
    if (epoch !== this.#epoch) {
      this.#ready = this.targets.filter((t) => t.routable)
      this.#epoch = epoch
    }
    return this.#ready
  }
}

/**
 * Rendezvous (highest random weight) hashing: each ready target scores hash(target, key) and the
 * highest wins, so a client keeps its target while that target is ready, moves when it is not,
 * and only the clients of a target that came or went move (nginx's `consistent`, which plain
 * ip_hash lacks: there a change of the server list remaps most clients).
 */
function pickByAddress (ready: readonly Target[], key: string, exclude?: ReadonlySet<Target>): Target | undefined {
  let best: Target | undefined
  let bestScore = -1
  for (const t of ready) {
    if (exclude?.has(t) === true) continue
    const score = fnv1a(`${t.key}\u0000${key}`)
    if (score > bestScore || (score === bestScore && best !== undefined && t.key < best.key)) { best = t; bestScore = score }
  }
  return best
}

/** nginx's ip_hash key: an IPv4 address's first three octets (IPv4-mapped IPv6 too), else the whole address. */
export function ipHashKey (address: string): string {
  const v4 = /^(?:::ffff:)?(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.\d{1,3}$/i.exec(address)
  return v4 === null ? address.toLowerCase() : `${v4[1]}.${v4[2]}.${v4[3]}`
}

/** 32-bit FNV-1a with a murmur3 finaliser (spreads the short, similar keys addresses make). */
function fnv1a (text: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}
