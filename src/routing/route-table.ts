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

/** A host's own listen ports (nginx-proxy EXTERNAL_HTTP_PORT/EXTERNAL_HTTPS_PORT); undefined: the proxy's. */
export interface HostPorts { http?: number | undefined, https?: number | undefined }

export class HostRoutes {
  readonly host: string
  readonly externalPorts: HostPorts | undefined
  /** Longest prefix first, so the first match wins (nginx prefix locations). */
  readonly locations: readonly Location[]
  /** Host-level TLS settings (nginx-proxy's server block): from the first location. */
  readonly tls: HostTlsSettings

  constructor (host: string, locations: Location[], externalPorts?: HostPorts) {
    this.host = host
    this.externalPorts = externalPorts?.http === undefined && externalPorts?.https === undefined ? undefined : externalPorts
    this.tls = locations[0]?.tls ?? { httpsMethod: undefined, hsts: undefined, certName: undefined }
    this.locations = Object.freeze([...locations].sort((a, b) => b.path.length - a.path.length || a.path.localeCompare(b.path)))
  }

  /**
   * Whether this host has a server on the listener at `port` (nginx: `listen` in its server block):
   * its external port for the scheme, else the proxy's own (`defaultPort`).
   */
  listensOn (scheme: 'http' | 'https', port: number, defaultPort: number): boolean {
    return (this.externalPorts?.[scheme] ?? defaultPort) === port
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
  /** Ports hosts are served on besides the proxy's own, per scheme, ascending (extra listeners). */
  readonly externalPorts: { readonly http: readonly number[], readonly https: readonly number[] }

  constructor (hosts: HostRoutes[], defaultHost?: string) {
    this.hosts = Object.freeze([...hosts].sort((a, b) => a.host.localeCompare(b.host)))
    this.defaultHost = defaultHost
    const ports = { http: new Set<number>(), https: new Set<number>() }
    for (const h of this.hosts) {
      if (h.externalPorts?.http !== undefined) ports.http.add(h.externalPorts.http)
      if (h.externalPorts?.https !== undefined) ports.https.add(h.externalPorts.https)
    }
    this.externalPorts = Object.freeze({ http: [...ports.http].sort((a, b) => a - b), https: [...ports.https].sort((a, b) => a - b) })
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

  /**
   * `hostname` must already be lower-cased and stripped of its port. `serves`, when given, skips
   * hosts that have no server on the listener asked about (nginx matches server_name among the
   * servers of that port only: a nohttps host is no candidate on 443).
   */
  lookup (hostname: string, serves?: (routes: HostRoutes) => boolean): HostRoutes | undefined {
    const exact = this.#exact.get(hostname)
    if (exact !== undefined && (serves === undefined || serves(exact))) return exact
    for (const p of this.#leadingWildcards) if (hostname.endsWith(p.text) && (serves === undefined || serves(p.routes))) return p.routes
    for (const p of this.#trailingWildcards) if (hostname.startsWith(p.text) && (serves === undefined || serves(p.routes))) return p.routes
    for (const p of this.#regexes) if (p.regex.test(hostname) && (serves === undefined || serves(p.routes))) return p.routes
    return undefined
  }

  /** The route for a request: its host, else DEFAULT_HOST's (nginx-proxy's default server). */
  resolve (hostname: string, serves?: (routes: HostRoutes) => boolean): HostRoutes | undefined {
    const found = this.lookup(hostname, serves)
    if (found !== undefined || this.defaultHost === undefined) return found
    const fallback = this.#exact.get(this.defaultHost)
    return fallback !== undefined && (serves === undefined || serves(fallback)) ? fallback : undefined
  }
}
