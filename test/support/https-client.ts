import { connect as h2connect, type ClientHttp2Session, type OutgoingHttpHeaders } from 'node:http2'
import { request } from 'node:https'
import type { IncomingHttpHeaders } from 'node:http'

export interface TlsReply { status: number, headers: IncomingHttpHeaders, body: string, peerCN: string | undefined, alpn: string | false | null }

/** One HTTPS/1.1 request on a fresh connection with the given SNI name; certificates are not verified. */
export function httpsGet (port: number, servername: string, path = '/', headers: Record<string, string> = {}): Promise<TlsReply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, servername, rejectUnauthorized: false, agent: false, headers: { host: servername, ...headers } }, (res) => {
      const socket = res.socket as import('node:tls').TLSSocket
      const peer = socket.getPeerCertificate()
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), peerCN: peer?.subject?.CN as string | undefined, alpn: socket.alpnProtocol })
      })
    })
    req.on('error', reject)
    req.end()
  })
}

/**
 * Bound on one HTTP/2 exchange or session set-up in tests: a server that does not negotiate h2
 * leaves Node's client waiting for a SETTINGS frame that never comes (no error, no close), and a
 * test file would otherwise hang until tap's 15-minute file timeout.
 */
export const H2_CLIENT_TIMEOUT_MS = 10_000

function h2Timer (what: string, fail: (err: Error) => void, session: ClientHttp2Session): NodeJS.Timeout {
  return setTimeout(() => {
    fail(new Error(`HTTP/2 ${what}: no answer within ${H2_CLIENT_TIMEOUT_MS} ms (ALPN ${String(session.alpnProtocol)})`))
    session.destroy()
  }, H2_CLIENT_TIMEOUT_MS)
}

/** The same over HTTP/2 (ALPN h2), with Node's own HTTP/2 client. */
export function h2Get (port: number, servername: string, path = '/'): Promise<TlsReply> {
  return new Promise((resolve, reject) => {
    const session = h2connect(`https://127.0.0.1:${port}`, { servername, rejectUnauthorized: false })
    const timer = h2Timer(`GET ${path}`, reject, session)
    session.on('close', () => { clearTimeout(timer) })
    session.on('error', reject)
    const stream = session.request({ ':path': path, ':authority': servername })
    const chunks: Buffer[] = []
    let headers: IncomingHttpHeaders = {}
    stream.on('response', (h) => { headers = h as IncomingHttpHeaders })
    stream.on('data', (c: Buffer) => chunks.push(c))
    stream.on('end', () => {
      const alpn = session.alpnProtocol ?? null
      const peerCN = session.socket !== undefined ? ((session.socket as import('node:tls').TLSSocket).getPeerCertificate()?.subject?.CN as string | undefined) : undefined
      session.close()
      resolve({ status: Number(headers[':status']), headers, body: Buffer.concat(chunks).toString('utf8'), peerCN, alpn })
    })
    stream.on('error', reject)
    stream.end()
  })
}

/** One HTTP/2 session for several requests (SNI = servername, any certificate). */
export async function h2Session (port: number, servername: string): Promise<ClientHttp2Session> {
  return await new Promise((resolve, reject) => {
    const session = h2connect(`https://127.0.0.1:${port}`, { servername, rejectUnauthorized: false }, () => { clearTimeout(timer); resolve(session) })
    const timer = h2Timer('session', reject, session)
    session.once('error', (err) => { clearTimeout(timer); reject(err) })
  })
}

export interface H2Reply { status: number, headers: IncomingHttpHeaders, body: Buffer }

/** One request on `session`; rejects when the stream is reset (what a browser would show). */
export async function h2Request (session: ClientHttp2Session, headers: OutgoingHttpHeaders, body?: Buffer | string): Promise<H2Reply> {
  return await new Promise((resolve, reject) => {
    const stream = session.request(headers, { endStream: body === undefined })
    const timer = setTimeout(() => { reject(new Error(`HTTP/2 ${String(headers[':method'] ?? 'GET')} ${String(headers[':path'])}: no answer within ${H2_CLIENT_TIMEOUT_MS} ms`)); stream.close() }, H2_CLIENT_TIMEOUT_MS)
    const chunks: Buffer[] = []
    let head: IncomingHttpHeaders = {}
    stream.on('response', (h) => { head = h as IncomingHttpHeaders })
    stream.on('data', (c: Buffer) => chunks.push(c))
    stream.on('end', () => { resolve({ status: Number(head[':status']), headers: head, body: Buffer.concat(chunks) }) })
    stream.on('error', reject)
    stream.on('close', () => { clearTimeout(timer); if (stream.rstCode !== 0) reject(new Error(`stream reset (code ${stream.rstCode})`)) })
    if (body !== undefined) stream.end(body)
  })
}
