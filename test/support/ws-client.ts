import { createHash, randomBytes } from 'node:crypto'
import { request } from 'node:http'
import { request as httpsRequest } from 'node:https'
import type { Duplex } from 'node:stream'

/** Minimal RFC 6455 client: open, send one text frame, read one text frame. `tls`: wss:// (SNI = host, any certificate). */
export async function websocketEcho (port: number, host: string, message: string, path = '/ws', opts: { tls?: boolean } = {}): Promise<string> {
  const key = randomBytes(16).toString('base64')
  const socket = await new Promise<Duplex>((resolve, reject) => {
    const options = {
      host: '127.0.0.1', port, path, agent: false,
      headers: { host, connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': key }
    }
    const req = opts.tls === true ? httpsRequest({ ...options, servername: host, rejectUnauthorized: false }) : request(options)
    req.on('upgrade', (res, s) => {
      const expected = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64')
      if (res.headers['sec-websocket-accept'] !== expected) reject(new Error('bad Sec-WebSocket-Accept'))
      else resolve(s)
    })
    req.on('response', (res) => { reject(new Error(`no upgrade: HTTP ${res.statusCode ?? 0}`)) })
    req.on('error', reject)
    req.end()
  })
  const payload = Buffer.from(message)
  const mask = randomBytes(4)
  const header = Buffer.from([0x81, 0x80 | payload.length])
  const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!))
  socket.write(Buffer.concat([header, mask, masked]))
  const reply = await new Promise<string>((resolve, reject) => {
    let buf = Buffer.alloc(0)
    socket.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c])
      if (buf.length < 2) return
      const len = buf[1]! & 0x7f
      if (len > 125) { reject(new Error('test client only reads short frames')); return }
      if (buf.length >= 2 + len) resolve(buf.subarray(2, 2 + len).toString('utf8'))
    })
    socket.on('error', reject)
  })
  socket.destroy()
  return reply
}
