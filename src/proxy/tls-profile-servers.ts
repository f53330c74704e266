import type { Http2SecureServer } from 'node:http2'
import type { Socket } from 'node:net'
import { serverKey, type TlsProfile } from '../tls/tls-profile.js'

// The HTTPS server objects, one per distinct TLS profile in use (tls/tls-profile.ts: the policy's
// protocol versions and ciphers, and whether client certificates are asked for, are fixed before
// the ClientHello's SNI is read). Only the first, built for the proxy-wide profile, listens; the
// ClientHello screen hands every connection to the server of its host's profile through that
// server's own TLS 'connection' listener. Every server is built by the same function, so sessions,
// ALPN, SNICallback and the request path are the same on all of them.

interface ProfileServer {
  server: Http2SecureServer
  /** tls.Server's own 'connection' listener: starts the handshake on a socket. */
  startTls: (socket: Socket) => void
}

export class TlsProfileServers {
  readonly #build: (profile: TlsProfile) => Http2SecureServer
  readonly #servers = new Map<string, ProfileServer>()

  constructor (build: (profile: TlsProfile) => Http2SecureServer) {
    this.#build = build
  }

  /** Builds the server of `profile` (the listening one), before anything wraps its 'connection' listener. */
  create (profile: TlsProfile): Http2SecureServer {
    return this.#serverFor(profile).server
  }

  /** Starts TLS on `socket` (its ClientHello put back) on the server of `profile`, built on first use. */
  startTls (profile: TlsProfile, socket: Socket): void {
    const entry = this.#serverFor(profile)
    entry.startTls.call(entry.server, socket)
  }

  get size (): number { return this.#servers.size }

  /** Closes every server but `except` (the listening one, closed by its owner). */
  async close (except?: Http2SecureServer): Promise<void> {
    await Promise.all([...this.#servers.values()].filter((e) => e.server !== except).map(async ({ server }) => {
      // Never listening: close() only stops its HTTP/1.1 idle connections and reports ERR_SERVER_NOT_RUNNING.
      await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
    }))
  }

  // Private

  #serverFor (profile: TlsProfile): ProfileServer {
    const key = serverKey(profile)
    let entry = this.#servers.get(key)
    if (entry === undefined) {
      const server = this.#build(profile)
      const listeners = server.listeners('connection') as Array<(socket: Socket) => void>
      if (listeners.length !== 1) throw new Error('unexpected tls.Server connection listeners')
      entry = { server, startTls: listeners[0]! }
      this.#servers.set(key, entry)
    }
    return entry
  }
}
