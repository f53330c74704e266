import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import { errorCode } from '../errors.js'
import type { Logger } from '../logger.js'
import type { Location } from '../routing/route-table.js'
import type { RouteTableStore } from '../routing/route-table-store.js'
import type { Target } from '../routing/target.js'
import { sendError, statusForError } from './error-response.js'
import { forwardHttp, type ForwardOutcome } from './forward-http.js'
import { UpgradeForwarder, headerObject } from './forward-upgrade.js'
import { isInternalAddress, upstreamRequestHeaders } from './forwarded-headers.js'

export interface ProxyServerOptions {
  host: string
  port: number
  trustDownstreamProxy: boolean
  accessLog: boolean
  requestHeadersTimeoutMs: number
  keepAliveTimeoutMs: number
  maxHeaderSize: number
  shutdownTimeoutMs: number
}

const MAX_ATTEMPTS = 5

/** Normalises a Host header: lower-case, no port, no trailing dot. Undefined when malformed. */
export function hostnameOf (host: string | undefined): string | undefined {
  if (host === undefined || host === '') return ''
  let h = host.trim().toLowerCase()
  if (h.startsWith('[')) {
    const end = h.indexOf(']')
    if (end < 0) return undefined
    return h.slice(0, end + 1)
  }
  const colon = h.indexOf(':')
  if (colon >= 0) {
    if (!/^\d*$/.test(h.slice(colon + 1))) return undefined
    h = h.slice(0, colon)
  }
  if (h.endsWith('.')) h = h.slice(0, -1)
  return /^[a-z0-9_.-]*$/.test(h) ? h : undefined
}

function upstreamPath (url: string, loc: Location): string {
  return loc.dest === '' ? url : loc.dest + url.slice(loc.path.length)
}

/** The data plane: node:http in, undici out; reads the route table once per request. */
export class ProxyServer {
  readonly #server: Server
  readonly #store: RouteTableStore
  readonly #options: ProxyServerOptions
  readonly #log: Logger
  readonly #access: Logger
  readonly #upgrades: UpgradeForwarder
  #inflight = 0
  #closing = false
  #port = 0

  constructor (store: RouteTableStore, options: ProxyServerOptions, log: Logger) {
    this.#store = store
    this.#options = options
    this.#log = log
    this.#access = log.child({ component: 'access' })
    this.#server = createServer({
      headersTimeout: options.requestHeadersTimeoutMs,
      requestTimeout: 300_000,
      keepAliveTimeout: options.keepAliveTimeoutMs,
      maxHeaderSize: options.maxHeaderSize,
      // Node checks header/request timeouts every 30 s by default; check every second.
      connectionsCheckingInterval: 1_000,
      noDelay: true
    }, (req, res) => { void this.#handle(req, res) })
    this.#server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => { this.#handleUpgrade(req, socket, head) })
    this.#upgrades = new UpgradeForwarder((err) => { this.#log.debug({ err: err.message }, 'Upgrade tunnel failed') })
  }

  get port (): number { return this.#port }
  get inflight (): number { return this.#inflight }

  async listen (): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject)
      this.#server.listen(this.#options.port, this.#options.host, () => {
        this.#server.off('error', reject)
        resolve()
      })
    })
    this.#port = (this.#server.address() as AddressInfo).port
    return this.#port
  }

  /** Stop accepting, let in-flight requests finish (bounded), then close every connection. */
  async stop (): Promise<void> {
    this.#closing = true
    const closed = new Promise<void>((resolve) => { this.#server.close(() => { resolve() }) })
    const deadline = Date.now() + this.#options.shutdownTimeoutMs
    while (this.#inflight > 0 && Date.now() < deadline) {
      this.#server.closeIdleConnections()
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    this.#server.closeAllConnections()
    this.#upgrades.close()
    await closed
  }

  // Private

  async #handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now()
    // Read once: req.socket is null once the client has gone.
    const remote = req.socket.remoteAddress ?? ''
    this.#inflight++
    if (this.#closing) res.shouldKeepAlive = false
    let target: Target | undefined
    let status = 0
    let bytes = 0
    let code: string | undefined
    try {
      const hostname = hostnameOf(req.headers.host)
      if (hostname === undefined) {
        status = 400; code = 'PROXY_ERR_BAD_REQUEST'
        sendError(res, status, code)
        return
      }
      const routes = this.#store.current.resolve(hostname)
      const loc = routes?.match(req.url ?? '/')
      if (routes === undefined || loc === undefined) {
        status = routes === undefined ? 503 : 404; code = 'PROXY_ERR_HOST_NOT_FOUND'
        sendError(res, status, code)
        return
      }
      if (loc.internalOnly && !isInternalAddress(remote)) {
        status = 403; code = 'PROXY_ERR_FORBIDDEN'
        sendError(res, status, code)
        return
      }
      const fwd = {
        path: upstreamPath(req.url ?? '/', loc),
        headers: upstreamRequestHeaders(req, {
          remoteAddress: remote, scheme: 'http', serverPort: this.#port, trustDownstreamProxy: this.#options.trustDownstreamProxy, upgrade: false
        }),
        hasBody: req.headers['content-length'] !== undefined ? req.headers['content-length'] !== '0' : req.headers['transfer-encoding'] !== undefined
      }
      let tried: Set<Target> | undefined
      let outcome: ForwardOutcome | undefined
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        target = loc.balancer.pick(tried)
        if (target === undefined) break
        outcome = await forwardHttp(req, res, target, fwd)
        if (outcome.kind !== 'retry') break
        this.#log.debug({ host: hostname, target: target.origin, err: errorCode(outcome.err) }, 'Retrying on another upstream')
        ;(tried ??= new Set()).add(target)
      }
      if (outcome === undefined) {
        status = 503; code = 'PROXY_ERR_NO_HEALTHY_TARGETS'
        sendError(res, status, code)
      } else if (outcome.kind === 'completed') {
        status = outcome.status; bytes = outcome.bytes
      } else if (outcome.kind === 'aborted') {
        status = outcome.status; bytes = outcome.bytes; code = outcome.err === undefined ? 'CLIENT_ABORTED' : errorCode(outcome.err)
      } else {
        status = statusForError(outcome.err); code = errorCode(outcome.err) ?? 'PROXY_ERR_UPSTREAM_CONNECT'
        sendError(res, status, code)
        this.#log.warn({ host: hostname, target: target?.origin, err: outcome.err.message, code }, 'Upstream request failed')
      }
    } catch (err) {
      status = 502; code = 'PROXY_ERR_INTERNAL'
      this.#log.error({ err }, 'Request handling failed')
      sendError(res, status, code)
    } finally {
      this.#inflight--
      if (this.#options.accessLog) {
        this.#access.info({
          host: req.headers.host, method: req.method, path: req.url, status, upstream: target?.name,
          durationMs: Math.round((performance.now() - started) * 10) / 10, bytes, remote, ...(code !== undefined ? { code } : {})
        })
      }
    }
  }

  #handleUpgrade (req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => { socket.destroy() })
    const reject = (status: number, text: string): void => {
      socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
    }
    const hostname = hostnameOf(req.headers.host)
    if (hostname === undefined) { reject(400, 'Bad Request'); return }
    const loc = this.#store.current.resolve(hostname)?.match(req.url ?? '/')
    if (loc === undefined) { reject(503, 'Service Unavailable'); return }
    const remote = req.socket.remoteAddress ?? ''
    if (loc.internalOnly && !isInternalAddress(remote)) { reject(403, 'Forbidden'); return }
    const target = loc.balancer.pick()
    if (target === undefined) { reject(503, 'Service Unavailable'); return }
    const headers = headerObject(upstreamRequestHeaders(req, {
      remoteAddress: remote, scheme: 'http', serverPort: this.#port, trustDownstreamProxy: this.#options.trustDownstreamProxy, upgrade: true
    }))
    if (this.#options.accessLog) this.#access.info({ host: req.headers.host, method: req.method, path: req.url, status: 101, upstream: target.name, remote })
    this.#upgrades.forward(req, socket, head, target, upstreamPath(req.url ?? '/', loc), headers)
  }
}
