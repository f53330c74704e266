import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Readable } from 'node:stream'
import type { Dispatcher } from 'undici'
import { ProxyError, UpstreamTimeoutError } from '../errors.js'
import type { Target } from '../routing/target.js'
import { addedHeadersFor, type AddedHeader } from '../vhost/vhost-directives.js'
import { isConnectFailure, isResetBeforeResponse } from './error-response.js'
import { downstreamResponseHeaders } from './forwarded-headers.js'
import { H2Request, H2Response } from './h2-exchange.js'

export type ForwardOutcome =
  | { kind: 'completed', status: number, bytes: number }
  /** Nothing was sent to the client and the request may go to another target. */
  | { kind: 'retry', err: Error }
  /** Nothing was sent to the client; the caller answers with an error status. */
  | { kind: 'failed', err: Error }
  /** Headers were already sent (or the client left); the connection was closed. */
  | { kind: 'aborted', status: number, bytes: number, err: Error | undefined }

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE'])

export interface ForwardRequest {
  path: string
  headers: string[]
  hasBody: boolean
  /** The location's request-body limit; a longer body fails the request with 413. */
  maxBodyBytes?: number | undefined
  /** Added to the response (e.g. Strict-Transport-Security). */
  extraResponseHeaders: string[] | undefined
  /** vhost.d add_header: appended beside the upstream's fields of that name, as nginx does. */
  addHeaders?: readonly AddedHeader[] | undefined
  /** vhost.d proxy_read_timeout: the pool's headers and body timeouts, for this request. */
  readTimeoutMs?: number | undefined
  /** vhost.d proxy_send_timeout: the upstream must take each body chunk within this. */
  sendTimeoutMs?: number | undefined
  /** vhost.d proxy_connect_timeout: the request must get a connection within this (the pool's own bound still applies). */
  connectTimeoutMs?: number | undefined
  /** nginx client_body_timeout: the client must send the next body chunk within this, or 408. */
  bodyTimeoutMs: number
}

/** HTTP/1 takes the flat list with the status text; HTTP/2 has no status text. */
function writeHead (res: ServerResponse, status: number, statusText: string, flat: string[]): void {
  if (res instanceof H2Response) res.writeHead(status, flat)
  else res.writeHead(status, statusText, flat)
}

/**
 * One attempt to send a request to one target, streaming both ways with backpressure.
 * Uses undici's dispatch handler directly: raw header buffers, no intermediate stream objects.
 */
export function forwardHttp (req: IncomingMessage, res: ServerResponse, target: Target, fwd: ForwardRequest): Promise<ForwardOutcome> {
  return new Promise((resolve) => {
    new ForwardHandler(req, res, target, fwd, resolve).dispatch()
  })
}

async function * limitBody (source: AsyncIterable<Buffer>, max: number): AsyncGenerator<Buffer> {
  let size = 0
  for await (const chunk of source) {
    size += chunk.length
    if (size > max) throw new ProxyError('PROXY_ERR_BODY_TOO_LARGE', `request body over ${max} bytes`, { statusCode: 413 })
    yield chunk
  }
}

/**
 * nginx client_body_timeout: once the upstream asks for the body, each chunk must arrive within
 * `timeoutMs`. A client that announces a body and stalls (alone, or a thousand of them) holds an
 * upstream connection only that long. On HTTP/1.1 the connection's own idle timeout may come
 * first (same length, started earlier): node:http leaves the socket open when the unfinished
 * request has a 'timeout' listener, so that one answers 408 as well; an HTTP/2 stream's idle
 * timer asks its H2Request the same way.
 */
async function * guardReceive (source: AsyncIterable<Buffer>, timeoutMs: number, req: IncomingMessage | H2Request, stalled: () => void): AsyncGenerator<Buffer> {
  const it = source[Symbol.asyncIterator]()
  for (;;) {
    const timer = setTimeout(stalled, timeoutMs)
    req.once('timeout', stalled)
    let next: IteratorResult<Buffer>
    try {
      next = await it.next()
    } finally {
      clearTimeout(timer)
      req.off('timeout', stalled)
    }
    if (next.done === true) return
    yield next.value
  }
}

/** nginx proxy_send_timeout: the time between two writes upstream, i.e. while undici holds a chunk. */
async function * guardSend (source: AsyncIterable<Buffer>, timeoutMs: number, stalled: () => void): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    const timer = setTimeout(stalled, timeoutMs)
    try { yield chunk } finally { clearTimeout(timer) }
  }
}

class ForwardHandler implements Dispatcher.DispatchHandler {
  readonly #req: IncomingMessage
  readonly #res: ServerResponse
  readonly #target: Target
  readonly #fwd: ForwardRequest
  readonly #resolve: (o: ForwardOutcome) => void
  #abort: ((err?: Error) => void) | undefined
  #resume: (() => void) | undefined
  #status = 0
  #bytes = 0
  #done = false
  #longLived = false
  #contentLength = -1
  /** A whole body that arrived in one chunk: sent with end(), headers and body in one write. */
  #held: Buffer | undefined
  #connectTimer: NodeJS.Timeout | undefined
  #onResClose = (): void => {
    if (this.#done) return
    // Finish first: undici may call onError synchronously from abort(), and that error is the
    // client's doing, not the upstream's.
    const abort = this.#abort
    this.#finish({ kind: 'aborted', status: this.#status, bytes: this.#bytes, err: undefined })
    abort?.(new Error('client closed the connection'))
  }

  #onDrain = (): void => { this.#resume?.() }

  constructor (req: IncomingMessage, res: ServerResponse, target: Target, fwd: ForwardRequest, resolve: (o: ForwardOutcome) => void) {
    this.#req = req
    this.#res = res
    this.#target = target
    this.#fwd = fwd
    this.#resolve = resolve
  }

  dispatch (): void {
    this.#target.requestStarted()
    this.#res.on('close', this.#onResClose)
    const { maxBodyBytes: max, sendTimeoutMs: send, readTimeoutMs: read, connectTimeoutMs: connect } = this.#fwd
    let body: AsyncIterable<Buffer> | Readable | null = null
    if (this.#fwd.hasBody) {
      // An iterator that leaves the request open, so that a 408 or 413 can still be sent.
      body = this.#req instanceof H2Request ? this.#req.body() : this.#req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>
      body = guardReceive(body, this.#fwd.bodyTimeoutMs, this.#req, () => {
        this.#abort?.(new ProxyError('PROXY_ERR_CLIENT_BODY_TIMEOUT', `the client sent no request body for ${this.#fwd.bodyTimeoutMs} ms (client_body_timeout)`, { statusCode: 408 }))
      })
      if (max !== undefined) body = limitBody(body, max)
      if (send !== undefined) {
        body = guardSend(body, send, () => {
          this.#abort?.(new UpstreamTimeoutError(`upstream took no request body for ${send} ms (proxy_send_timeout)`))
        })
      }
    }
    if (connect !== undefined) {
      // undici's connect timeout is per pool; this bounds the wait for a connection per request.
      this.#connectTimer = setTimeout(() => {
        if (this.#abort === undefined) this.onError(Object.assign(new Error(`no upstream connection within ${connect} ms (proxy_connect_timeout)`), { code: 'UND_ERR_CONNECT_TIMEOUT' }))
      }, connect)
    }
    this.#target.pool.dispatch({
      path: this.#fwd.path,
      method: this.#req.method as Dispatcher.HttpMethod,
      headers: this.#fwd.headers,
      // undici takes async iterables as bodies; its type names only Readable.
      body: body as Readable | null,
      upgrade: null,
      ...(read !== undefined ? { headersTimeout: read, bodyTimeout: read } : {})
    }, this)
  }

  onConnect (abort: (err?: Error) => void): void {
    clearTimeout(this.#connectTimer)
    this.#abort = abort
    if (this.#done) abort()
  }

  onHeaders (statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    if (statusCode < 200) return true // 1xx informational: not relayed
    this.#status = statusCode
    this.#resume = resume
    const { headers, eventStream, contentLength } = downstreamResponseHeaders(rawHeaders, this.#fwd.extraResponseHeaders)
    this.#contentLength = contentLength
    if (eventStream) {
      // Server-sent events are long-lived: a drain closes them after its grace period.
      this.#longLived = true
      this.#target.requestFinished()
      // HTTP/2: close the stream, not the connection shared with other requests.
      const handle = this.#res instanceof H2Response ? this.#res.stream : this.#res.socket
      if (handle !== null) this.#target.trackLongLived(handle)
    }
    if (this.#fwd.addHeaders !== undefined && this.#fwd.addHeaders.length > 0) headers.push(...addedHeadersFor(statusCode, this.#fwd.addHeaders))
    writeHead(this.#res, statusCode, statusText, headers)
    if (eventStream && !(this.#res instanceof H2Response)) this.#res.flushHeaders()
    return true
  }

  onData (chunk: Buffer): boolean {
    if (this.#bytes === 0 && chunk.length === this.#contentLength) {
      this.#bytes = chunk.length
      this.#held = chunk
      return true
    }
    this.#bytes += chunk.length
    const ok = this.#res.write(chunk)
    if (!ok) this.#res.once('drain', this.#onDrain)
    return ok
  }

  onComplete (): void {
    if (this.#held !== undefined) this.#res.end(this.#held)
    else this.#res.end()
    this.#finish({ kind: 'completed', status: this.#status, bytes: this.#bytes })
  }

  onError (err: Error): void {
    if (this.#done) return
    if (this.#res.headersSent) {
      // Cut mid-body or invalid: close the client's connection rather than leave it hanging.
      this.#res.destroy()
      this.#finish({ kind: 'aborted', status: this.#status, bytes: this.#bytes, err })
      return
    }
    const bodyUntouched = !this.#fwd.hasBody || !this.#req.readableDidRead
    const retry = bodyUntouched && (isConnectFailure(err) || (isResetBeforeResponse(err) && IDEMPOTENT.has(this.#req.method ?? '')))
    this.#finish(retry ? { kind: 'retry', err } : { kind: 'failed', err })
  }

  // Private

  #finish (outcome: ForwardOutcome): void {
    if (this.#done) return
    this.#done = true
    clearTimeout(this.#connectTimer)
    this.#res.off('close', this.#onResClose)
    if (!this.#longLived) this.#target.requestFinished()
    this.#resolve(outcome)
  }
}
