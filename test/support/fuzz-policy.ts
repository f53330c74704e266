// Fuzz cases aimed at the traffic policy of issue 13 (fuzz-protocol.ts POLICY_HOSTS): requests
// for paused hosts that leave early, send bodies, Expect: 100-continue or upgrades; requests for
// hosts in maintenance with spoofed client addresses; hostile Cookie headers for the canary
// split's cookie parser. Each case knows what a correct proxy answers, and checkPolicyAnswer says
// when it did not.
import fc from 'fast-check'
import { connect as h2connect, type ClientHttp2Session } from 'node:http2'
import { connect as netConnect, type Socket } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import { CANARY, FUZZ_ID_HEADER, FUZZ_PAUSE, POLICY_HOSTS, UPSTREAM_MARK, canarySide, type PolicyHost } from './fuzz-protocol.ts'
import { answerOnce, fuzzStream, h2Headers } from './fuzz-answer.ts'
import type { Answer, Endpoint } from './fuzz-send.ts'

export interface PolicyCase {
  kind: 'policy'
  host: PolicyHost
  via: 'h1' | 'h1-tls' | 'h2'
  method: string
  path: string
  /** Cookie header fields (several: the server joins them with '; '); the first may start with a valid canary cookie. */
  cookies: string[]
  /** The bucket of the valid canary cookie the first field starts with, if it does. */
  bucket: number | undefined
  /** X-Forwarded-For, X-Real-IP and Forwarded naming an address maint.test allows: must not let the client in. */
  spoof: boolean
  body: 'none' | 'sent' | 'announced' | 'chunked-unfinished'
  bodyBytes: number
  expect100: boolean
  upgrade: boolean
  /** The client hangs up this long after sending, answered or not. */
  leaveAfterMs: number | undefined
}

/** Answer bound for a request held by a pause: its max hold, plus the time to answer once it ends. */
export const HOLD_BOUND_MS = FUZZ_PAUSE.maxHoldMs + 700

const utf8AsLatin1 = (s: string): string => Buffer.from(s, 'utf8').toString('latin1')
const hex8 = fc.stringMatching(/^[0-9a-f]{8}$/)

/** One hostile piece of a Cookie header, aimed at canary.ts bucketFromCookie. */
const cookiePart: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('', '-1', '10000', '99999', '1e3', '0x10', '\uff11\uff12', '\u0663', ' 12', '12 ', '"12"', '12abc', '00012', '+5', '5.0', '', '=5', '5;').map((v) => utf8AsLatin1(`${CANARY.cookie}=${v}`)) },
  { weight: 3, arbitrary: fc.tuple(hex8, fc.integer({ min: 0, max: 99_999 })).map(([h, n]) => `pxc_${h}=${n}`) },
  { weight: 1, arbitrary: fc.tuple(hex8, fc.integer({ min: 1, max: 300 })).map(([h, n]) => Array.from({ length: n }, (_, i) => `pxc_${h.slice(0, 4)}${(i % 65_536).toString(16).padStart(4, '0')}=${i}`).join('; ')) },
  { weight: 2, arbitrary: fc.constantFrom(`x${CANARY.cookie}=1`, `${CANARY.cookie}x=1`, `${CANARY.cookie.toUpperCase()}=1`, CANARY.cookie, `${CANARY.cookie}==5`, `${CANARY.cookie} =5`, ';;;', ' ; ', '=', 'pxc_=1', 'pxc_0badc0d=1', `${CANARY.cookie}\t=1`) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }).map(utf8AsLatin1) },
  { weight: 1, arbitrary: fc.integer({ min: 1_000, max: 12_000 }).map((n) => `big=${'a'.repeat(n)}`) },
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 0, max: 9_999 }), fc.integer({ min: 2, max: 400 })).map(([b, n]) => Array.from({ length: n }, () => `${CANARY.cookie}=${b}`).join('; ')) }
)

const cookies = fc.tuple(
  fc.option(fc.integer({ min: 0, max: CANARY.buckets - 1 }), { freq: 2, nil: undefined }),
  fc.array(cookiePart, { maxLength: 5 }),
  fc.integer({ min: 1, max: 3 })
).map(([bucket, parts, fields]) => {
  const all = bucket === undefined ? parts : [`${CANARY.cookie}=${bucket}`, ...parts]
  // Spread over `fields` Cookie fields, the valid one (if any) first in the first.
  const out: string[] = Array.from({ length: Math.min(fields, Math.max(1, all.length)) }, () => '')
  all.forEach((p, i) => { const k = Math.floor(i * out.length / all.length); out[k] = out[k] === '' ? p : `${out[k]}; ${p}` })
  return { bucket, cookies: all.length === 0 ? [] : out }
})

export const policyCase: fc.Arbitrary<PolicyCase> = fc.record({
  host: fc.constantFrom(...POLICY_HOSTS),
  via: fc.constantFrom('h1', 'h1', 'h1-tls', 'h2'),
  method: fc.constantFrom('GET', 'GET', 'POST', 'PUT', 'HEAD', 'DELETE'),
  path: fc.constantFrom('/', '/x', '/a/b?c=d', '/%2e%2e/', '/' + 'p'.repeat(2_000)),
  cookie: fc.oneof({ weight: 1, arbitrary: fc.constant({ bucket: undefined, cookies: [] as string[] }) }, { weight: 3, arbitrary: cookies }),
  spoof: fc.boolean(),
  body: fc.constantFrom('none', 'none', 'sent', 'announced', 'chunked-unfinished'),
  bodyBytes: fc.oneof(fc.integer({ min: 0, max: 100 }), fc.integer({ min: 1_000, max: 300_000 })),
  expect100: fc.oneof({ weight: 3, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  upgrade: fc.oneof({ weight: 4, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  leaveAfterMs: fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constantFrom(0, 10, 100, 200, 290, 320, 500) })
}).map(({ cookie, ...c }) => ({ kind: 'policy' as const, ...c, ...cookie, via: c.upgrade && c.via === 'h2' ? 'h1' : c.via }))

function headerLines (c: PolicyCase, id: string): Array<[string, string]> {
  const h: Array<[string, string]> = [[FUZZ_ID_HEADER, id]]
  for (const v of c.cookies) h.push(['cookie', v])
  if (c.spoof) h.push(['x-forwarded-for', '203.0.113.7'], ['x-real-ip', '10.1.2.3'], ['forwarded', 'for=203.0.113.7;proto=https'])
  if (c.expect100 && c.body !== 'none') h.push(['expect', '100-continue'])
  if (c.body === 'sent' || c.body === 'announced') h.push(['content-length', String(c.bodyBytes)])
  return h
}

export function policyHead (c: PolicyCase, id: string): string {
  const lines = [`${c.method} ${c.path} HTTP/1.1`, `Host: ${c.host}`, ...headerLines(c, id).map(([n, v]) => `${n}: ${v}`)]
  if (c.body === 'chunked-unfinished') lines.push('Transfer-Encoding: chunked')
  if (c.upgrade) lines.push('Connection: Upgrade', 'Upgrade: websocket', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version: 13')
  return `${lines.join('\r\n')}\r\n\r\n`
}

/** The final response head (1xx interim answers skipped, except 101). */
function finalHead (text: string): { status: number, headers: Record<string, string>, head: string } | undefined {
  let from = 0
  for (;;) {
    const end = text.indexOf('\r\n\r\n', from)
    if (end < 0) return undefined
    const [statusLine = '', ...lines] = text.slice(from, end).split('\r\n')
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine)
    const status = m === null ? -1 : Number(m[1])
    if (status >= 100 && status < 200 && status !== 101) { from = end + 4; continue }
    const headers: Record<string, string> = {}
    for (const l of lines) {
      const c = l.indexOf(':')
      if (c > 0) headers[l.slice(0, c).toLowerCase()] = l.slice(c + 1).trim()
    }
    return { status, headers, head: text.slice(from, Math.min(end + 4, from + 2_000)) }
  }
}

export async function sendPolicyCase (c: PolicyCase, id: string, ep: Endpoint): Promise<{ bytes: string, answer: Answer }> {
  if (c.via === 'h2') return { bytes: JSON.stringify({ host: c.host, headers: headerLines(c, id), body: c.body }).slice(0, 3_000), answer: await sendH2(c, id, ep) }
  const head = policyHead(c, id)
  return { bytes: head, answer: await sendH1(c, head, ep) }
}

function bodyPiece (c: PolicyCase): Buffer {
  if (c.body === 'sent') return Buffer.alloc(c.bodyBytes, 0x62)
  // Announced and never (wholly) sent: a client that stalls mid-body while held.
  if (c.body === 'announced') return Buffer.alloc(Math.floor(c.bodyBytes / 2), 0x62)
  if (c.body === 'chunked-unfinished') return Buffer.from('5\r\nhello\r\n', 'latin1')
  return Buffer.alloc(0)
}

function clientLeaves (c: PolicyCase, started: number, finish: (a: Omit<Answer, 'ms'>) => void): void {
  if (c.leaveAfterMs === undefined) return
  setTimeout(() => { finish({ outcome: 'closed', detail: 'client left' }) }, Math.max(0, c.leaveAfterMs - (Date.now() - started)))
}

async function sendH1 (c: PolicyCase, head: string, ep: Endpoint): Promise<Answer> {
  const started = Date.now()
  return await new Promise<Answer>((resolve) => {
    const s: Socket = c.via === 'h1'
      ? netConnect(ep.port, '127.0.0.1')
      : tlsConnect({ port: ep.httpsPort, host: '127.0.0.1', servername: c.host, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] })
    let got = ''
    let bodySent = false
    const { finish } = answerOnce(started, ep.boundMs, () => { s.destroy() }, resolve, () => ({ outcome: 'timeout', head: got.slice(0, 2_000) }))
    const sendBody = (): void => { if (!bodySent) { bodySent = true; s.write(bodyPiece(c)) } }
    s.on('data', (chunk: Buffer) => {
      got += chunk.toString('latin1')
      // A real client sends its body once told to continue (or after a wait, RFC 9110 §10.1.1).
      if (/^HTTP\/1\.1 100 /.test(got)) sendBody()
      const h = finalHead(got)
      if (h !== undefined) finish({ outcome: 'response', ...h })
    })
    s.on('error', (err: NodeJS.ErrnoException) => { finish({ outcome: got === '' ? 'reset' : 'closed', head: got.slice(0, 2_000), detail: err.code ?? err.message }) })
    s.on('close', () => { finish({ outcome: 'closed', head: got.slice(0, 2_000) }) })
    s.once(c.via === 'h1' ? 'connect' : 'secureConnect', () => {
      s.write(head, 'latin1')
      if (c.expect100) setTimeout(sendBody, 400).unref()
      else sendBody()
      clientLeaves(c, started, finish)
    })
  })
}

async function sendH2 (c: PolicyCase, id: string, ep: Endpoint): Promise<Answer> {
  const started = Date.now()
  let session: ClientHttp2Session | undefined
  return await new Promise<Answer>((resolve) => {
    const { finish } = answerOnce(started, ep.boundMs, () => { session?.destroy() }, resolve, () => ({ outcome: 'timeout' }))
    session = h2connect(`https://127.0.0.1:${ep.httpsPort}`, { servername: c.host, rejectUnauthorized: false })
    session.on('error', (err: NodeJS.ErrnoException) => { finish({ outcome: 'reset', detail: `session: ${err.code ?? err.message}` }) })
    session.on('close', () => { finish({ outcome: 'closed', detail: 'session closed' }) })
    session.once('connect', () => {
      const headers = h2Headers(headerLines(c, id).filter(([n]) => n !== 'expect'), { ':method': c.method, ':path': c.path, ':authority': c.host })
      const stream = fuzzStream(session!, headers, c.body === 'none', finish)
      if (stream === undefined) return
      if (c.body !== 'none') {
        const piece = c.body === 'chunked-unfinished' ? Buffer.from('hello') : bodyPiece(c)
        if (c.body === 'sent') stream.end(piece)
        else stream.write(piece)
      }
      clientLeaves(c, started, finish)
    })
  })
}

/**
 * What a correct proxy answers a policy case; a list of what is wrong (empty: nothing). Only
 * for answers that came before the client left; the proxy's own refusals of a request it could
 * not take at all (431 for a huge Cookie, 413) are fine anywhere.
 */
export function checkPolicyAnswer (c: PolicyCase, a: Answer): Array<{ kind: string, what: string }> {
  const out: Array<{ kind: string, what: string }> = []
  if (a.detail === 'client left' || a.outcome !== 'response' || a.status === undefined) {
    // A held request's client that does not leave gets an answer, not a close.
    if (a.outcome === 'closed' && a.detail !== 'client left' && c.leaveAfterMs === undefined && (c.host === 'paused.test' || c.host === 'maint.test') && !tooBig(c)) {
      out.push({ kind: `${c.host}: closed without an answer`, what: `the connection closed after ${a.ms} ms without a response` })
    }
    return out
  }
  const status = a.status
  const h = a.headers ?? {}
  const mark = h[UPSTREAM_MARK]
  if (status === 431 || status === 413 || status === 414 || status === 400) return out
  // A head beyond the upstream's 16 KiB (HTTP/2 heads may be that large): the upstream refuses it, the proxy answers 502.
  if (tooBig(c) && status === 502) return out
  const retryAfter = status === 503 ? h['retry-after'] : undefined
  if (status === 503 && mark === undefined && (retryAfter === undefined || !/^\d+$/.test(retryAfter))) {
    out.push({ kind: `${c.host}: 503 without Retry-After`, what: `503 ${h['x-proxyctl-error'] ?? ''} without a Retry-After in seconds` })
  }
  switch (c.host) {
    case 'paused.test':
    case 'pulse.test':
      if (a.ms > HOLD_BOUND_MS) out.push({ kind: `${c.host}: held longer than max hold`, what: `answered ${status} after ${a.ms} ms, beyond the max hold ${FUZZ_PAUSE.maxHoldMs} ms + margin (${HOLD_BOUND_MS} ms)` })
      if (c.host === 'paused.test' && mark !== undefined) out.push({ kind: 'paused.test: reached the upstream', what: `the upstream answered ${status} while the host is paused for good` })
      break
    case 'maint.test':
      if (status !== 503 || mark !== undefined || h['x-proxyctl-error'] !== 'PROXY_ERR_MAINTENANCE') {
        out.push({ kind: `maint.test: not the maintenance 503${c.spoof ? ' (spoofed client address)' : ''}`, what: `answered ${status} ${h['x-proxyctl-error'] ?? ''}${mark !== undefined ? ` by upstream ${mark}` : ''}, not 503 PROXY_ERR_MAINTENANCE` })
      }
      break
    case 'maint-allow.test':
      // The recording upstream answers before it has read a body and may reset the connection
      // meanwhile: a 502 for a request with a body is the upstream's doing, not the allow list's.
      if (mark !== 'maint-allow.test' && status !== 408 && !(status === 502 && c.body !== 'none')) out.push({ kind: 'maint-allow.test: allowed client not let through', what: `answered ${status} ${h['x-proxyctl-error'] ?? ''}, not by the upstream (the allow list matches loopback)` })
      break
    case 'canary.test':
      if (mark !== undefined && c.bucket !== undefined && mark !== canarySide(c.bucket)) {
        out.push({ kind: 'canary.test: valid cookie on the wrong version', what: `cookie bucket ${c.bucket} names ${canarySide(c.bucket)}, but ${mark} answered` })
      }
      if (mark !== undefined && mark !== 'canary-old' && mark !== 'canary-new') out.push({ kind: 'canary.test: answered by another upstream', what: `answered by ${mark}` })
      break
  }
  return out
}

/** A head the proxy refuses as too large (431) before any policy applies. */
function tooBig (c: PolicyCase): boolean {
  return c.cookies.reduce((n, v) => n + v.length, 0) + c.path.length > 6_000
}
