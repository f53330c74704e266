import type { IncomingMessage, ServerResponse } from 'node:http'
import { constants, createSecureServer, type Http2SecureServer, type Http2Session, type IncomingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2'
import type { Socket } from 'node:net'
import type { SecureContext, TLSSocket } from 'node:tls'
import { constants as cryptoConstants } from 'node:crypto'
import type { Logger } from '../logger.js'
import type { HostRoutes } from '../routing/route-table.js'
import type { RouteTableStore } from '../routing/route-table-store.js'
import type { CertificateStore } from '../tls/certificate-store.js'
import { DEFAULT_SSL_POLICY, policyOptions } from '../tls/policy.js'
import { ProfileContexts, type ClientCertFacts, type TlsProfile } from '../tls/tls-profile.js'
import { MAX_CLIENT_HELLO_BYTES, UNRECOGNIZED_NAME_ALERT, peekClientHello } from '../tls/client-hello.js'
import { H2Request, H2Response, type H2Peer } from './h2-exchange.js'
import { TlsProfileServers } from './tls-profile-servers.js'
import { adoptParentPeer } from './proxy-protocol-socket.js'
import type { RequestRouter, RouterTlsOptions } from './request-router.js'

// The HTTPS side of the proxy up to the request: the ClientHello screen, the certificate and TLS
// profile a handshake gets by SNI, ALPN per host, and the HTTP/2 sessions and HTTP/1.1-over-TLS
// sockets it holds open. Requests leave here for ProxyServer's request path.

const NO_PEER: H2Peer = { remoteAddress: undefined, localPort: undefined }

export interface TlsOptions extends RouterTlsOptions {
  port: number
}

export interface HttpsFrontOptions {
  tls: TlsOptions
  requestHeadersTimeoutMs: number
  keepAliveTimeoutMs: number
  /** node:http's own request limits, the same as the plain HTTP listener's. */
  requestTimeoutMs: number
  connectionsCheckingIntervalMs: number
  h2MaxConcurrentStreams: number
  clientIdleTimeoutMs: number
  proxyProtocol: boolean | undefined
  ticketKeys: Buffer | undefined
}

export interface HttpsFrontHandlers {
  /** An HTTP/1.1-over-TLS request, or an HTTP/2 stream as one. */
  handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>
  /** What every HTTPS server shares with the HTTP listener (upgrades, CONNECT, Expect, limits). */
  listenHttp1: (server: Http2SecureServer) => void
}

export class HttpsFront {
  readonly #options: HttpsFrontOptions
  readonly #handlers: HttpsFrontHandlers
  /** Read-only views: the table as it is now, and the router's per-host TLS settings. */
  readonly #store: Pick<RouteTableStore, 'current'>
  readonly #router: Pick<RequestRouter, 'hostTls' | 'routesFor'>
  readonly #log: Logger
  /** The listening server, built for the proxy-wide profile; undefined only while it is built. */
  #listening: Http2SecureServer | undefined
  /** The HTTPS servers per TLS profile (SSL_POLICY, client certificates); the proxy-wide one is #listening. */
  readonly #profileServers: TlsProfileServers
  readonly #baseProfile: TlsProfile
  readonly #profileContexts = new ProfileContexts()
  /** The HTTPS listener's connections: HTTP/2 sessions and HTTP/1.1-over-TLS sockets, for stop(). */
  readonly #h2Sessions = new Set<ServerHttp2Session>()
  readonly #tlsSockets = new Set<TLSSocket>()
  /** What a session's streams read of its socket, read once per session (session.socket is a Proxy). */
  readonly #sessionPeers = new WeakMap<Http2Session, H2Peer>()

  constructor (options: HttpsFrontOptions, handlers: HttpsFrontHandlers, store: Pick<RouteTableStore, 'current'>, router: Pick<RequestRouter, 'hostTls' | 'routesFor'>, log: Logger) {
    this.#options = options
    this.#handlers = handlers
    this.#store = store
    this.#router = router
    this.#log = log
    const tls = options.tls
    const base: TlsProfile = { policy: tls.sslPolicy ?? DEFAULT_SSL_POLICY, clientVerify: undefined }
    this.#baseProfile = base
    this.#profileServers = new TlsProfileServers((profile) => this.#buildHttpsServer(profile))
    const https = this.#profileServers.create(base)
    this.#listening = https
    if (options.ticketKeys !== undefined) https.setTicketKeys(options.ticketKeys)
    this.#screenHandshakes(https, tls.certs, options.requestHeadersTimeoutMs)
    const refreshDefault = (): void => {
      const d = tls.certs.get('default')
      if (d !== undefined) https.setSecureContext({ ...policyOptions(base.policy), cert: d.cert, key: d.key })
    }
    tls.certs.onReloaded(refreshDefault)
    refreshDefault()
  }

  /** The server that listens (the proxy-wide profile's); connections of other profiles are handed on from it. */
  get server (): Http2SecureServer { return this.#listening! }

  /** HTTP/2: GOAWAY now; streams in flight finish, then each session closes. */
  closeSessions (): void {
    for (const session of this.#h2Sessions) session.close()
  }

  /** Ends every HTTP/2 session and HTTP/1.1-over-TLS connection still open. */
  destroyConnections (): void {
    for (const session of this.#h2Sessions) session.destroy()
    for (const socket of this.#tlsSockets) socket.destroy()
  }

  /** Closes the servers of the other profiles (never listening); the listening one is closed by its owner. */
  async closeProfileServers (): Promise<void> {
    await this.#profileServers.close(this.#listening)
  }

  // Private

  /**
   * One HTTPS server (HTTP/2 with HTTP/1.1) for a TLS profile; every profile's is built here, so
   * they differ only in what the profile fixes before SNI: protocol versions, ciphers, and
   * whether a client certificate is asked for (it is verified, never required, by OpenSSL:
   * the request path answers as nginx does, see RequestRouter).
   */
  #buildHttpsServer (profile: TlsProfile): Http2SecureServer {
    const options = this.#options
    const tls = options.tls
    const handshakeFor = (servername: string, localPort: number | undefined): SecureContext | undefined => this.#handshakeFor(servername, tls.certs, localPort).context
    const alpnH2 = (servername: string | undefined, localPort: number | undefined): boolean => {
      const routes = this.#routesForHandshake(servername, localPort)
      return (routes === undefined ? undefined : this.#router.hostTls(routes)?.http2) ?? tls.enableHttp2 ?? true
    }
    const verify = profile.clientVerify !== undefined
    const server = createSecureServer({
      ...policyOptions(profile.policy),
      // The listening server's session ticket keys on every server: a session resumes wherever its host's profile is served.
      ...(this.#listening === undefined ? {} : { ticketKeys: this.#listening.getTicketKeys() }),
      // Client certificates: asked for, verified against the host's CA (its SecureContext), never
      // fatal in the handshake. No resumption: a session would carry a verification on.
      ...(verify ? { requestCert: true, rejectUnauthorized: false, secureOptions: cryptoConstants.SSL_OP_NO_TICKET } : {}),
      allowHTTP1: true,
      maxSessionMemory: 64,
      settings: { maxConcurrentStreams: options.h2MaxConcurrentStreams },
      noDelay: true,
      // nginx-proxy's `http2 on` per server block: h2 only for hosts with HTTP/2 enabled. Node
      // calls this after SNICallback, on the TLSSocket; undefined ends the handshake with
      // no_application_protocol, as nginx does when nothing offered matches.
      ALPNCallback: function (this: TLSSocket, { servername, protocols }) {
        const h2 = protocols.includes('h2') && alpnH2(servername, this.localPort)
        return h2 ? 'h2' : protocols.includes('http/1.1') ? 'http/1.1' : undefined
      },
      // A function, not an arrow: Node calls it on the TLSSocket, whose local port picks the listener.
      SNICallback: function (this: TLSSocket, servername, cb) {
        const context = handshakeFor(servername, this.localPort)
        // Refused before the handshake began (#screenHandshake); only a table swap in between lands here.
        if (context === undefined) cb(new Error(`no certificate serves ${servername}`))
        else cb(null, context)
      }
    })
    // Before http2's own listener makes the session: the TLS socket answers with the PROXY peer.
    if (options.proxyProtocol === true) server.prependListener('secureConnection', adoptParentPeer)
    // HTTP/1.1 over TLS (ALPN http/1.1, or none) arrives as 'request'. Adding that listener makes
    // Node put its HTTP/2 compatibility layer on 'stream' as well; it is taken off again, and
    // HTTP/2 streams come to the request path as H2Request/H2Response (see h2-exchange.ts for why).
    server.on('request', (req, res) => { void this.#handlers.handle(req as unknown as IncomingMessage, res as unknown as ServerResponse) })
    server.removeAllListeners('stream')
    server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, _flags: number, rawHeaders: string[]) => { this.#handleStream(stream, headers, rawHeaders) })
    server.on('session', (session: ServerHttp2Session) => {
      this.#h2Sessions.add(session)
      const socket = session.socket
      this.#sessionPeers.set(session, { remoteAddress: socket?.remoteAddress, localPort: socket?.localPort })
      session.once('close', () => { this.#h2Sessions.delete(session) })
    })
    server.on('secureConnection', (socket: TLSSocket) => {
      if (socket.alpnProtocol === 'h2') return
      this.#tlsSockets.add(socket)
      socket.once('close', () => { this.#tlsSockets.delete(socket) })
    })
    this.#handlers.listenHttp1(server)
    server.setTimeout(options.keepAliveTimeoutMs)
    // HTTP/1.1 over TLS goes through node:http's connection handling, which reads its limits from
    // the server object (Node sets 60 s / 300 s / a 30 s check for allowHTTP1): the same limits
    // as the plain HTTP listener, so a slow-headers client gets its 408 on 443 too.
    Object.assign(server, {
      headersTimeout: options.requestHeadersTimeoutMs,
      requestTimeout: options.requestTimeoutMs,
      keepAliveTimeout: options.keepAliveTimeoutMs,
      connectionsCheckingInterval: options.connectionsCheckingIntervalMs
    })
    return server
  }

  /**
   * The certificate a handshake for `servername` gets, as nginx picks a server on 443 by SNI: the
   * host's own (nohttps hosts have no server there), else DEFAULT_HOST's, else nginx-proxy's
   * fallback server's default.crt (trusted or not: it only answers 503). Undefined: the handshake
   * is rejected with unrecognized_name (ssl_reject_handshake), which #screenHandshakes sends.
   * `profile`: the TLS server the handshake runs on, the host's (by SNI only: a handshake without
   * SNI, and the fallback server's, run on the proxy-wide profile's).
   */
  #handshakeFor (servername: string | undefined, certs: CertificateStore, localPort?: number): { context: SecureContext | undefined, profile: TlsProfile } {
    const base = this.#baseProfile
    const routes = this.#routesForHandshake(servername, localPort)
    const hostTls = routes === undefined ? undefined : this.#router.hostTls(routes)
    const cert = routes === undefined ? certs.get('default') : hostTls?.cert
    const profile = servername === undefined || hostTls === undefined ? base : hostTls.profile
    if (cert === undefined) return { context: undefined, profile }
    try {
      return { context: this.#profileContexts.contextFor(cert, profile), profile }
    } catch (err) {
      // An unusable CA or CRL file: nginx would not start with it; this host's handshakes are refused.
      this.#log.warn({ host: routes?.host, caFile: profile.clientVerify?.ca.file, crlFile: profile.clientVerify?.crl?.file, err: (err as Error).message }, 'TLS context not built: handshake refused')
      return { context: undefined, profile }
    }
  }

  /** The host a handshake for `servername` is for: by SNI, else DEFAULT_HOST; undefined: the fallback server. */
  #routesForHandshake (servername: string | undefined, localPort: number | undefined): HostRoutes | undefined {
    const name = servername?.toLowerCase().replace(/\.$/, '') ?? ''
    const table = this.#store.current
    return name !== ''
      ? this.#router.routesFor(name, 'https', localPort)
      : table.defaultHost === undefined ? undefined : table.resolve(table.defaultHost, (r) => this.#router.hostTls(r)?.httpsMethod !== 'nohttps')
  }

  /**
   * Reads each connection's ClientHello before TLS starts: a name no certificate serves gets
   * nginx's fatal unrecognized_name alert (Node's SNICallback can only close the connection
   * without one), everything else goes to the TLS server with the bytes read put back. Replaces
   * tls.Server's own 'connection' listener, which it then calls.
   */
  #screenHandshakes (server: Http2SecureServer, certs: CertificateStore, timeoutMs: number): void {
    const servers = this.#profileServers
    server.removeAllListeners('connection')
    server.on('connection', (socket: Socket) => {
      let buffered: Buffer = Buffer.alloc(0)
      const failed = (): void => { socket.destroy() }
      const done = (): void => {
        socket.off('data', onData)
        socket.off('error', failed)
        socket.off('timeout', failed)
        socket.setTimeout(0)
      }
      const onData = (chunk: Buffer): void => {
        buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk])
        const hello = peekClientHello(buffered)
        if (hello.kind === 'incomplete' && buffered.length <= MAX_CLIENT_HELLO_BYTES + 1_024) return
        done()
        const handshake = hello.kind === 'hello' ? this.#handshakeFor(hello.servername, certs, socket.localPort) : undefined
        if (handshake !== undefined && handshake.context === undefined) {
          socket.on('error', failed)
          socket.on('timeout', failed)
          socket.setTimeout(timeoutMs)
          socket.end(UNRECOGNIZED_NAME_ALERT)
          return
        }
        socket.pause()
        socket.unshift(buffered)
        // On the TLS server of the host's profile: its protocol versions and client certificate request apply from the first byte.
        servers.startTls(handshake?.profile ?? this.#baseProfile, socket)
      }
      socket.on('data', onData)
      socket.on('error', failed)
      socket.on('timeout', failed)
      socket.setTimeout(timeoutMs)
    })
  }

  #handleStream (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, rawHeaders: string[]): void {
    // A reset by the client (or a write after it) is that stream's end, never the process's.
    stream.on('error', () => {})
    const req = new H2Request(stream, headers, rawHeaders, (stream.session === undefined ? undefined : this.#sessionPeers.get(stream.session)) ?? NO_PEER)
    // The session's own timeout only sees the connection; one stream that stops moving is reset
    // alone, unless it stalled in its request body: that one is answered 408 (forward-http.ts).
    stream.setTimeout(this.#options.clientIdleTimeoutMs, () => { if (!req.timedOut()) stream.close(constants.NGHTTP2_CANCEL) })
    if (headers[':method'] === 'CONNECT') {
      // No extended CONNECT (RFC 8441) is advertised, so no tunnel can be asked for.
      stream.respond({ ':status': 405 }, { endStream: true })
      return
    }
    void this.#handlers.handle(req as unknown as IncomingMessage, new H2Response(stream) as unknown as ServerResponse)
  }
}

/** The connection's client certificate as verified in its handshake (an HTTP/2 session's socket for its streams). */
export function clientCertFacts (socket: TLSSocket | null | undefined): ClientCertFacts {
  if (socket === null || socket === undefined) return { servername: undefined, presented: false, verifyError: undefined }
  const servername = typeof socket.servername === 'string' ? socket.servername : undefined
  const presented = Object.keys(socket.getPeerCertificate?.() ?? {}).length > 0
  const error = socket.authorizationError as unknown
  return { servername, presented, verifyError: presented && !socket.authorized ? (typeof error === 'string' ? error : String((error as Error | null)?.message ?? 'UNSPECIFIED')) : undefined }
}
