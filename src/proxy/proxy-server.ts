import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createSecureServer, type Http2SecureServer, type IncomingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import type { SecureContext, TLSSocket } from 'node:tls'
import { randomUUID } from 'node:crypto'
import { InvalidOptionError, errorCode } from '../errors.js'
import type { Logger } from '../logger.js'
import type { HttpsMethod } from '../routing/desired-state.js'
import type { HostRoutes, Location } from '../routing/route-table.js'
import type { RouteTableStore } from '../routing/route-table-store.js'
import type { Target } from '../routing/target.js'
import type { CertificateStore } from '../tls/certificate-store.js'
import { TLS_POLICY } from '../tls/policy.js'
import { ACME_PREFIX, serveAcmeChallenge } from './acme-challenge.js'
import type { BasicAuthStore } from './basic-auth.js'
import { sendError, statusForError } from './error-response.js'
import { forwardHttp, type ForwardOutcome } from './forward-http.js'
import { H2Request, H2Response } from './h2-exchange.js'
import { UpgradeForwarder, headerObject } from './forward-upgrade.js'
import { isInternalAddress, upstreamRequestHeaders } from './forwarded-headers.js'

export interface TlsOptions {
  port: number
  certs: CertificateStore
  defaultHttpsMethod: HttpsMethod
  /** nginx-proxy's HSTS default; 'off' disables. */
  defaultHsts: string
}

export interface ProxyServerOptions {
  host: string
  port: number
  trustDownstreamProxy: boolean
  accessLog: boolean
  requestHeadersTimeoutMs: number
  keepAliveTimeoutMs: number
  maxHeaderSize: number
  shutdownTimeoutMs: number
  tls?: TlsOptions | undefined
  auth?: BasicAuthStore | undefined
  /** acme-companion's html volume; challenges are served from it over plain HTTP. */
  htmlDir?: string | undefined
  /** X-Request-ID: passed through when present, generated when absent (default on). */
  requestIds?: boolean
  observer?: RequestObserver | undefined
}

/** Told about every answered request (metrics, traffic stats); `host` is the matched route's host. */
export interface RequestObserver {
  requestCompleted (host: string, status: number, upstream: string | undefined, durationMs: number): void
}

const UNMATCHED_HOST = '(unmatched)'

function requestIdOf (req: IncomingMessage): string {
  const given = req.headers['x-request-id']
  if (typeof given === 'string' && given.length > 0 && given.length <= 200 && /^[\x21-\x7e]+$/.test(given)) return given
  return randomUUID().replaceAll('-', '')
}

type Scheme = 'http' | 'https'
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

/** The data plane: node:http (and HTTP/2 over TLS) in, undici out; the table is read once per request. */
export class ProxyServer {
  readonly #http: Server
  readonly #https: Http2SecureServer | undefined
  readonly #store: RouteTableStore
  readonly #options: ProxyServerOptions
  readonly #log: Logger
  readonly #access: Logger
  readonly #upgrades: UpgradeForwarder
  /** The HTTPS listener's connections: HTTP/2 sessions and HTTP/1.1-over-TLS sockets, for stop(). */
  readonly #h2Sessions = new Set<ServerHttp2Session>()
  readonly #tlsSockets = new Set<TLSSocket>()
  #inflight = 0
  #closing = false
  #port = 0
  #httpsPort = 0

  constructor (store: RouteTableStore, options: ProxyServerOptions, log: Logger) {
    this.#store = store
    this.#options = options
    this.#log = log
    this.#access = log.child({ component: 'access' })
    const serverOptions = {
      headersTimeout: options.requestHeadersTimeoutMs,
      requestTimeout: 300_000,
      keepAliveTimeout: options.keepAliveTimeoutMs,
      maxHeaderSize: options.maxHeaderSize,
      // Node checks header/request timeouts every 30 s by default; check every second.
      connectionsCheckingInterval: 1_000,
      noDelay: true
    }
    this.#http = createServer(serverOptions, (req, res) => { void this.#handle(req, res, 'http') })
    this.#http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => { this.#handleUpgrade(req, socket, head, 'http') })
    this.#upgrades = new UpgradeForwarder((err) => { this.#log.debug({ err: err.message }, 'Upgrade tunnel failed') })
    const tls = options.tls
    if (tls !== undefined) {
      this.#https = createSecureServer({
        ...TLS_POLICY,
        allowHTTP1: true,
        maxSessionMemory: 64,
        noDelay: true,
        SNICallback: (servername, cb) => { cb(null, this.#contextFor(servername, tls.certs)) }
      })
      // HTTP/1.1 over TLS (ALPN http/1.1, or none) arrives as 'request'. Adding that listener makes
      // Node put its HTTP/2 compatibility layer on 'stream' as well; it is taken off again, and
      // HTTP/2 streams come to #handle as H2Request/H2Response (see h2-exchange.ts for why).
      this.#https.on('request', (req, res) => { void this.#handle(req as unknown as IncomingMessage, res as unknown as ServerResponse, 'https') })
      this.#https.removeAllListeners('stream')
      this.#https.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, _flags: number, rawHeaders: string[]) => { this.#handleStream(stream, headers, rawHeaders) })
      this.#https.on('session', (session: ServerHttp2Session) => {
        this.#h2Sessions.add(session)
        session.once('close', () => { this.#h2Sessions.delete(session) })
      })
      this.#https.on('secureConnection', (socket: TLSSocket) => {
        if (socket.alpnProtocol === 'h2') return
        this.#tlsSockets.add(socket)
        socket.once('close', () => { this.#tlsSockets.delete(socket) })
      })
      this.#https.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => { this.#handleUpgrade(req, socket, head, 'https') })
      this.#https.setTimeout(options.keepAliveTimeoutMs)
      // HTTP/1.1 over TLS goes through node:http's connection handling, which reads its limits from
      // the server object (Node sets 60 s / 300 s / a 30 s check for allowHTTP1): the same limits
      // as the plain HTTP listener, so a slow-headers client gets its 408 on 443 too.
      Object.assign(this.#https, {
        headersTimeout: options.requestHeadersTimeoutMs,
        requestTimeout: serverOptions.requestTimeout,
        keepAliveTimeout: options.keepAliveTimeoutMs,
        connectionsCheckingInterval: serverOptions.connectionsCheckingInterval
      })
      const refreshDefault = (): void => {
        const d = tls.certs.get('default')
        if (d !== undefined) this.#https?.setSecureContext({ ...TLS_POLICY, cert: d.cert, key: d.key })
      }
      tls.certs.onReloaded(refreshDefault)
      refreshDefault()
    }
  }

  get port (): number { return this.#port }
  get httpsPort (): number { return this.#httpsPort }
  get inflight (): number { return this.#inflight }

  async listen (): Promise<{ port: number, httpsPort: number | undefined }> {
    this.#port = await listenOn(this.#http, this.#options.port, this.#options.host, 'HTTP')
    if (this.#https !== undefined && this.#options.tls !== undefined) {
      this.#httpsPort = await listenOn(this.#https, this.#options.tls.port, this.#options.host, 'HTTPS')
    }
    return { port: this.#port, httpsPort: this.#https === undefined ? undefined : this.#httpsPort }
  }

  /** Stop accepting, let in-flight requests finish (bounded), then close every connection. */
  async stop (): Promise<void> {
    this.#closing = true
    const closed = Promise.all([this.#http, this.#https].filter((s) => s !== undefined).map(async (s) => {
      await new Promise<void>((resolve) => { s.close(() => { resolve() }) })
    }))
    // HTTP/2: GOAWAY now; streams in flight finish, then each session closes. A browser keeps an
    // idle session open indefinitely, which would otherwise keep the process alive past SIGTERM.
    for (const session of this.#h2Sessions) session.close()
    const deadline = Date.now() + this.#options.shutdownTimeoutMs
    while (this.#inflight > 0 && Date.now() < deadline) {
      this.#http.closeIdleConnections()
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    this.#http.closeAllConnections()
    for (const session of this.#h2Sessions) session.destroy()
    for (const socket of this.#tlsSockets) socket.destroy()
    this.#upgrades.close()
    let timer: NodeJS.Timeout | undefined
    await Promise.race([closed, new Promise((resolve) => { timer = setTimeout(resolve, 1_000) })])
    clearTimeout(timer)
  }

  // Private

  #contextFor (servername: string, certs: CertificateStore): SecureContext | undefined {
    const host = servername.toLowerCase()
    const routes = this.#store.current.lookup(host)
    return (certs.certificateFor(host, routes?.tls.certName) ?? certs.get('default'))?.context
  }

  /** nginx-proxy: a host is served over HTTPS only when it has a certificate of its own. */
  #httpsMethodFor (hostname: string, routes: HostRoutes): HttpsMethod | undefined {
    const tls = this.#options.tls
    if (tls === undefined || tls.certs.certificateFor(hostname, routes.tls.certName) === undefined) return undefined
    return routes.tls.httpsMethod ?? tls.defaultHttpsMethod
  }

  /** nginx-proxy's server blocks per HTTPS_METHOD: which scheme serves a host, and the redirect. */
  #schemePolicy (scheme: Scheme, routes: HostRoutes | undefined, httpsMethod: HttpsMethod | undefined, hostname: string, url: string):
  { kind: 'serve' } | { kind: 'unavailable' } | { kind: 'redirect', location: string } {
    if ((scheme === 'http' && httpsMethod === 'nohttp') || (scheme === 'https' && routes !== undefined && httpsMethod === undefined) || (scheme === 'https' && httpsMethod === 'nohttps')) {
      return { kind: 'unavailable' }
    }
    if (scheme === 'http' && httpsMethod === 'redirect') {
      const port = this.#httpsPort === 443 ? '' : `:${this.#httpsPort}`
      return { kind: 'redirect', location: `https://${hostname}${port}${url}` }
    }
    return { kind: 'serve' }
  }

  #handleStream (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, rawHeaders: string[]): void {
    // A reset by the client (or a write after it) is that stream's end, never the process's.
    stream.on('error', () => {})
    if (headers[':method'] === 'CONNECT') {
      // No extended CONNECT (RFC 8441) is advertised, so no tunnel can be asked for.
      stream.respond({ ':status': 405 }, { endStream: true })
      return
    }
    void this.#handle(new H2Request(stream, headers, rawHeaders) as unknown as IncomingMessage, new H2Response(stream) as unknown as ServerResponse, 'https')
  }

  async #handle (req: IncomingMessage, res: ServerResponse, scheme: Scheme): Promise<void> {
    const started = performance.now()
    // Read once: req.socket is null once the client has gone.
    const remote = req.socket.remoteAddress ?? ''
    this.#inflight++
    if (this.#closing) res.shouldKeepAlive = false
    let target: Target | undefined
    let status = 0
    let bytes = 0
    let code: string | undefined
    let routeHost = UNMATCHED_HOST
    const authority = req.headers.host ?? (req.headers[':authority'] as string | undefined)
    const requestId = this.#options.requestIds === false ? undefined : requestIdOf(req)
    const idHeader: Record<string, string> = requestId === undefined ? {} : { 'x-request-id': requestId }
    try {
      const hostname = hostnameOf(authority)
      if (hostname === undefined) {
        status = 400; code = 'PROXY_ERR_BAD_REQUEST'
        sendError(res, status, code, idHeader)
        return
      }
      const url = req.url ?? '/'
      const routes = this.#store.current.resolve(hostname)
      if (scheme === 'http' && this.#options.htmlDir !== undefined && url.startsWith(ACME_PREFIX)) {
        status = await serveAcmeChallenge(this.#options.htmlDir, url, res)
        return
      }
      const httpsMethod = routes === undefined ? undefined : this.#httpsMethodFor(hostname, routes)
      const policy = this.#schemePolicy(scheme, routes, httpsMethod, hostname, url)
      if (policy.kind === 'unavailable') {
        status = 503; code = 'PROXY_ERR_HOST_NOT_FOUND'
        sendError(res, status, code, idHeader)
        return
      }
      if (policy.kind === 'redirect') {
        status = 301
        res.writeHead(301, { location: policy.location, 'content-length': 0, ...idHeader }).end()
        return
      }
      const loc = routes?.match(url)
      if (routes === undefined || loc === undefined) {
        status = routes === undefined ? 503 : 404; code = 'PROXY_ERR_HOST_NOT_FOUND'
        sendError(res, status, code, idHeader)
        return
      }
      routeHost = loc.host
      if (loc.internalOnly && !isInternalAddress(remote)) {
        status = 403; code = 'PROXY_ERR_FORBIDDEN'
        sendError(res, status, code, idHeader)
        return
      }
      const auth = this.#options.auth?.check(loc.host, req.headers.authorization)
      if (auth === false) {
        status = 401; code = 'PROXY_ERR_UNAUTHORIZED'
        res.writeHead(401, { 'www-authenticate': `Basic realm="Restricted ${loc.host}"`, 'content-type': 'text/plain', 'content-length': 17, ...idHeader }).end('401 Unauthorized\n')
        return
      }
      const hsts = routes.tls.hsts ?? this.#options.tls?.defaultHsts ?? 'off'
      const h2 = req.httpVersionMajor === 2
      const headers = upstreamRequestHeaders(req, {
        remoteAddress: remote, scheme, serverPort: scheme === 'https' ? this.#httpsPort : this.#port, trustDownstreamProxy: this.#options.trustDownstreamProxy, upgrade: false
      })
      if (requestId !== undefined) headers.push('X-Request-ID', requestId)
      const fwd = {
        path: upstreamPath(url, loc),
        headers,
        hasBody: h2
          ? !(req as unknown as H2Request).stream.endAfterHeaders
          : req.headers['content-length'] !== undefined ? req.headers['content-length'] !== '0' : req.headers['transfer-encoding'] !== undefined,
        extraResponseHeaders: [
          ...(requestId !== undefined ? ['X-Request-ID', requestId] : []),
          ...(scheme === 'https' && httpsMethod === 'redirect' && hsts !== 'off' ? ['Strict-Transport-Security', hsts] : [])
        ]
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
        sendError(res, status, code, idHeader)
      } else if (outcome.kind === 'completed') {
        status = outcome.status; bytes = outcome.bytes
      } else if (outcome.kind === 'aborted') {
        // 499 (nginx's "client closed request") when the client left before the response began.
        status = outcome.status === 0 ? 499 : outcome.status; bytes = outcome.bytes; code = outcome.err === undefined ? 'CLIENT_ABORTED' : errorCode(outcome.err)
      } else {
        status = statusForError(outcome.err); code = errorCode(outcome.err) ?? 'PROXY_ERR_UPSTREAM_CONNECT'
        sendError(res, status, code, idHeader)
        this.#log.warn({ host: hostname, target: target?.origin, err: outcome.err.message, code }, 'Upstream request failed')
      }
    } catch (err) {
      status = 502; code = 'PROXY_ERR_INTERNAL'
      this.#log.error({ err }, 'Request handling failed')
      sendError(res, status, code, idHeader)
    } finally {
      this.#inflight--
      const durationMs = performance.now() - started
      this.#options.observer?.requestCompleted(routeHost, status, target?.name, durationMs)
      if (this.#options.accessLog) {
        this.#access.info({
          requestId, host: authority, method: req.method, path: req.url, status, upstream: target?.name,
          durationMs: Math.round(durationMs * 10) / 10, bytes, remote, ...(scheme === 'https' ? { scheme } : {}), ...(code !== undefined ? { code } : {})
        })
      }
    }
  }

  #handleUpgrade (req: IncomingMessage, socket: Duplex, head: Buffer, scheme: Scheme): void {
    socket.on('error', () => { socket.destroy() })
    const reject = (status: number, text: string): void => {
      socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
    }
    const hostname = hostnameOf(req.headers.host)
    if (hostname === undefined) { reject(400, 'Bad Request'); return }
    const routes = this.#store.current.resolve(hostname)
    const url = req.url ?? '/'
    // The same HTTPS_METHOD rules as plain requests: a ws:// handshake on a redirecting host gets
    // the 301 (as from nginx-proxy), and a host not served on this scheme is unavailable.
    const policy = this.#schemePolicy(scheme, routes, routes === undefined ? undefined : this.#httpsMethodFor(hostname, routes), hostname, url)
    if (policy.kind === 'redirect') {
      socket.end(`HTTP/1.1 301 Moved Permanently\r\nLocation: ${policy.location}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
      return
    }
    const loc = routes?.match(url)
    if (policy.kind === 'unavailable' || routes === undefined || loc === undefined) { reject(503, 'Service Unavailable'); return }
    const remote = req.socket.remoteAddress ?? ''
    if (loc.internalOnly && !isInternalAddress(remote)) { reject(403, 'Forbidden'); return }
    if (this.#options.auth?.check(loc.host, req.headers.authorization) === false) {
      socket.end(`HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm="Restricted ${loc.host}"\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
      return
    }
    const target = loc.balancer.pick()
    if (target === undefined) { reject(503, 'Service Unavailable'); return }
    const headers = headerObject(upstreamRequestHeaders(req, {
      remoteAddress: remote, scheme, serverPort: scheme === 'https' ? this.#httpsPort : this.#port, trustDownstreamProxy: this.#options.trustDownstreamProxy, upgrade: true
    }))
    if (this.#options.accessLog) this.#access.info({ host: req.headers.host, method: req.method, path: req.url, status: 101, upstream: target.name, remote })
    this.#upgrades.forward(req, socket, head, target, upstreamPath(url, loc), headers)
  }
}

async function listenOn (server: Server | Http2SecureServer, port: number, host: string, what: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    const failed = (err: NodeJS.ErrnoException): void => {
      const hint = what === 'HTTPS' ? ' (choose another with --https-port N, or --https-port off)' : ' (choose another with --port N)'
      reject(new InvalidOptionError(`cannot listen for ${what} on ${host}:${port}: ${err.code ?? err.message}${hint}`))
    }
    server.once('error', failed)
    server.listen(port, host, () => {
      server.off('error', failed)
      resolve()
    })
  })
  return (server.address() as AddressInfo).port
}
