import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { Http2SecureServer } from 'node:http2'
import type { AddressInfo, Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { TLSSocket } from 'node:tls'
import { InvalidOptionError, errorCode } from '../errors.js'
import type { Logger } from '../logger.js'
import type { Location } from '../routing/route-table.js'
import type { RouteTableStore } from '../routing/route-table-store.js'
import type { Target } from '../routing/target.js'
import { AccessLog } from './access-log.js'
import { answerDecision, type AnswerContext, type RequestRecord } from './answer-decision.js'
import { sendError, statusForError } from './error-response.js'
import { forwardHttp, type ForwardOutcome } from './forward-http.js'
import type { H2Request } from './h2-exchange.js'
import { HttpsFront, clientCertFacts } from './https-front.js'
import { RawResponse, UpgradeForwarder } from './forward-upgrade.js'
import { ListenerManager } from './listener-manager.js'
import { DEFAULT_PROXY_LIMITS, type ProxyLimits, type ProxyServerOptions } from './proxy-options.js'
import { readProxyHeader } from './proxy-protocol-socket.js'
import { upstreamRequestHeaders } from './forwarded-headers.js'
import { runInRequest } from './request-context.js'
import { requestIdOf } from './request-id.js'
import { RequestRouter, type RequestFacts, type Scheme } from './request-router.js'
import { HoldQueue } from '../traffic/hold-queue.js'
import { EMPTY_POLICY } from '../traffic/policy.js'
import { CanarySplit } from '../traffic/canary.js'

// node:http is taken with process.getBuiltinModule, not an ESM import: an ESM import of a builtin
// reads every export, and node:http's WebSocket/CloseEvent/MessageEvent getters then load Node's
// bundled undici with webstreams, tls, http2 and zlib: 14 MB of RSS in every process (46.7 vs 60.7
// MB for a bare server, bench/memory-floor.ts). The types are imported as types only.
const { createServer } = process.getBuiltinModule('node:http')

export type { TlsOptions } from './https-front.js'
export { DEFAULT_PROXY_LIMITS, type ProxyLimits, type ProxyServerOptions, type RequestObserver } from './proxy-options.js'

/** The metrics host label of requests no route matched: never the client's Host (bounded labels). */
export const UNMATCHED_HOST = '(unmatched)'

const MAX_ATTEMPTS = 5

/** The data plane: node:http (and HTTP/2 over TLS) in, undici out; the table is read once per request. */
export class ProxyServer {
  readonly #http: Server
  /** The HTTPS listener's TLS side (ClientHello screen, profiles, HTTP/2 sessions); undefined without TLS. */
  readonly #front: HttpsFront | undefined
  readonly #store: RouteTableStore
  readonly #options: ProxyServerOptions
  readonly #log: Logger
  /** One preformatted JSON line per request, batched into the logger's destination (src/proxy/access-log.ts). */
  readonly #access: AccessLog
  readonly #upgrades: UpgradeForwarder
  /** Ports hosts ask for besides --port/--https-port (EXTERNAL_*_PORT), following the table. */
  readonly #listeners: ListenerManager
  #unsubscribe: (() => void) | undefined
  readonly #router: RequestRouter
  readonly #limits: ProxyLimits
  /** Requests held for paused hosts (hold-queue.ts), driven by the policy snapshot. */
  readonly #holds: HoldQueue
  /** The proxy's own answers to decisions other than forward (answer-decision.ts). */
  readonly #answers: AnswerContext
  /** Which side of a canary split each client is on (traffic/canary.ts). */
  readonly #canary = new CanarySplit()
  #unsubscribePolicy: (() => void) | undefined
  #inflight = 0
  #closing = false
  #port = 0
  #httpsPort = 0

  constructor (store: RouteTableStore, options: ProxyServerOptions, log: Logger) {
    this.#store = store
    this.#options = options
    this.#log = log
    this.#access = new AccessLog(log)
    const limits = { ...DEFAULT_PROXY_LIMITS, ...options.limits }
    this.#limits = limits
    const tls = options.tls
    this.#router = new RequestRouter(store, { tls, auth: options.auth, htmlDir: options.htmlDir, acme: options.acme, httpsPort: () => this.#httpsPort, httpPort: () => this.#port, vhost: options.vhost, defaultRoot: options.defaultRoot, debugEndpoint: options.debugEndpoint?.enabled, policy: options.policy })
    const policy = options.policy
    this.#holds = new HoldQueue(() => policy?.current ?? EMPTY_POLICY)
    this.#unsubscribePolicy = policy?.onChanged((snapshot) => { this.#holds.sync(snapshot) })
    this.#answers = { router: this.#router, holds: this.#holds, options, clientIdleTimeoutMs: limits.clientIdleTimeoutMs }
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
    this.#upgrades = new UpgradeForwarder({ handshakeTimeoutMs: limits.upgradeTimeoutMs, idleTimeoutMs: limits.tunnelIdleTimeoutMs })
    this.#listeners = new ListenerManager({
      host: options.host,
      defaultPorts: () => ({ http: this.#port, https: this.#front === undefined ? undefined : this.#httpsPort }),
      https: tls !== undefined,
      maxConnections: limits.maxClientConnections,
      listenFlags: options.listenFlags,
      accept: (scheme, socket) => { (scheme === 'https' ? this.#front?.server : this.#http)?.emit('connection', socket) }
    }, log)
    this.#listenHttp1(this.#http, 'http', limits)
    if (options.proxyProtocol === true) this.#readProxyHeaders(this.#http)
    this.#front = tls === undefined
      ? undefined
      : new HttpsFront({
        tls,
        requestHeadersTimeoutMs: options.requestHeadersTimeoutMs,
        keepAliveTimeoutMs: options.keepAliveTimeoutMs,
        requestTimeoutMs: serverOptions.requestTimeout,
        connectionsCheckingIntervalMs: serverOptions.connectionsCheckingInterval,
        h2MaxConcurrentStreams: limits.h2MaxConcurrentStreams,
        clientIdleTimeoutMs: limits.clientIdleTimeoutMs,
        proxyProtocol: options.proxyProtocol,
        ticketKeys: options.ticketKeys
      }, {
        handle: (req, res) => this.#handle(req, res, 'https'),
        listenHttp1: (server) => { this.#listenHttp1(server, 'https', limits) }
      }, store, this.#router, log)
    if (this.#front !== undefined && options.proxyProtocol === true) this.#readProxyHeaders(this.#front.server)
  }

  get port (): number { return this.#port }
  get httpsPort (): number { return this.#httpsPort }
  get inflight (): number { return this.#inflight }
  /** Requests held now for a paused host. */
  held (host: string): number { return this.#holds.held(host) }
  /** Extra ports listening for hosts' EXTERNAL_*_PORT. */
  get externalPorts (): { http: number[], https: number[] } { return this.#listeners.ports }

  async listen (): Promise<{ port: number, httpsPort: number | undefined }> {
    const flags = this.#options.listenFlags
    this.#port = await listenOn(this.#http, this.#options.port, this.#options.host, 'HTTP', flags)
    if (this.#front !== undefined && this.#options.tls !== undefined) {
      this.#httpsPort = await listenOn(this.#front.server, this.#options.tls.port, this.#options.host, 'HTTPS', flags)
    }
    // Extra ports follow every table from now on; the current one's are open before listen() returns.
    this.#unsubscribe = this.#store.onTableSwapped((table) => { void this.#listeners.reconcile(table) })
    await this.#listeners.reconcile(this.#store.current)
    return { port: this.#port, httpsPort: this.#front === undefined ? undefined : this.#httpsPort }
  }

  /** Stop accepting, let in-flight requests finish (bounded), then close every connection. */
  async stop (): Promise<void> {
    this.#closing = true
    this.#unsubscribe?.()
    this.#unsubscribePolicy?.()
    // Held requests would wait out their max hold: each gets its 503 with Retry-After now.
    this.#holds.expireAll()
    await this.#listeners.stop()
    const closed = Promise.all([this.#http, this.#front?.server].filter((s) => s !== undefined).map(async (s) => {
      await new Promise<void>((resolve) => { s.close(() => { resolve() }) })
    }))
    // HTTP/2: GOAWAY now; streams in flight finish, then each session closes. A browser keeps an
    // idle session open indefinitely, which would otherwise keep the process alive past SIGTERM.
    this.#front?.closeSessions()
    const deadline = Date.now() + this.#options.shutdownTimeoutMs
    while (this.#inflight > 0 && Date.now() < deadline) {
      this.#http.closeIdleConnections()
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    this.#http.closeAllConnections()
    this.#front?.destroyConnections()
    this.#upgrades.close()
    await this.#front?.closeProfileServers()
    let timer: NodeJS.Timeout | undefined
    await Promise.race([closed, new Promise((resolve) => { timer = setTimeout(resolve, 1_000) })])
    clearTimeout(timer)
  }

  // Private

  /**
   * ENABLE_PROXY_PROTOCOL: the PROXY header is read before the server's own 'connection' listener
   * (node:http's parser, or the ClientHello screen) sees a byte; connections without one are closed.
   */
  #readProxyHeaders (server: Server | Http2SecureServer): void {
    const listeners = server.listeners('connection') as Array<(socket: Socket) => void>
    if (listeners.length !== 1) throw new Error('unexpected server connection listeners')
    const next = listeners[0]!
    server.removeAllListeners('connection')
    server.on('connection', (socket: Socket) => {
      readProxyHeader(socket, this.#options.requestHeadersTimeoutMs, (s) => {
        next.call(server, s)
        s.resume()
      }, (reason) => { this.#log.debug({ reason, remote: socket.remoteAddress }, 'Connection without a valid PROXY protocol header closed') })
    })
  }

  /** What both listeners do for HTTP/1.1: upgrades, CONNECT, Expect, connection limits. */
  #listenHttp1 (server: Server | Http2SecureServer, scheme: Scheme, limits: ProxyLimits): void {
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => { this.#handleRawSocket(req, socket, head, scheme) })
    // Without a listener node:http drops a CONNECT's connection without a word; nginx answers 400.
    server.on('connect', (req: IncomingMessage, socket: Duplex, head: Buffer) => { this.#handleRawSocket(req, socket, head, scheme) })
    // 100 Continue is sent by #handle once the route and access rules passed, not by node:http at once.
    server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => { void this.#handle(req, res, scheme) })
    server.maxConnections = limits.maxClientConnections
    if (scheme === 'http') (server as Server).timeout = limits.clientIdleTimeoutMs
  }

  /** Upgrade handshakes and CONNECT: the socket is ours; answers are written on it raw. */
  #handleRawSocket (req: IncomingMessage, socket: Duplex, head: Buffer, scheme: Scheme): void {
    // Nothing may be read (and lost) before the tunnel pipes it.
    socket.pause()
    socket.on('error', () => { socket.destroy() })
    const res = new RawResponse(socket)
    void this.#handle(req, res as unknown as ServerResponse, scheme, { socket, head })
  }

  #handle (req: IncomingMessage, res: ServerResponse, scheme: Scheme, upgrade?: { socket: Duplex, head: Buffer }): Promise<void> {
    const requestId = this.#options.requestIds === false ? undefined : requestIdOf(req)
    return runInRequest(requestId, () => this.#respond(req, res, scheme, upgrade, requestId))
  }

  async #respond (req: IncomingMessage, res: ServerResponse, scheme: Scheme, upgrade: { socket: Duplex, head: Buffer } | undefined, requestId: string | undefined): Promise<void> {
    const started = performance.now()
    // Read once: req.socket is null once the client has gone. An IPv4 client of a dual-stack (::)
    // listener reads as nginx's separate IPv4 listener shows it: without ::ffff:.
    const remote = clientAddress(req.socket?.remoteAddress)
    const localPort = req.socket?.localPort
    this.#inflight++
    if (this.#closing) res.shouldKeepAlive = false
    const rec: RequestRecord = { status: 0, bytes: 0, code: undefined, reason: undefined, routeHost: UNMATCHED_HOST, target: undefined }
    const h2 = req.httpVersionMajor === 2
    const idHeader: Record<string, string> = requestId === undefined ? {} : { 'x-request-id': requestId }
    try {
      const contentLength = req.headers['content-length']
      const facts: RequestFacts = {
        method: req.method ?? 'GET',
        target: req.url ?? '/',
        hostFields: hostFields(req.rawHeaders, h2),
        httpVersion: h2 ? '2' : req.httpVersionMinor === 0 ? '1.0' : '1.1',
        remote,
        authorization: req.headers.authorization,
        contentLength: contentLength === undefined ? undefined : Number(contentLength),
        upgrade: upgrade !== undefined && req.method !== 'CONNECT',
        localPort,
        clientCert: scheme === 'https' ? () => clientCertFacts(h2 ? (req as unknown as H2Request).stream.session?.socket as TLSSocket | undefined : req.socket as TLSSocket | null) : undefined
      }
      let decision = this.#router.decide(facts, scheme)
      if (decision instanceof Promise) decision = await decision
      if (decision.kind !== 'forward') {
        const forward = await answerDecision(this.#answers, decision, facts, { req, res, scheme, upgrade, h2, idHeader }, rec)
        if (forward === undefined) return
        decision = forward
      }
      const loc = decision.loc
      rec.routeHost = loc.host
      const vhost = decision.vhost
      // The proxy's own errors for this location carry vhost.d's `add_header ... always` fields.
      // nginx-proxy's HSTS is `add_header ... always` as well: on 502/503/504 too.
      const errorHeaders = decision.always === undefined ? idHeader : { ...decision.always, ...idHeader }
      const headers = upstreamRequestHeaders(req, {
        remoteAddress: remote,
        scheme,
        serverPort: localPort ?? (scheme === 'https' ? this.#httpsPort : this.#port),
        trustDownstreamProxy: this.#options.trustDownstreamProxy,
        upgrade: upgrade !== undefined,
        authority: decision.authority,
        proxyProtocol: this.#options.proxyProtocol
      })
      if (requestId !== undefined) headers.push('X-Request-ID', requestId)
      // Canary (issue 13): the client's side of the split; the other side's targets are not picked.
      const split = this.#canary.choose(loc.balancer, this.#options.policy?.forHost(loc.host)?.canary, typeof req.headers.cookie === 'string' ? req.headers.cookie : undefined, remote)
      if (upgrade !== undefined) {
        const target = rec.target = loc.balancer.pick(split?.exclude, remote)
        if (target === undefined) {
          ({ status: rec.status, code: rec.code } = noTarget(loc))
          sendError(res, rec.status, rec.code, errorHeaders)
          return
        }
        const tunnel = await this.#upgrades.forward(req, upgrade.socket, upgrade.head, target, decision.upstreamPath, headers, vhost?.readTimeoutMs)
        if (tunnel.kind === 'failed') {
          rec.status = statusForError(tunnel.err); rec.code = errorCode(tunnel.err) ?? 'PROXY_ERR_UPSTREAM_CONNECT'
          sendError(res, rec.status, rec.code, errorHeaders)
        } else {
          rec.status = tunnel.kind === 'upgraded' ? 101 : tunnel.status
        }
        return
      }
      const hasBody = h2
        ? !(req as unknown as H2Request).stream.endAfterHeaders
        : contentLength !== undefined ? contentLength !== '0' : req.headers['transfer-encoding'] !== undefined
      // Expect: 100-continue is answered only now that the route and access rules passed.
      if (hasBody && req.headers.expect !== undefined) {
        if (h2) (req as unknown as H2Request).stream.additionalHeaders({ ':status': 100 })
        else res.writeContinue()
      }
      const fwd = {
        path: decision.upstreamPath,
        headers,
        hasBody,
        maxBodyBytes: decision.maxBodyBytes,
        // Appended beside the app's own Set-Cookie fields; on every status, so the client stays on its side.
        addHeaders: split?.setCookie === undefined ? vhost?.addHeaders : [...(vhost?.addHeaders ?? []), { name: 'Set-Cookie', value: split.setCookie, always: true }],
        readTimeoutMs: vhost?.readTimeoutMs,
        sendTimeoutMs: vhost?.sendTimeoutMs,
        connectTimeoutMs: vhost?.connectTimeoutMs,
        bodyTimeoutMs: this.#limits.clientIdleTimeoutMs,
        extraResponseHeaders: responseFields(requestId, decision.hsts)
      }
      let tried: Set<Target> | undefined = split === undefined ? undefined : new Set(split.exclude)
      let outcome: ForwardOutcome | undefined
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const target = rec.target = loc.balancer.pick(tried, remote)
        if (target === undefined) break
        outcome = await forwardHttp(req, res, target, fwd)
        if (outcome.kind !== 'retry') break
        this.#log.debug({ host: decision.hostname, target: target.origin, err: errorCode(outcome.err) }, 'Retrying on another upstream')
        ;(tried ??= new Set()).add(target)
      }
      if (outcome === undefined) {
        ({ status: rec.status, code: rec.code } = noTarget(loc))
        sendError(res, rec.status, rec.code, errorHeaders)
      } else if (outcome.kind === 'completed') {
        rec.status = outcome.status; rec.bytes = outcome.bytes
      } else if (outcome.kind === 'aborted') {
        // 499 (nginx's "client closed request") when the client left before the response began.
        rec.status = outcome.status === 0 ? 499 : outcome.status; rec.bytes = outcome.bytes; rec.code = outcome.err === undefined ? 'CLIENT_ABORTED' : errorCode(outcome.err)
      } else {
        rec.status = statusForError(outcome.err); rec.code = errorCode(outcome.err) ?? 'PROXY_ERR_UPSTREAM_CONNECT'
        sendError(res, rec.status, rec.code, errorHeaders)
        if (rec.status >= 500) this.#log.warn({ host: decision.hostname, target: rec.target?.origin, err: outcome.err.message, code: rec.code }, 'Upstream request failed')
      }
    } catch (err) {
      // A bug in one request's handling answers that request (or closes it), nothing else.
      rec.status = 500; rec.code = 'PROXY_ERR_INTERNAL'
      this.#log.error({ err, requestId }, 'Request handling failed')
      try { sendError(res, rec.status, rec.code, idHeader) } catch { res.destroy() }
    } finally {
      this.#inflight--
      const durationMs = performance.now() - started
      const { status, code, reason, bytes, target } = rec
      this.#options.observer?.requestCompleted(rec.routeHost, status, target?.name, durationMs)
      if (this.#options.accessLog) {
        this.#access.write({
          requestId, host: req.headers.host ?? req.headers[':authority'] as string | undefined, method: req.method, path: req.url, status, upstream: target?.name, durationMs, bytes, remote, scheme, code, reason
        })
      }
    }
  }
}

/**
 * No target to send to: 503 while the route's containers are not ready; 502 when it has none it can
 * reach (all disconnected from the proxy's networks), as nginx-proxy's `server 127.0.0.1 down`.
 */
function noTarget (loc: Location): { status: number, code: string } {
  return loc.balancer.targets.length === 0
    ? { status: 502, code: 'PROXY_ERR_NO_REACHABLE_UPSTREAM' }
    : { status: 503, code: 'PROXY_ERR_NO_HEALTHY_TARGETS' }
}

/** The socket's peer as nginx shows it: an IPv4 client of a dual-stack listener without ::ffff:. */
function clientAddress (address: string | undefined): string {
  if (address === undefined) return ''
  // One character test for the usual case (no regex run per request).
  if (address.charCodeAt(0) !== 58 /* : */) return address
  return address.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '')
}

/** The proxy's own response fields on a forwarded response: X-Request-ID and HSTS. */
function responseFields (requestId: string | undefined, hsts: string | undefined): string[] {
  const out = requestId === undefined ? [] : ['X-Request-ID', requestId]
  if (hsts !== undefined) out.push('Strict-Transport-Security', hsts)
  return out
}

/** Host field lines as sent (HTTP/2: :authority first); node:http keeps only the first in req.headers. */
function hostFields (raw: string[], h2: boolean): string[] {
  const out: string[] = []
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!
    if (name.length === 4 ? name.toLowerCase() === 'host' : h2 && name === ':authority') {
      if (name === ':authority') out.unshift(raw[i + 1]!)
      else out.push(raw[i + 1]!)
    }
  }
  return out
}

async function listenOn (server: Server | Http2SecureServer, port: number, host: string, what: string, flags?: { reusePort: boolean, exclusive: boolean }): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    const failed = (err: NodeJS.ErrnoException): void => {
      const hint = what === 'HTTPS' ? ' (choose another with --https-port N, or --https-port off)' : ' (choose another with --port N)'
      reject(new InvalidOptionError(`cannot listen for ${what} on ${host}:${port}: ${err.code ?? err.message}${hint}`))
    }
    server.once('error', failed)
    server.listen({ port, host, ...flags }, () => {
      server.off('error', failed)
      resolve()
    })
  })
  return (server.address() as AddressInfo).port
}
