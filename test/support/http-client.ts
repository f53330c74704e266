import { request as httpRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http'
import { connect } from 'node:net'

export interface Reply { status: number, headers: IncomingHttpHeaders, body: string }

/** One request over a fresh connection; rejects on socket errors (what a client would see). */
export function get (port: number, host: string, path = '/', opts: { method?: string, headers?: OutgoingHttpHeaders, body?: string | Buffer } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method: opts.method ?? 'GET', headers: { host, ...opts.headers }, agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }) })
      res.on('error', reject)
      res.on('aborted', () => { reject(new Error('response aborted')) })
    })
    req.on('error', reject)
    req.end(opts.body)
  })
}

/** Writes raw bytes and returns whatever the server answers before closing. */
export function rawRequest (port: number, payload: string, timeoutMs = 5_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    const timer = setTimeout(() => { s.destroy(); reject(new Error('raw request timed out')) }, timeoutMs)
    s.on('data', (c: Buffer) => chunks.push(c))
    s.on('close', () => { clearTimeout(timer); resolve(Buffer.concat(chunks).toString('latin1')) })
    s.on('error', () => {})
    s.write(payload)
  })
}
