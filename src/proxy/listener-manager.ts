import { createServer, type Server, type Socket } from 'node:net'
import type { Logger } from '../logger.js'
import type { RouteTable } from '../routing/route-table.js'
import { claimPort, releasePort } from '../workers/port-claim.js'
import type { Scheme } from './request-router.js'

// The extra ports hosts ask for (nginx-proxy EXTERNAL_HTTP_PORT / EXTERNAL_HTTPS_PORT and the
// external_http(s)_port keys of VIRTUAL_HOST_MULTIPORTS). Each is a plain TCP listener that hands
// its connections to the proxy's HTTP or HTTPS server, so every port has the same request path,
// limits and TLS; the router picks the host's server block by the connection's local port.

export interface ListenerManagerOptions {
  host: string
  /** The proxy's own listeners: ports hosts ask for that are these are served there, not twice. */
  defaultPorts: () => { http: number, https: number | undefined }
  /** HTTPS ports are opened only when the proxy serves HTTPS at all. */
  https: boolean
  maxConnections: number
  /** A worker process's way of sharing ports with the others (ProxyServerOptions.listenFlags). */
  listenFlags?: { reusePort: boolean, exclusive: boolean } | undefined
  /** Hands an accepted connection to the HTTP or HTTPS server. */
  accept: (scheme: Scheme, socket: Socket) => void
}

interface OpenListener { scheme: Scheme, server: Server }

/** One owner of the extra listeners: reconciled from each new table, opened and closed to match it. */
export class ListenerManager {
  readonly #options: ListenerManagerOptions
  readonly #log: Logger
  readonly #open = new Map<number, OpenListener>()
  /** Ports that could not be opened (or conflict), with why: logged once until that changes. */
  readonly #refused = new Map<number, string>()
  #queue: Promise<void> = Promise.resolve()
  #stopped = false

  constructor (options: ListenerManagerOptions, log: Logger) {
    this.#options = options
    this.#log = log
  }

  /** The extra ports listening now, per scheme (status and tests). */
  get ports (): { http: number[], https: number[] } {
    const out: { http: number[], https: number[] } = { http: [], https: [] }
    for (const [port, l] of this.#open) out[l.scheme].push(port)
    return { http: out.http.sort((a, b) => a - b), https: out.https.sort((a, b) => a - b) }
  }

  /** Level-triggered: open what the table uses and is not open, close what it no longer uses. Runs one at a time. */
  async reconcile (table: RouteTable): Promise<void> {
    const run = this.#queue.then(async () => { await this.#reconcile(table) })
    this.#queue = run.catch(() => {})
    await run
  }

  async stop (): Promise<void> {
    this.#stopped = true
    await this.#queue
    for (const port of [...this.#open.keys()]) this.#close(port)
  }

  // Private

  async #reconcile (table: RouteTable): Promise<void> {
    if (this.#stopped) return
    const wanted = this.#wanted(table)
    for (const [port, l] of this.#open) {
      if (wanted.get(port) !== l.scheme) this.#close(port)
    }
    for (const port of this.#refused.keys()) if (!wanted.has(port)) this.#refused.delete(port)
    for (const [port, scheme] of wanted) {
      if (this.#open.has(port)) continue
      await this.#openPort(port, scheme)
    }
  }

  /** Port -> scheme; a port two schemes want, or the other scheme's own port, is refused (nginx cannot serve both on one port either). */
  #wanted (table: RouteTable): Map<number, Scheme> {
    const own = this.#options.defaultPorts()
    const wanted = new Map<number, Scheme>()
    const conflicts = new Set<number>()
    const add = (scheme: Scheme, ports: readonly number[]): void => {
      for (const port of ports) {
        if (port === own[scheme]) continue
        if (port === own.http || port === own.https || wanted.has(port)) conflicts.add(port)
        else wanted.set(port, scheme)
      }
    }
    add('http', table.externalPorts.http)
    if (this.#options.https) add('https', table.externalPorts.https)
    for (const port of conflicts) {
      wanted.delete(port)
      this.#refuse(port, 'wanted for both HTTP and HTTPS')
    }
    return wanted
  }

  async #openPort (port: number, scheme: Scheme): Promise<void> {
    // SO_REUSEPORT would share a port something else holds that way (a second proxyctl): claimed
    // first, as the proxy's own ports are (workers/port-claim.ts). A plain bind is its own claim.
    const shared = this.#options.listenFlags?.reusePort === true
    if (shared) {
      const refused = await claimPort(this.#options.host, port)
      if (refused !== undefined) { this.#refuse(port, refused); return }
      if (this.#stopped) { releasePort(port); return }
    }
    const server = createServer({ noDelay: true }, (socket) => { this.#options.accept(scheme, socket) })
    server.maxConnections = this.#options.maxConnections
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen({ port, host: this.#options.host, ...this.#options.listenFlags }, () => { server.off('error', reject); resolve() })
      })
    } catch (err) {
      server.close()
      if (shared) releasePort(port)
      this.#refuse(port, (err as NodeJS.ErrnoException).code ?? (err as Error).message)
      return
    }
    // After listening, an error (EMFILE on accept) is logged; the listener stays.
    server.on('error', (err) => { this.#log.warn({ port, scheme, err: err.message }, 'Listener error') })
    this.#open.set(port, { scheme, server })
    this.#refused.delete(port)
    this.#log.info({ port, scheme, host: this.#options.host }, 'Listener opened')
  }

  #close (port: number): void {
    const l = this.#open.get(port)
    if (l === undefined) return
    this.#open.delete(port)
    // Stops accepting at once. Connections already handed over belong to the HTTP(S) server: they
    // finish what they carry (a host no longer on this port is not found there) and end with it.
    l.server.close()
    if (this.#options.listenFlags?.reusePort === true) releasePort(port)
    this.#log.info({ port, scheme: l.scheme }, 'Listener closed')
  }

  #refuse (port: number, why: string): void {
    if (this.#refused.get(port) === why) return
    this.#refused.set(port, why)
    this.#log.warn({ port, err: why }, 'Listener not opened; hosts on this port are not served')
  }
}
