import { constants, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2'

// HTTP/2 requests straight from the core stream API. Node's compatibility layer
// (Http2ServerRequest/Http2ServerResponse) wraps every stream in two more stream objects; measured
// on this project's bench it costs ~1.4x the CPU per request of using the stream directly. These
// two classes carry the members ProxyServer, ForwardHandler and sendError use of
// IncomingMessage/ServerResponse, so one request path serves HTTP/1.1 and HTTP/2.

/** Headers a HTTP/2 response must not carry (RFC 9113 §8.2.2); respond() throws on them. */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'http2-settings', 'te'])

/** Whether respond() takes a flat [name, value, ...] list; false after the first Node that refuses one. */
let rawRespond = true

/** The client's address and the listener's port, as IncomingMessage's socket carries them. */
export interface H2Peer { readonly remoteAddress: string | undefined, readonly localPort: number | undefined }

export class H2Request {
  readonly httpVersionMajor = 2
  readonly method: string
  readonly url: string
  readonly headers: IncomingHttpHeaders
  readonly rawHeaders: string[]
  /** The session's, shared by its streams. */
  readonly socket: H2Peer
  readonly stream: ServerHttp2Stream
  #onTimeout: (() => void) | undefined

  constructor (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, rawHeaders: string[], peer: H2Peer) {
    this.stream = stream
    this.headers = headers
    this.rawHeaders = rawHeaders
    this.method = headers[':method'] ?? 'GET'
    this.url = headers[':path'] ?? '/'
    this.socket = peer
  }

  /** The request body is the stream's readable side. */
  get readableDidRead (): boolean { return this.stream.readableDidRead }

  /** As IncomingMessage's 'timeout' while its body is unfinished: a listener answers for the idle stream. */
  once (_event: 'timeout', fn: () => void): this { this.#onTimeout = fn; return this }
  off (_event: 'timeout', fn: () => void): this { if (this.#onTimeout === fn) this.#onTimeout = undefined; return this }

  /** The stream's idle timer fired: true when a 'timeout' listener took it (else the stream is reset). */
  timedOut (): boolean {
    const fn = this.#onTimeout
    this.#onTimeout = undefined
    fn?.()
    return fn !== undefined
  }

  /**
   * The body for undici, which destroys a stream body once it has sent it: the stream itself
   * would take the response down with it, so undici gets an iterator that leaves it open.
   */
  body (): AsyncIterable<Buffer> {
    return this.stream.iterator({ destroyOnReturn: false }) as AsyncIterableIterator<Buffer>
  }
}

export class H2Response {
  readonly stream: ServerHttp2Stream
  /** HTTP/1.1 only; kept so shared code may set it. */
  shouldKeepAlive = true

  constructor (stream: ServerHttp2Stream) {
    this.stream = stream
  }

  get headersSent (): boolean { return this.stream.headersSent }

  /** `headers` as an object or as HTTP/1.1's flat [name, value, ...] list. */
  writeHead (status: number, headers: OutgoingHttpHeaders | string[] = {}): this {
    const stream = this.stream
    if (stream.headersSent || stream.destroyed) return this
    // The flat list goes to respond() as it is (Node >= 22.17/24: raw header arrays): no object
    // built, no name lower-cased twice. respond() throws before it sends anything on what HTTP/2
    // cannot carry (a connection-specific field, two Content-Types): that list takes the path below.
    if (rawRespond && Array.isArray(headers)) {
      try {
        stream.respond([':status', String(status), ...headers] as unknown as OutgoingHttpHeaders)
        return this
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ERR_INVALID_ARG_TYPE') rawRespond = false
        if (stream.headersSent || stream.destroyed) return this
      }
    }
    const out: OutgoingHttpHeaders = { ':status': status }
    if (Array.isArray(headers)) {
      for (let i = 0; i < headers.length; i += 2) {
        const k = headers[i]!.toLowerCase()
        if (CONNECTION_SPECIFIC.has(k)) continue
        const v = headers[i + 1]!
        const prev = out[k]
        out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : k === 'set-cookie' ? [String(prev), v] : `${String(prev)}, ${v}`
      }
    } else {
      for (const [name, v] of Object.entries(headers)) {
        const k = name.toLowerCase()
        if (!CONNECTION_SPECIFIC.has(k) && v !== undefined) out[k] = v
      }
    }
    try {
      stream.respond(out)
    } catch {
      // An upstream header HTTP/2 cannot carry: reset this stream, not the connection.
      this.destroy()
    }
    return this
  }

  write (chunk: Buffer | string): boolean {
    if (!this.stream.headersSent) this.writeHead(200)
    if (this.stream.destroyed) return true
    return this.stream.write(chunk)
  }

  end (chunk?: Buffer | string): this {
    if (!this.stream.headersSent) this.writeHead(200)
    if (!this.stream.destroyed) this.stream.end(chunk)
    return this
  }

  /** Cut the response: RST_STREAM for this stream only. */
  destroy (): void {
    if (!this.stream.destroyed) this.stream.close(constants.NGHTTP2_INTERNAL_ERROR)
  }

  on (event: 'close' | 'drain', fn: () => void): this { this.stream.on(event, fn); return this }
  once (event: 'close' | 'drain', fn: () => void): this { this.stream.once(event, fn); return this }
  off (event: 'close' | 'drain', fn: () => void): this { this.stream.off(event, fn); return this }
}
