// fast-check arbitraries for hostile requests, and their serialization to the bytes on the wire.
// Cases are structured (so that fast-check shrinks them to something readable), then serialized;
// a few byte-level mutations on top cover what the structure cannot say.
import fc from 'fast-check'
import { FUZZ_AUTH, FUZZ_HOSTS, FUZZ_ID_HEADER, POLICY_HOSTS } from './fuzz-protocol.ts'
import { policyCase, type PolicyCase } from './fuzz-policy.ts'

export type Framing =
  | { kind: 'none' }
  | { kind: 'content-length', lengths: string[] }
  | { kind: 'chunked', te: string, sizes: 'good' | 'bad-size' | 'missing-crlf' | 'unterminated' | 'trailers', badSize: string }
  | { kind: 'te-and-cl', te: string, cl: string }
  | { kind: 'smuggle' }

export type Upgrade = 'none' | 'websocket' | 'websocket-no-connection' | 'h2c' | 'junk'
export type Mutation = { op: 'set' | 'insert' | 'delete' | 'truncate' | 'duplicate', at: number, byte: number, len: number }

export interface H1Request {
  method: string
  target: string
  version: string
  hosts: string[]
  headers: Array<[string, string]>
  padHeaders: number
  upgrade: Upgrade
  framing: Framing
  body: string
  mutations: Mutation[]
  /** Cut points: the bytes go out in pieces, a few ms apart (parsers across packet edges). */
  splits: number[]
  /** End the write side after sending (else the connection stays open, as a slow client's). */
  halfClose: boolean
}

export type FuzzCase =
  | { kind: 'h1', transport: 'tcp' | 'tls', servername: string, req: H1Request }
  | { kind: 'h2', servername: string, headers: Array<[string, string]>, body: string | undefined, reset: 'none' | 'immediately' | 'after-response-starts' | 'mid-body', resetCode: number }
  | { kind: 'h2-frames', servername: string, headers: Array<[string, string]>, endStream: boolean, body: string, frames: RawFrame[] }
  | PolicyCase

export interface RawFrame { type: number, flags: number, stream: number, payload: string }

const latin1 = (max: number, min = 0): fc.Arbitrary<string> =>
  fc.array(fc.integer({ min: 0, max: 255 }), { minLength: min, maxLength: max }).map((a) => String.fromCharCode(...a))
const token = (max: number): fc.Arbitrary<string> => fc.stringMatching(new RegExp(`^[A-Za-z0-9!#$%&'*+.^_\`|~-]{1,${max}}$`))
const b64 = (s: string): string => Buffer.from(s, 'latin1').toString('base64')

export const method = fc.oneof(
  { weight: 10, arbitrary: fc.constantFrom('GET', 'GET', 'GET', 'POST', 'PUT', 'HEAD', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT', 'PATCH') },
  { weight: 2, arbitrary: fc.constantFrom('PRI', 'get', 'G ET', 'GET\t', '', 'M-SEARCH', 'PROPFIND', 'QUERY', 'SOURCE', 'LINK', '\x00GET', 'GET\x00', 'GET GET') },
  { weight: 1, arbitrary: token(12) },
  { weight: 1, arbitrary: latin1(8) }
)

const segment = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('', 'a', 'v2', 'api', 'ws', '..', '.', '%2e%2e', '%2E%2e', '.%2e', '%2e', '%2f', '%2F..', '%5c..', '%', '%z', '%zz', '%0', '%00', '%0d%0a', '%ff', '%c0%ae%c0%ae', '..;', '~', 'token', '\\..', ';', '*', '@', ':') },
  { weight: 2, arbitrary: token(8) },
  { weight: 1, arbitrary: latin1(6) }
)
const query = fc.constantFrom('', '', '', '?', '?q=1', '?a=%zz', '?x=../..', '#f', '?%00', '?a=1&a=2', '?\x7f')
export const path = fc.tuple(
  fc.constantFrom('/', '/', '/api', '/api/', '/apix', '/.well-known/acme-challenge/', '//', '', '/v2/', '/ws/'),
  fc.array(segment, { maxLength: 5 }),
  query
).map(([p, segs, q]) => p + segs.join('/') + q)

export const hostJunk = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom('', ' ', 'PLAIN.TEST', 'plain.test.', 'plain.test:80', 'plain.test:', 'plain.test:x', 'plain.test:99999999999', '[::1]', '[::1]:80',
      '[', '[::1', ']', '[/', '[plain.test]', 'plain.test, api.test', 'plain.test api.test', 'unknown.test', 'localhost', '127.0.0.1', 'plain.test/x',
      'user@plain.test', '*.test', '.', '..', '-', '_', 'plain..test', 'plain.test\t', '%70lain.test', 'ws.test:443:443', 'WS.TEST.')
  },
  { weight: 2, arbitrary: fc.integer({ min: 240, max: 1_200 }).map((n) => ('a'.repeat(60) + '.').repeat(Math.ceil(n / 61)).slice(0, n)) },
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom(...FUZZ_HOSTS), latin1(3, 1)).map(([h, j]) => h + j) },
  { weight: 1, arbitrary: latin1(12) }
)
export const hostValue = fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...FUZZ_HOSTS) }, { weight: 1, arbitrary: fc.constantFrom(...POLICY_HOSTS) }, { weight: 3, arbitrary: hostJunk })

export const target = fc.oneof(
  { weight: 8, arbitrary: path },
  {
    weight: 4,
    arbitrary: fc.tuple(fc.constantFrom('http://', 'http://', 'https://', 'HTTP://', 'ws://', 'ftp://', 'http:', 'http:/', '//'), hostValue, fc.constantFrom('', '', ':80', ':443', ':0', ':99999', ':x'), path)
      .map((x) => x.join(''))
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom('http://[/', 'http://[', 'http://[::1', 'http://[::1]/', 'http://]/', 'http://[::1]:80/', 'http://user:pass@plain.test/', 'http://plain.test@evil.test/',
      'http://%70lain.test/', 'http://plain.test:80@x/', 'http://', 'http:///', 'http://plain.test', 'http://plain.test?x', 'http://plain.test#x', 'http://[fe80::1%25eth0]/',
      'http://ws.test/%', 'http://api.test/api/../..', 'http://[::1]]/', 'http://a b/', 'http://plain.test\\@evil/', 'http://xn--/')
  },
  { weight: 1, arbitrary: fc.tuple(hostValue, fc.constantFrom(':443', ':80', '', ':')).map(([h, p]) => h + p) },
  { weight: 1, arbitrary: fc.constantFrom('*', '**', '*/x', '*?', '') },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.constantFrom('/', '/api/', 'http://plain.test/', 'http://[/'), fc.integer({ min: 1_000, max: 12_000 }), fc.constantFrom('a', '../', '%2e%2e/', '%', '/'))
      .map(([p, n, u]) => p + u.repeat(Math.ceil(n / u.length)))
  },
  { weight: 1, arbitrary: latin1(20) }
)

export const version = fc.oneof(
  { weight: 14, arbitrary: fc.constant('HTTP/1.1') },
  { weight: 3, arbitrary: fc.constantFrom('HTTP/1.0', 'HTTP/2.0', 'HTTP/0.9', '', 'HTTP/1.1 ', 'http/1.1', 'HTTP/9.9', 'HTTP/1.10', 'HTTP/1', 'HTTP/1.1\x00', 'HTTP/1.1 x') }
)

const headerName = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom('Content-Length', 'Transfer-Encoding', 'Connection', 'Upgrade', 'Expect', 'TE', 'Trailer', 'X-Forwarded-For', 'X-Forwarded-Host',
      'X-Forwarded-Proto', 'X-Forwarded-Port', 'Forwarded', 'X-Real-IP', 'X-Request-ID', 'Authorization', 'Cookie', 'Proxy-Connection', 'Keep-Alive',
      'Proxy-Authorization', 'Sec-WebSocket-Key', 'Sec-WebSocket-Version', 'Sec-WebSocket-Protocol', 'Content-Type', 'Range', 'Via', 'Max-Forwards',
      'HTTP2-Settings', ':authority', ':path', 'Host ', ' Host', 'Host', 'X-Fuzz-Id')
  },
  { weight: 2, arbitrary: token(20) },
  { weight: 1, arbitrary: latin1(8) }
)
const headerValue = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom('', ' ', 'chunked', 'close', 'keep-alive', 'upgrade', 'Upgrade, close', 'websocket', 'h2c', '100-continue', 'trailers', '0', '-1', '1e3',
      'host', 'X-Forwarded-For', 'upgrade, X-Request-ID', `Basic ${b64(`${FUZZ_AUTH.user}:${FUZZ_AUTH.password}`)}`, 'Basic !!!', 'Basic Zm9v', `Basic ${b64(`${FUZZ_AUTH.user}:x`)}`,
      `Basic ${b64('nobody:' + 'p'.repeat(500))}`, 'Bearer x', '127.0.0.1, 10.0.0.1', 'for=1.2.3.4;proto=https', 'https', 'a\r\n folded', 'a\r\n\tfolded',
      'a\x00b', 'a\rb', 'a\nb', 'a\r\nInjected: 1', '\u00ff\u00fe', 'bytes=0-1,2-3', '../../etc/passwd')
  },
  { weight: 2, arbitrary: fc.string({ maxLength: 30 }) },
  { weight: 2, arbitrary: latin1(20) },
  { weight: 1, arbitrary: fc.integer({ min: 4_000, max: 20_000 }).map((n) => 'v'.repeat(n)) }
)
export const headers = fc.array(fc.tuple(headerName, headerValue), { maxLength: 6 })

const framing: fc.Arbitrary<Framing> = fc.oneof(
  { weight: 10, arbitrary: fc.constant({ kind: 'none' as const }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('content-length' as const), lengths: fc.array(fc.oneof(fc.constant('=') /* the body's length */, fc.constantFrom('0', '-1', '1,1', '0x10', ' 5', '99999999999999999999', '+5', '5 5', '', '3', '100')), { minLength: 1, maxLength: 2 }) }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('chunked' as const),
      te: fc.oneof({ weight: 5, arbitrary: fc.constant('chunked') }, { weight: 2, arbitrary: fc.constantFrom('chunked, identity', 'identity', 'gzip, chunked', 'chunked, gzip', ' chunked', 'xchunked', 'Chunked', 'chunked\x0b', 'chunked, chunked') }),
      sizes: fc.constantFrom('good', 'good', 'bad-size', 'missing-crlf', 'unterminated', 'trailers'),
      badSize: fc.constantFrom('zz', '-1', 'ffffffffffffffffffff', '5;ext=1', ' 5', '0x5', '5 ', '', '\x00')
    })
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('te-and-cl' as const), te: fc.constantFrom('chunked', 'chunked, identity', 'identity'), cl: fc.constantFrom('0', '4', '=', '100') }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'smuggle' as const }) }
)
const body = fc.oneof({ weight: 6, arbitrary: fc.constant('') }, { weight: 3, arbitrary: latin1(40) }, { weight: 1, arbitrary: fc.integer({ min: 1_000, max: 200_000 }).map((n) => 'b'.repeat(n)) })
const mutation: fc.Arbitrary<Mutation> = fc.record({
  op: fc.constantFrom('set', 'insert', 'delete', 'truncate', 'duplicate'),
  at: fc.nat(),
  byte: fc.oneof(fc.constantFrom(0x00, 0x0d, 0x0a, 0x20, 0x09, 0x3a, 0x7f, 0xff, 0x0b), fc.integer({ min: 0, max: 255 })),
  len: fc.integer({ min: 1, max: 16 })
})

export const h1Request: fc.Arbitrary<H1Request> = fc.record({
  method,
  target,
  version,
  hosts: fc.oneof({ weight: 8, arbitrary: hostValue.map((h) => [h]) }, { weight: 1, arbitrary: fc.constant<string[]>([]) }, { weight: 2, arbitrary: fc.array(hostValue, { minLength: 2, maxLength: 3 }) }),
  headers,
  padHeaders: fc.oneof({ weight: 20, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 50, max: 400 }) }),
  upgrade: fc.oneof({ weight: 6, arbitrary: fc.constant('none' as const) }, { weight: 5, arbitrary: fc.constant('websocket' as const) }, { weight: 1, arbitrary: fc.constantFrom('websocket-no-connection' as const, 'h2c' as const, 'junk' as const) }),
  framing,
  body,
  mutations: fc.oneof({ weight: 7, arbitrary: fc.constant<Mutation[]>([]) }, { weight: 3, arbitrary: fc.array(mutation, { minLength: 1, maxLength: 3 }) }),
  splits: fc.oneof({ weight: 8, arbitrary: fc.constant<number[]>([]) }, { weight: 1, arbitrary: fc.array(fc.nat(), { minLength: 1, maxLength: 3 }) }),
  halfClose: fc.oneof({ weight: 9, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) })
})

const servername = fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...FUZZ_HOSTS) }, { weight: 1, arbitrary: fc.constantFrom(...POLICY_HOSTS) }, { weight: 1, arbitrary: fc.constantFrom('unknown.test', 'a'.repeat(250), 'PLAIN.TEST', 'x.y') })

const h2Pseudo = fc.record({
  ':method': fc.option(fc.oneof({ weight: 6, arbitrary: fc.constantFrom('GET', 'GET', 'POST', 'HEAD', 'PUT', 'OPTIONS', 'CONNECT', 'TRACE') }, { weight: 1, arbitrary: method })),
  ':path': fc.option(target, { freq: 12 }),
  ':authority': fc.option(hostValue, { freq: 6 }),
  ':scheme': fc.option(fc.constantFrom('https', 'https', 'http', '', 'ws', 'junk'), { freq: 8 }),
  ':protocol': fc.option(fc.constantFrom('websocket', 'x'), { freq: 1, nil: undefined })
}, { requiredKeys: [] })
const h2Headers = fc.tuple(h2Pseudo, fc.array(fc.tuple(headerName.map((n) => n.toLowerCase()), headerValue), { maxLength: 5 }))
  .map(([p, rest]) => [...Object.entries(p).filter((e): e is [string, string] => typeof e[1] === 'string'), ...rest])

export const h2Case = fc.record({
  kind: fc.constant('h2' as const),
  servername,
  headers: h2Headers,
  body: fc.option(body, { nil: undefined }),
  reset: fc.oneof({ weight: 6, arbitrary: fc.constant('none' as const) }, { weight: 1, arbitrary: fc.constantFrom('immediately' as const, 'after-response-starts' as const, 'mid-body' as const) }),
  resetCode: fc.constantFrom(0, 1, 2, 8, 0xd)
})

const rawFrame: fc.Arbitrary<RawFrame> = fc.record({
  type: fc.oneof(fc.integer({ min: 0, max: 9 }), fc.integer({ min: 0, max: 255 })),
  flags: fc.integer({ min: 0, max: 255 }),
  stream: fc.constantFrom(0, 1, 1, 2, 3, 0x7fffffff),
  payload: latin1(24)
})
export const h2FramesCase = fc.record({
  kind: fc.constant('h2-frames' as const),
  servername,
  // Unlike Node's client, raw frames can carry what HPACK allows and HTTP/2 forbids.
  headers: fc.tuple(h2Headers, fc.array(fc.tuple(fc.oneof(headerName, latin1(6)), headerValue), { maxLength: 3 })).map(([a, b]) => [...a, ...b]),
  endStream: fc.boolean(),
  body: latin1(40),
  frames: fc.array(rawFrame, { maxLength: 3 })
})

export const fuzzCase = (kinds: ReadonlySet<string>): fc.Arbitrary<FuzzCase> => {
  const all: Array<{ kind: string, weight: number, arbitrary: fc.Arbitrary<FuzzCase> }> = [
    { kind: 'h1', weight: 10, arbitrary: fc.record({ kind: fc.constant('h1' as const), transport: fc.constant('tcp' as const), servername: fc.constant(''), req: h1Request }) },
    { kind: 'h1-tls', weight: 3, arbitrary: fc.record({ kind: fc.constant('h1' as const), transport: fc.constant('tls' as const), servername, req: h1Request }) },
    { kind: 'h2', weight: 5, arbitrary: h2Case },
    { kind: 'h2-frames', weight: 2, arbitrary: h2FramesCase },
    // Issue 13's traffic policy: paused, maintenance and canary hosts (fuzz-policy.ts). A held
    // case keeps its batch waiting for the max hold: weights kept low so that the other kinds
    // still get most of the time.
    { kind: 'policy', weight: 4, arbitrary: policyCase }
  ]
  const chosen = all.filter((a) => kinds.has(a.kind))
  if (chosen.length === 0) throw new Error(`FUZZ_KINDS selects nothing; choose from ${all.map((a) => a.kind).join(', ')}`)
  return fc.oneof(...chosen.map(({ weight, arbitrary }) => ({ weight, arbitrary })))
}

// Serialization

function framed (f: Framing, body: string, id: string): { lines: string[], payload: string } {
  switch (f.kind) {
    case 'none': return { lines: [], payload: '' }
    case 'content-length': return { lines: f.lengths.map((l) => `Content-Length: ${l === '=' ? body.length : l}`), payload: body }
    case 'chunked': {
      const lines = [`Transfer-Encoding: ${f.te}`]
      const chunk = body === '' ? '' : `${body.length.toString(16)}\r\n${body}\r\n`
      if (f.sizes === 'good') return { lines, payload: `${chunk}0\r\n\r\n` }
      if (f.sizes === 'trailers') return { lines, payload: `${chunk}0\r\nX-Trailer: t\r\nHost: evil.test\r\n\r\n` }
      if (f.sizes === 'bad-size') return { lines, payload: `${f.badSize}\r\n${body}\r\n0\r\n\r\n` }
      if (f.sizes === 'missing-crlf') return { lines, payload: `${(body.length + 1).toString(16)}\r\n${body}0\r\n\r\n` }
      return { lines, payload: chunk }
    }
    case 'te-and-cl': return { lines: [`Transfer-Encoding: ${f.te}`, `Content-Length: ${f.cl === '=' ? body.length + 5 : f.cl}`], payload: `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n` }
    case 'smuggle': {
      const inner = `GET /smuggled HTTP/1.1\r\nHost: plain.test\r\n${FUZZ_ID_HEADER}: ${id}s\r\n\r\n`
      const payload = `0\r\n\r\n${inner}`
      return { lines: ['Transfer-Encoding: chunked', `Content-Length: ${payload.length}`], payload }
    }
  }
}

function upgradeLines (u: Upgrade): string[] {
  const ws = ['Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version: 13']
  switch (u) {
    case 'none': return []
    case 'websocket': return ['Upgrade: websocket', 'Connection: Upgrade', ...ws]
    case 'websocket-no-connection': return ['Upgrade: websocket', ...ws]
    case 'h2c': return ['Upgrade: h2c', 'Connection: Upgrade, HTTP2-Settings', 'HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA']
    case 'junk': return ['Upgrade: \x01junk/1', 'Connection: upgrade']
  }
}

function mutate (bytes: string, mutations: Mutation[]): string {
  let s = bytes
  for (const m of mutations) {
    const at = s.length === 0 ? 0 : m.at % s.length
    const b = String.fromCharCode(m.byte)
    if (m.op === 'set') s = s.slice(0, at) + b + s.slice(at + 1)
    else if (m.op === 'insert') s = s.slice(0, at) + b + s.slice(at)
    else if (m.op === 'delete') s = s.slice(0, at) + s.slice(at + m.len)
    else if (m.op === 'truncate') s = s.slice(0, at)
    else s = s.slice(0, at + m.len) + s.slice(at, at + m.len) + s.slice(at + m.len)
  }
  return s
}

/** The marker line is first, so that junk later in the head does not hide it. */
export function h1Bytes (r: H1Request, id: string): string {
  const line = r.version === '' ? `${r.method} ${r.target}` : `${r.method} ${r.target} ${r.version}`
  const { lines, payload } = framed(r.framing, r.body, id)
  const head = [
    line,
    `${FUZZ_ID_HEADER}: ${id}`,
    ...r.hosts.map((h) => `Host: ${h}`),
    ...r.headers.map(([n, v]) => `${n}: ${v}`),
    ...Array.from({ length: r.padHeaders }, (_, i) => `X-Pad-${i}: ${'p'.repeat(40)}`),
    ...upgradeLines(r.upgrade),
    ...lines
  ]
  return mutate(`${head.join('\r\n')}\r\n\r\n${payload}`, r.mutations)
}

// HTTP/2 frames by hand (RFC 9113 §4.1) with HPACK literals (RFC 7541 §6.2.2, no Huffman).

function hpackInt (value: number, prefixBits: number, first: number): number[] {
  const max = (1 << prefixBits) - 1
  if (value < max) return [first | value]
  const out = [first | max]
  let v = value - max
  while (v >= 128) { out.push((v % 128) + 128); v = Math.floor(v / 128) }
  out.push(v)
  return out
}

export function hpackLiterals (headers: Array<[string, string]>): Buffer {
  const out: number[] = []
  for (const [n, v] of headers) {
    const name = Buffer.from(n, 'latin1')
    const value = Buffer.from(v, 'latin1')
    out.push(0x00, ...hpackInt(name.length, 7, 0), ...name, ...hpackInt(value.length, 7, 0), ...value)
  }
  return Buffer.from(out)
}

export function frame (type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(9)
  h.writeUIntBE(payload.length, 0, 3)
  h[3] = type
  h[4] = flags
  h.writeUInt32BE(stream >>> 0 & 0x7fffffff, 5)
  return Buffer.concat([h, payload])
}

export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1')

export function h2FrameBytes (c: Extract<FuzzCase, { kind: 'h2-frames' }>, id: string): Buffer {
  const END_STREAM = 0x1
  const END_HEADERS = 0x4
  const headerBlock = hpackLiterals([...c.headers, [FUZZ_ID_HEADER, id]])
  return Buffer.concat([
    H2_PREFACE,
    frame(0x4, 0, 0, Buffer.alloc(0)),
    frame(0x1, END_HEADERS | (c.endStream ? END_STREAM : 0), 1, headerBlock),
    ...(c.endStream ? [] : [frame(0x0, END_STREAM, 1, Buffer.from(c.body, 'latin1'))]),
    ...c.frames.map((f) => frame(f.type, f.flags, f.stream, Buffer.from(f.payload, 'latin1')))
  ])
}
