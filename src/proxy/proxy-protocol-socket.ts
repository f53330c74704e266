import type { Socket } from 'node:net'
import { MAX_V2_BYTES, parseProxyHeader, type ProxyPeer } from './proxy-protocol.js'

// ENABLE_PROXY_PROTOCOL on a connection: the PROXY header is read before HTTP or TLS sees a byte,
// then the connection's peer becomes the address it names. The address is set on the socket
// itself (remoteAddress, remotePort, remoteFamily), the one place every consumer already reads it
// from (X-Forwarded-For, X-Real-IP, NETWORK_ACCESS, the auth throttle, the access log), so none of
// them needs to know whether a balancer sits in front.

/** The peers PROXY headers named, by the raw TCP socket they arrived on (TLS sockets look theirs up via their parent). */
const peers = new WeakMap<Socket, ProxyPeer>()

/**
 * Reads the header (bounded: MAX_V2_BYTES, and `timeoutMs` for the whole of it), then calls
 * `accepted` with the socket paused and the bytes after the header put back. A connection without
 * a valid header is destroyed, as nginx closes it ("broken header").
 */
export function readProxyHeader (socket: Socket, timeoutMs: number, accepted: (socket: Socket) => void, rejected?: (reason: string) => void): void {
  let buffered: Buffer = Buffer.alloc(0)
  const cleanup = (): void => {
    socket.off('data', onData)
    socket.off('error', failed)
    socket.off('timeout', timedOut)
    socket.off('end', ended)
    socket.setTimeout(0)
  }
  const fail = (reason: string): void => {
    cleanup()
    socket.on('error', () => {})
    socket.destroy()
    rejected?.(reason)
  }
  const failed = (): void => { fail('connection error') }
  const timedOut = (): void => { fail('timed out') }
  const ended = (): void => { fail('closed before the header') }
  const onData = (chunk: Buffer): void => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk])
    const header = parseProxyHeader(buffered)
    if (header.kind === 'incomplete') {
      if (buffered.length > MAX_V2_BYTES) fail('header too large')
      return
    }
    if (header.kind === 'invalid') { fail(header.reason); return }
    cleanup()
    if (header.peer !== undefined) setPeer(socket, header.peer)
    socket.pause()
    if (buffered.length > header.length) socket.unshift(buffered.subarray(header.length))
    accepted(socket)
  }
  socket.on('data', onData)
  socket.on('error', failed)
  socket.on('end', ended)
  socket.on('timeout', timedOut)
  socket.setTimeout(timeoutMs)
}

/**
 * A TLS socket wrapping a connection whose PROXY header named a peer takes that peer as well.
 * Node keeps the wrapped socket as `_parent` (Node 20-24); should that change, the integration
 * tests over HTTPS fail rather than the edge silently logging the balancer's address.
 */
export function adoptParentPeer (tlsSocket: Socket): void {
  const parent = (tlsSocket as unknown as { _parent?: unknown })._parent
  const peer = parent === undefined || parent === null ? undefined : peers.get(parent as Socket)
  if (peer !== undefined) setPeer(tlsSocket, peer)
}

function setPeer (socket: Socket, peer: ProxyPeer): void {
  peers.set(socket, peer)
  Object.defineProperties(socket, {
    remoteAddress: { value: peer.address, configurable: true },
    remotePort: { value: peer.port, configurable: true },
    remoteFamily: { value: peer.family, configurable: true }
  })
}
