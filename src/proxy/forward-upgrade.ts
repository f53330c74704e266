import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http'
import { request as httpsRequest } from 'node:https'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { Target } from '../routing/target.js'
import { REASONS } from './error-response.js'

// Not an ESM import of node:http: see proxy-server.ts.
const { request: httpRequest } = process.getBuiltinModule('node:http')

// WebSocket (and other Upgrade) tunnels on node:http's client: the handshake goes to the target,
// its 101 is relayed and both sockets are piped; any other answer (403, 426...) is relayed as is,
// as nginx does. Replaces http-proxy (unmaintained since 2020, url.parse on client input).

const MAX_REJECTION_BODY = 64 * 1024
const RESPONSE_HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'proxy-connection', 'te', 'trailer'])

export interface TunnelOptions {
  /** The upstream must answer the handshake within this (nginx: proxy_read_timeout, 60 s). */
  handshakeTimeoutMs: number
  /** A tunnel with no bytes either way for this long is closed (nginx: proxy_read_timeout). */
  idleTimeoutMs: number
}

export type TunnelOutcome =
  | { kind: 'upgraded' }
  /** The upstream declined the upgrade; its answer was relayed. */
  | { kind: 'answered', status: number }
  /** Nothing was written to the client: the caller answers with an error status. */
  | { kind: 'failed', err: Error }

/**
 * A response written as raw bytes on a socket that node:http has handed over (upgrade, CONNECT):
 * the members of ServerResponse that sendError and the request path use.
 */
export class RawResponse {
  readonly socket: Duplex
  shouldKeepAlive = false
  #headersSent = false

  constructor (socket: Duplex) { this.socket = socket }

  get headersSent (): boolean { return this.#headersSent }

  writeHead (status: number, headers: Record<string, string | number> = {}): this {
    if (this.#headersSent) return this
    this.#headersSent = true
    let head = `HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}\r\n`
    for (const [k, v] of Object.entries(headers)) head += `${k}: ${String(v)}\r\n`
    if (this.socket.writable) this.socket.write(`${head}connection: close\r\n\r\n`)
    return this
  }

  end (body?: string | Buffer): this {
    if (!this.#headersSent) this.writeHead(200)
    if (this.socket.writable) this.socket.end(body)
    return this
  }

  destroy (): void { this.socket.destroy() }
}

/** Open tunnels, so a stop can close them all: an upgraded socket is no longer the server's. */
export class UpgradeForwarder {
  readonly #options: TunnelOptions
  readonly #tunnels = new Set<Duplex>()

  constructor (options: TunnelOptions) { this.#options = options }

  get size (): number { return this.#tunnels.size }

  /** `readTimeoutMs` (vhost.d proxy_read_timeout) replaces both the handshake and the idle timeout, as in nginx. */
  forward (req: IncomingMessage, socket: Duplex, head: Buffer, target: Target, path: string, headers: string[], readTimeoutMs?: number): Promise<TunnelOutcome> {
    return new Promise((resolve) => {
      let settled = false
      const settle = (o: TunnelOutcome): void => { if (!settled) { settled = true; resolve(o) } }
      const { protocol, hostname, port } = new URL(target.origin)
      const request = protocol === 'https:' ? httpsRequest : httpRequest
      const upReq = request({
        hostname: hostname.replace(/^\[|\]$/g, ''),
        port,
        method: req.method,
        path,
        headers: headers as unknown as OutgoingHttpHeaders, // node:http takes the flat raw list too
        agent: false,
        setHost: false,
        timeout: readTimeoutMs ?? this.#options.handshakeTimeoutMs,
        ...(protocol === 'https:' ? { rejectUnauthorized: false } : {})
      })
      // The client may leave while the handshake is under way.
      const clientGone = (): void => { upReq.destroy() }
      socket.once('close', clientGone)
      upReq.on('timeout', () => { upReq.destroy(Object.assign(new Error('upgrade handshake timed out'), { code: 'UND_ERR_HEADERS_TIMEOUT' })) })
      upReq.on('error', (err) => {
        socket.off('close', clientGone)
        settle({ kind: 'failed', err })
      })
      upReq.on('upgrade', (res: IncomingMessage, upSocket: Socket, upHead: Buffer) => {
        socket.off('close', clientGone)
        if (socket.destroyed) { upSocket.destroy(); settle({ kind: 'upgraded' }); return }
        this.#join(socket, head, upSocket, upHead, target, res, readTimeoutMs ?? this.#options.idleTimeoutMs)
        settle({ kind: 'upgraded' })
      })
      upReq.on('response', (res: IncomingMessage) => {
        // Declined: relay the answer (bounded body) and close, as for any request on this socket.
        const chunks: Buffer[] = []
        let size = 0
        res.on('data', (c: Buffer) => {
          size += c.length
          if (size <= MAX_REJECTION_BODY) chunks.push(c)
          else res.destroy()
        })
        res.on('error', () => {})
        res.once('close', () => {
          socket.off('close', clientGone)
          const body = Buffer.concat(chunks)
          if (socket.writable) socket.end(Buffer.concat([Buffer.from(statusHead(res, { 'content-length': String(body.length), connection: 'close' })), body]))
          settle({ kind: 'answered', status: res.statusCode ?? 502 })
        })
      })
      upReq.end()
    })
  }

  /** Close every tunnel (the proxy is stopping). */
  close (): void {
    for (const s of this.#tunnels) s.destroy()
  }

  // Private

  #join (client: Duplex, clientHead: Buffer, upstream: Socket, upHead: Buffer, target: Target, res: IncomingMessage, idle: number): void {
    const closeBoth = (): void => { client.destroy(); upstream.destroy() }
    upstream.on('error', closeBoth)
    client.on('error', closeBoth)
    upstream.once('close', closeBoth)
    client.once('close', closeBoth)
    if (idle > 0) {
      // Any byte either way counts as activity (socket timeouts track reads and writes).
      upstream.setTimeout(idle, closeBoth)
      if ('setTimeout' in client && typeof client.setTimeout === 'function') (client as Socket).setTimeout(idle, closeBoth)
    }
    upstream.setNoDelay(true)
    this.#tunnels.add(client)
    client.once('close', () => { this.#tunnels.delete(client) })
    target.trackLongLived(client)
    client.write(statusHead(res, {}))
    if (upHead.length > 0) client.write(upHead)
    if (clientHead.length > 0) upstream.write(clientHead)
    upstream.pipe(client)
    client.pipe(upstream)
  }
}

/** Status line and headers of an upstream response, raw, with `override` replacing framing headers. */
function statusHead (res: IncomingMessage, override: Record<string, string>): string {
  const status = res.statusCode ?? 502
  let head = `HTTP/1.1 ${status} ${res.statusMessage ?? REASONS[status] ?? ''}\r\n`
  const raw = res.rawHeaders
  const dropFraming = Object.keys(override).length > 0
  for (let i = 0; i < raw.length; i += 2) {
    if (dropFraming && RESPONSE_HOP_BY_HOP.has(raw[i]!.toLowerCase())) continue
    head += `${raw[i]!}: ${raw[i + 1]!}\r\n`
  }
  for (const [k, v] of Object.entries(override)) head += `${k}: ${v}\r\n`
  return `${head}\r\n`
}
