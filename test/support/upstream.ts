import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net'
import { createHash } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'

export interface Upstream {
  port: number
  requests: IncomingMessage[]
  close (): Promise<void>
}

/** A real node:http upstream on 127.0.0.1:0 (kamal's testBackend). */
export async function startUpstream (handler: (req: IncomingMessage, res: ServerResponse) => void, onUpgrade?: (req: IncomingMessage, socket: Socket) => void): Promise<Upstream> {
  const requests: IncomingMessage[] = []
  const sockets = new Set<Socket>()
  const server: Server = createServer((req, res) => { requests.push(req); handler(req, res) })
  if (onUpgrade !== undefined) server.on('upgrade', (req: IncomingMessage, socket: Socket) => { requests.push(req); onUpgrade(req, socket) })
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)) })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    requests,
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => { resolve() }))
    }
  }
}

/** A raw TCP upstream that writes `reply` to every connection (for malformed responses). */
export async function startRawUpstream (onConnection: (socket: Socket) => void): Promise<{ port: number, close: () => Promise<void> }> {
  const sockets = new Set<Socket>()
  const server: NetServer = createNetServer((s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
    s.on('error', () => {})
    onConnection(s)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => { resolve() }))
    }
  }
}

/**
 * A WebSocket upstream: completes the RFC 6455 handshake and answers each short text frame with
 * `<x-forwarded-proto>:<text>`, so a test sees both the tunnel and what the proxy told the app.
 */
export async function startWebSocketUpstream (): Promise<Upstream> {
  return await startUpstream((_req, res) => { res.end('ok') }, (req, socket) => {
    const accept = createHash('sha1').update(`${String(req.headers['sec-websocket-key'])}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64')
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`)
    socket.on('data', (frame: Buffer) => {
      // One short masked client frame per chunk is all the test client sends.
      const len = frame[1]! & 0x7f
      const mask = frame.subarray(2, 6)
      const text = Buffer.from(frame.subarray(6, 6 + len).map((b, i) => b ^ mask[i % 4]!)).toString('utf8')
      const reply = Buffer.from(`${String(req.headers['x-forwarded-proto'])}:${text}`)
      socket.write(Buffer.concat([Buffer.from([0x81, reply.length]), reply]))
    })
  })
}
