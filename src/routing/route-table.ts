import type { HostTlsSettings } from './desired-state.js'
import { compileHostRegex, type HostRegex } from './host-regex.js'
import type { LoadBalancer } from './load-balancer.js'

// An immutable snapshot: built aside by the reconciler, swapped in whole, never mutated.

export interface Location {
  /** The VIRTUAL_HOST entry this location came from. */
  host: string
  path: string
  dest: string
  internalOnly: boolean
  tls: HostTlsSettings
  /** Request bodies above this many bytes get 413; undefined: no limit. */
  maxBodyBytes: number | undefined
  balancer: LoadBalancer
}

export class HostRoutes {
  readonly host: string
  /** Longest prefix first, so the first match wins (nginx prefix locations). */
  readonly locations: readonly Location[]
  /** Host-level TLS settings (nginx-proxy's server block): from the first location. */
  readonly tls: HostTlsSettings

  constructor (host: string, locations: Location[]) {
    this.host = host
    this.tls = locations[0]?.tls ?? { httpsMethod: undefined, hsts: undefined, certName: undefined }
    this.locations = Object.freeze([...locations].sort((a, b) => b.path.length - a.path.length || a.path.localeCompare(b.path)))
  }

  match (path: string): Location | undefined {
    for (const loc of this.locations) {
      if (loc.path === '/' || path.startsWith(loc.path)) return loc
    }
    return undefined
  }
}

interface Pattern { text: string, routes: HostRoutes }
interface RegexPattern { regex: HostRegex, routes: HostRoutes }

export class RouteTable {
  readonly #exact: Map<string, HostRoutes>
  readonly #leadingWildcards: Pattern[] // "*.example.com" stored as ".example.com"
  readonly #trailingWildcards: Pattern[] // "example.*" stored as "example."
  readonly #regexes: RegexPattern[]
  readonly hosts: readonly HostRoutes[]
  readonly defaultHost: string | undefined

  constructor (hosts: HostRoutes[], defaultHost?: string) {
    this.hosts = Object.freeze([...hosts].sort((a, b) => a.host.localeCompare(b.host)))
    this.defaultHost = defaultHost
    this.#exact = new Map()
    const leading: Pattern[] = []
    const trailing: Pattern[] = []
    const regexes: RegexPattern[] = []
    for (const h of this.hosts) {
      if (h.host.startsWith('~')) {
        // Providers validate hosts (validateHost) before they get here; one that slipped through
        // matches nothing rather than failing the whole table.
        const compiled = compileHostRegex(h.host.slice(1))
        if ('regex' in compiled) regexes.push({ regex: compiled.regex, routes: h })
      } else if (h.host.startsWith('*.')) leading.push({ text: h.host.slice(1), routes: h })
      else if (h.host.endsWith('.*')) trailing.push({ text: h.host.slice(0, -1), routes: h })
      else this.#exact.set(h.host, h)
    }
    // nginx: the longest wildcard wins; regexes in order of appearance (sorted by source here).
    this.#leadingWildcards = leading.sort((a, b) => b.text.length - a.text.length)
    this.#trailingWildcards = trailing.sort((a, b) => b.text.length - a.text.length)
    this.#regexes = regexes
    Object.freeze(this)
  }

  static empty (): RouteTable { return new RouteTable([]) }

  /** `hostname` must already be lower-cased and stripped of its port. */
  lookup (hostname: string): HostRoutes | undefined {
    const exact = this.#exact.get(hostname)
    if (exact !== undefined) return exact
    for (const p of this.#leadingWildcards) if (hostname.endsWith(p.text)) return p.routes
    for (const p of this.#trailingWildcards) if (hostname.startsWith(p.text)) return p.routes
    for (const p of this.#regexes) if (p.regex.test(hostname)) return p.routes
    return undefined
  }

  /** The route for a request: its host, else DEFAULT_HOST's (nginx-proxy's default server). */
  resolve (hostname: string): HostRoutes | undefined {
    return this.lookup(hostname) ?? (this.defaultHost !== undefined ? this.#exact.get(this.defaultHost) : undefined)
  }
}
