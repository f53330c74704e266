// Sends one fuzz case and reports what came back: a response head, a close, a reset, or nothing
// within the bound (a hang). Raw sockets for HTTP/1.1 (TCP and TLS), Node's client for HTTP/2, and
// hand-made frames for what Node's client refuses to send.
import { connect as h2connect, constants as h2constants, type ClientHttp2Session } from 'node:http2'
import { connect as netConnect, type Socket } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import type { FuzzCase } from './fuzz-requests.ts'
import { h1Bytes, h2FrameBytes } from './fuzz-requests.ts'
import { FUZZ_ID_HEADER } from './fuzz-protocol.ts'
import { answerOnce, fuzzStream, h2Headers } from './fuzz-answer.ts'
import { sendPolicyCase } from './fuzz-policy.ts'

export type Outcome = 'response' | 'closed' | 'reset' | 'refused-by-client' | 'timeout'

export interface Answer {
  outcome: Outcome
  status?: number
  headers?: Record<string, string>
  /** HTTP/1.1: the first bytes of what came back (status line and headers). */
  head?: string
  detail?: string
  ms: number
}

export interface Sent { id: string, fuzzCase: FuzzCase, bytes: string, answer: Answer }

export interface Endpoint { port: number, httpsPort: number, boundMs: number }

/** The bytes as the report shows them: JSON string escapes, long runs shortened. */
export function printable (bytes: string, max = 600): string {
  const s = bytes.length > max ? `${bytes.slice(0, max)}… (${bytes.length} bytes)` : bytes
  return JSON.stringify(s)
}

function parseHead (text: string): Pick<Answer, 'status' | 'headers' | 'head'> | undefined {
  const end = text.indexOf('\r\n\r\n')
  if (end < 0) return undefined
  const [statusLine = '', ...lines] = text.slice(0, end).split('\r\n')
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine)
  const headers: Record<string, string> = {}
  for (const l of lines) {
    const c = l.indexOf(':')
    if (c > 0) headers[l.slice(0, c).toLowerCase()] = l.slice(c + 1).trim()
  }
  return { status: status === null ? -1 : Number(status[1]), headers, head: text.slice(0, Math.min(end + 4, 2_000)) }
}

async function sendH1 (c: Extract<FuzzCase, { kind: 'h1' }>, bytes: string, ep: Endpoint): Promise<Answer> {
  const started = Date.now()
  return await new Promise<Answer>((resolve) => {
    const s: Socket = c.transport === 'tcp'
      ? netConnect(ep.port, '127.0.0.1')
      : tlsConnect({ port: ep.httpsPort, host: '127.0.0.1', servername: c.servername, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] })
    let got = ''
    const { finish, settled } = answerOnce(started, ep.boundMs, () => { s.destroy() }, resolve, () => ({ outcome: 'timeout', head: got.slice(0, 2_000) }))
    s.on('data', (chunk: Buffer) => {
      got += chunk.toString('latin1')
      const head = parseHead(got)
      if (head !== undefined) finish({ outcome: 'response', ...head })
    })
    s.on('error', (err: NodeJS.ErrnoException) => { finish({ outcome: got === '' ? 'reset' : 'closed', head: got.slice(0, 2_000), detail: err.code ?? err.message }) })
    s.on('close', () => { finish({ outcome: 'closed', head: got.slice(0, 2_000) }) })
    const connected = c.transport === 'tcp' ? 'connect' : 'secureConnect'
    s.once(connected, () => {
      void (async () => {
        const cuts = [...new Set(c.req.splits.map((n) => bytes.length === 0 ? 0 : n % bytes.length))].sort((a, b) => a - b)
        let from = 0
        for (const cut of [...cuts, bytes.length]) {
          if (settled()) return
          if (cut > from) s.write(Buffer.from(bytes.slice(from, cut), 'latin1'))
          from = cut
          if (cut < bytes.length) await new Promise((resolve) => setTimeout(resolve, 5))
        }
        if (c.req.halfClose && !settled()) s.end()
      })()
    })
  })
}

async function sendH2 (c: Extract<FuzzCase, { kind: 'h2' }>, id: string, ep: Endpoint): Promise<Answer> {
  const started = Date.now()
  let session: ClientHttp2Session | undefined
  return await new Promise<Answer>((resolve) => {
    const { finish } = answerOnce(started, ep.boundMs, () => { session?.destroy() }, resolve, () => ({ outcome: 'timeout' }))
    session = h2connect(`https://127.0.0.1:${ep.httpsPort}`, { servername: c.servername, rejectUnauthorized: false })
    session.on('error', (err: NodeJS.ErrnoException) => { finish({ outcome: 'reset', detail: `session: ${err.code ?? err.message}` }) })
    session.on('close', () => { finish({ outcome: 'closed', detail: 'session closed' }) })
    session.on('goaway', (code) => { finish({ outcome: 'closed', detail: `GOAWAY ${code}` }) })
    session.once('connect', () => {
      const headers = h2Headers([...c.headers, [FUZZ_ID_HEADER, id] as [string, string]])
      const stream = fuzzStream(session!, headers, c.body === undefined, finish, (st) => { if (c.reset === 'after-response-starts') st.close(c.resetCode) })
      if (stream === undefined) return
      if (c.reset === 'immediately') { stream.close(c.resetCode); return }
      if (c.body !== undefined) {
        const half = Math.floor(c.body.length / 2)
        stream.write(Buffer.from(c.body.slice(0, half), 'latin1'))
        if (c.reset === 'mid-body') { stream.close(c.resetCode || h2constants.NGHTTP2_CANCEL); return }
        stream.end(Buffer.from(c.body.slice(half), 'latin1'))
      }
    })
  })
}

/** Raw frames: any frame on stream 1 that ends it (HEADERS, RST_STREAM), GOAWAY, or a close answers. */
async function sendH2Frames (c: Extract<FuzzCase, { kind: 'h2-frames' }>, bytes: Buffer, ep: Endpoint): Promise<Answer> {
  const started = Date.now()
  return await new Promise<Answer>((resolve) => {
    const s = tlsConnect({ port: ep.httpsPort, host: '127.0.0.1', servername: c.servername, rejectUnauthorized: false, ALPNProtocols: ['h2'] })
    let buf = Buffer.alloc(0)
    const { finish } = answerOnce(started, ep.boundMs, () => { s.destroy() }, resolve, () => ({ outcome: 'timeout' }))
    s.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk])
      while (buf.length >= 9) {
        const len = buf.readUIntBE(0, 3)
        if (buf.length < 9 + len) break
        const type = buf[3]!
        const stream = buf.readUInt32BE(5) & 0x7fffffff
        buf = buf.subarray(9 + len)
        if (type === 0x7) { finish({ outcome: 'closed', detail: 'GOAWAY' }); return }
        if (stream === 1 && type === 0x3) { finish({ outcome: 'reset', detail: 'RST_STREAM' }); return }
        if (stream === 1 && type === 0x1) { finish({ outcome: 'response', detail: 'HEADERS' }); return }
      }
    })
    s.on('error', (err: NodeJS.ErrnoException) => { finish({ outcome: 'reset', detail: err.code ?? err.message }) })
    s.on('close', () => { finish({ outcome: 'closed' }) })
    s.once('secureConnect', () => { s.write(bytes) })
  })
}

export async function sendCase (c: FuzzCase, id: string, ep: Endpoint): Promise<Sent> {
  if (c.kind === 'h1') {
    const bytes = h1Bytes(c.req, id)
    return { id, fuzzCase: c, bytes, answer: await sendH1(c, bytes, ep) }
  }
  if (c.kind === 'policy') return { id, fuzzCase: c, ...await sendPolicyCase(c, id, ep) }
  if (c.kind === 'h2') {
    return { id, fuzzCase: c, bytes: JSON.stringify({ headers: c.headers, body: c.body?.slice(0, 200), reset: c.reset }), answer: await sendH2(c, id, ep) }
  }
  const bytes = h2FrameBytes(c, id)
  return { id, fuzzCase: c, bytes: bytes.toString('latin1'), answer: await sendH2Frames(c, bytes, ep) }
}

