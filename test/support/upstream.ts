import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'

export interface Upstream {
  port: number
  requests: IncomingMessage[]
  close (): Promise<void>
}

/** A real node:http upstream on 127.0.0.1:0 (kamal's testBackend). */
export async function startUpstream (handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Upstream> {
  const requests: IncomingMessage[] = []
  const sockets = new Set<Socket>()
  const server: Server = createServer((req, res) => { requests.push(req); handler(req, res) })
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
