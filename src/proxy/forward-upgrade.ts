import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import httpProxy from 'http-proxy'
import type { Target } from '../routing/target.js'

// WebSocket (and other Upgrade) tunnels: http-proxy earns its place here; plain requests use undici.

export class UpgradeForwarder {
  readonly #proxy: httpProxy
  readonly #onError: (err: Error, socket: Duplex) => void

  constructor (onError: (err: Error, socket: Duplex) => void) {
    this.#onError = onError
    this.#proxy = httpProxy.createProxyServer({ ws: true, xfwd: false, secure: false, changeOrigin: false })
    this.#proxy.on('error', (err, _req, socket) => {
      const s = socket as unknown as Duplex
      this.#onError(err, s)
      if (!s.destroyed) s.destroy()
    })
    // http-proxy leaves the upstream socket open when the client side is destroyed (not ended).
    this.#proxy.on('proxyReqWs', (proxyReq, _req, socket) => {
      proxyReq.on('upgrade', (_res, upstreamSocket) => {
        socket.once('close', () => { upstreamSocket.destroy() })
      })
    })
  }

  /** `headers` replaces req.headers (forwarded headers already applied); `path` is the upstream path. */
  forward (req: IncomingMessage, socket: Duplex, head: Buffer, target: Target, path: string, headers: Record<string, string>): void {
    req.headers = headers
    req.url = path
    target.trackLongLived(socket)
    this.#proxy.ws(req, socket, head, { target: target.origin })
  }

  close (): void { this.#proxy.close() }
}

/** Flat [k, v, ...] -> object, for http-proxy which reads req.headers. */
export function headerObject (flat: string[]): Record<string, string> {
  const out: Record<string, string> = {}
  for (let i = 0; i < flat.length; i += 2) {
    const k = flat[i]!.toLowerCase()
    out[k] = out[k] === undefined ? flat[i + 1]! : `${out[k]}, ${flat[i + 1]!}`
  }
  return out
}
