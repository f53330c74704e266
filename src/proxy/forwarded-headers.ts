import type { IncomingMessage } from 'node:http'

// Request headers toward the upstream, set the way nginx-proxy's template sets them.

const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade',
  'proxy-authorization', 'proxy-authenticate',
  // Not hop-by-hop, but replaced below or not forwarded (httpoxy: the Proxy header)
  'proxy', 'expect', 'x-real-ip', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host',
  'x-forwarded-port', 'x-forwarded-ssl', 'x-original-uri', 'x-request-id'
])

export interface ForwardContext {
  remoteAddress: string
  scheme: 'http' | 'https'
  serverPort: number
  trustDownstreamProxy: boolean
  /** Keep Connection/Upgrade for WebSocket handshakes. */
  upgrade: boolean
  /** An absolute-form target's authority: it replaces Host (RFC 9112 §3.2.2). */
  authority?: string | undefined
  /** ENABLE_PROXY_PROTOCOL: remoteAddress is the PROXY header's, and X-Forwarded-For is that alone (nginx-proxy's $proxy_protocol_addr). */
  proxyProtocol?: boolean | undefined
}

/** Names listed in a Connection header are hop-by-hop too (RFC 9110 §7.6.1). */
function connectionTokens (value: string | undefined): Set<string> | undefined {
  if (value === undefined || value === '') return undefined
  // The usual values name no field: answered without splitting (0.4 % self time in the CPU profile).
  if (value === 'keep-alive' || value === 'close' || value === 'Keep-Alive' || value === 'Close' || value === 'upgrade' || value === 'Upgrade') return undefined
  const tokens = new Set<string>()
  for (const t of value.split(',')) {
    const name = t.trim().toLowerCase()
    if (name !== '' && name !== 'close' && name !== 'keep-alive' && name !== 'upgrade') tokens.add(name)
  }
  return tokens.size > 0 ? tokens : undefined
}

/** Flat [name, value, ...] list for undici, in the client's order. */
export function upstreamRequestHeaders (req: IncomingMessage, ctx: ForwardContext): string[] {
  const raw = req.rawHeaders
  const named = connectionTokens(req.headers.connection)
  const out: string[] = []
  let hasHost = false
  // HTTP/2 clients may split Cookie into one field per pair; HTTP/1.1 allows one (RFC 9113 §8.2.3).
  let cookies: string[] | undefined
  const h2 = req.httpVersionMajor === 2
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!
    if (name.charCodeAt(0) === 58) continue // HTTP/2 pseudo-headers (:method, :authority...)
    const lower = name.toLowerCase()
    if (HOP_BY_HOP.has(lower) || named?.has(lower) === true) continue
    if (lower === 'host') {
      if (hasHost || ctx.authority !== undefined) continue // one Host, and the target's when absolute-form
      hasHost = true
    }
    if (h2 && lower === 'cookie') { (cookies ??= []).push(raw[i + 1]!); continue }
    out.push(name, raw[i + 1]!)
  }
  if (cookies !== undefined) out.push('cookie', cookies.join('; '))
  const h = req.headers
  const authority = ctx.authority ?? h[':authority'] as string | undefined
  if (!hasHost && authority !== undefined) out.push('Host', authority)
  const remote = ctx.remoteAddress
  const trust = ctx.trustDownstreamProxy
  const first = (v: string | string[] | undefined): string | undefined => Array.isArray(v) ? v[0] : v
  const incomingFor = trust && ctx.proxyProtocol !== true ? h['x-forwarded-for'] : undefined
  const proto = (trust ? first(h['x-forwarded-proto']) : undefined) ?? ctx.scheme
  out.push(
    'X-Real-IP', remote,
    'X-Forwarded-For', incomingFor !== undefined && incomingFor !== '' ? `${String(incomingFor)}, ${remote}` : remote,
    'X-Forwarded-Host', (trust ? first(h['x-forwarded-host']) : undefined) ?? ctx.authority ?? h.host ?? authority ?? '',
    'X-Forwarded-Proto', proto,
    'X-Forwarded-Ssl', proto === 'https' ? 'on' : 'off',
    'X-Forwarded-Port', (trust ? first(h['x-forwarded-port']) : undefined) ?? String(ctx.serverPort),
    'X-Original-URI', originalUri(req.url ?? '/')
  )
  if (ctx.upgrade) out.push('Connection', 'upgrade', 'Upgrade', String(h.upgrade ?? ''))
  return out
}

/** nginx's $request_uri: the target as sent, without the scheme and authority of an absolute-form one. */
function originalUri (target: string): string {
  if (target.startsWith('/')) return target
  const m = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(target)
  const rest = m === null ? target : target.slice(m[0].length)
  return rest === '' ? '/' : rest.startsWith('/') ? rest : `/${rest}`
}

const RESPONSE_HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade'])

/**
 * Upstream raw response headers (undici Buffers) -> flat list for res.writeHead, hop-by-hop removed,
 * and the fields of `ours` (flat [name, value, ...], e.g. X-Request-ID) in place of the upstream's
 * fields of those names.
 */
export function downstreamResponseHeaders (raw: Buffer[], ours?: readonly string[]): { headers: string[], eventStream: boolean, contentLength: number } {
  // At most two names (X-Request-ID, Strict-Transport-Security): compared without a Set.
  const ours0 = ours !== undefined && ours.length > 0 ? ours[0]!.toLowerCase() : undefined
  const ours1 = ours !== undefined && ours.length > 2 ? ours[2]!.toLowerCase() : undefined
  if (ours !== undefined && ours.length > 4) return responseHeadersNamed(raw, ours)
  const headers: string[] = []
  let eventStream = false
  let contentLength = -1
  for (let i = 0; i < raw.length; i += 2) {
    const name = knownName(raw[i]!)
    // Names a Connection header lists are hop-by-hop too: rare, left to the general path.
    if (name.role === ROLE_CONNECTION) {
      if (connectionTokens(valueOf(name, raw[i + 1]!)) !== undefined) return responseHeadersNamed(raw, ours)
      continue
    }
    if (name.hopByHop) continue
    const value = valueOf(name, raw[i + 1]!)
    if (name.role === ROLE_CONTENT_TYPE) { if (value.startsWith('text/event-stream')) eventStream = true } else if (name.role === ROLE_CONTENT_LENGTH) contentLength = Number(value)
    if (name.lower !== ours0 && name.lower !== ours1) headers.push(name.name, value)
  }
  if (ours !== undefined) for (const field of ours) headers.push(field)
  return { headers, eventStream, contentLength }
}

/** downstreamResponseHeaders when a Connection header names fields to drop as well. */
function responseHeadersNamed (raw: Buffer[], ours: readonly string[] | undefined): { headers: string[], eventStream: boolean, contentLength: number } {
  let named: Set<string> | undefined
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === 10 && raw[i]!.toString('latin1').toLowerCase() === 'connection') {
      named = connectionTokens(raw[i + 1]!.toString('latin1'))
    }
  }
  const headers: string[] = []
  let eventStream = false
  let contentLength = -1
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toString('latin1')
    const lower = name.toLowerCase()
    if (RESPONSE_HOP_BY_HOP.has(lower) || named?.has(lower) === true) continue
    const value = raw[i + 1]!.toString('latin1')
    if (lower === 'content-type' && value.startsWith('text/event-stream')) eventStream = true
    else if (lower === 'content-length') contentLength = Number(value)
    headers.push(name, value)
  }
  if (ours !== undefined) {
    // Ours replace the upstream's (e.g. an X-Request-ID the app echoed).
    for (let i = 0; i < ours.length; i += 2) {
      const name = ours[i]!.toLowerCase()
      for (let j = headers.length - 2; j >= 0; j -= 2) if (headers[j]!.toLowerCase() === name) headers.splice(j, 2)
    }
    headers.push(...ours)
  }
  return { headers, eventStream, contentLength }
}

// Response field names an upstream sends are few and the same on every response (Server, Date,
// Content-Type...): each is decoded once and then recognised by comparing bytes, with the last
// value seen for it (Date changes once a second, most others never). Decoding a Buffer is a call
// into C++ (~70 ns a field); comparing a few bytes in JS is ~13 ns. Bounded: MAX_NAMES names of
// at most MAX_CACHED bytes, values of at most MAX_CACHED bytes; others are decoded every time.

const ROLE_OTHER = 0
const ROLE_CONNECTION = 1
const ROLE_CONTENT_TYPE = 2
const ROLE_CONTENT_LENGTH = 3
const MAX_NAMES = 64
const MAX_CACHED = 64

interface KnownName {
  readonly bytes: Uint8Array
  readonly name: string
  readonly lower: string
  readonly hopByHop: boolean
  readonly role: number
  /** The last value seen (its first valueLength bytes), and its string; -1: none. */
  readonly value: Uint8Array
  valueLength: number
  valueString: string
}

/** Known names by byte length. */
const knownNames: Array<KnownName[] | undefined> = []
let knownCount = 0

function sameBytes (a: Uint8Array, b: Uint8Array, length: number): boolean {
  for (let i = 0; i < length; i++) if (a[i] !== b[i]) return false
  return true
}

function knownName (buf: Buffer): KnownName {
  const length = buf.length
  const candidates = knownNames[length]
  if (candidates !== undefined) {
    for (const k of candidates) if (sameBytes(k.bytes, buf, length)) return k
  }
  const name = buf.toString('latin1')
  const lower = name.toLowerCase()
  const k: KnownName = {
    bytes: Uint8Array.from(buf),
    name,
    lower,
    hopByHop: RESPONSE_HOP_BY_HOP.has(lower),
    role: lower === 'connection' ? ROLE_CONNECTION : lower === 'content-type' ? ROLE_CONTENT_TYPE : lower === 'content-length' ? ROLE_CONTENT_LENGTH : ROLE_OTHER,
    value: new Uint8Array(MAX_CACHED),
    valueLength: -1,
    valueString: ''
  }
  if (length <= MAX_CACHED && knownCount < MAX_NAMES) {
    (knownNames[length] ??= []).push(k)
    knownCount++
  }
  return k
}

function valueOf (k: KnownName, buf: Buffer): string {
  const length = buf.length
  if (length === k.valueLength && sameBytes(k.value, buf, length)) return k.valueString
  const value = buf.toString('latin1')
  if (length <= MAX_CACHED) {
    k.value.set(buf)
    k.valueLength = length
    k.valueString = value
  }
  return value
}

const PRIVATE_V4 = [
  [0x7f000000, 0xff000000], // 127.0.0.0/8
  [0x0a000000, 0xff000000], // 10.0.0.0/8
  [0xac100000, 0xfff00000], // 172.16.0.0/12
  [0xc0a80000, 0xffff0000] // 192.168.0.0/16
] as const

/** nginx-proxy's network_internal.conf ranges (NETWORK_ACCESS=internal). */
export function isInternalAddress (address: string): boolean {
  let a = address
  if (a.startsWith('::ffff:') && a.includes('.')) a = a.slice(7)
  if (a.includes('.')) {
    const parts = a.split('.').map(Number)
    if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) return false
    const n = ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0
    return PRIVATE_V4.some(([net, mask]) => ((n & mask) >>> 0) === net)
  }
  const lower = a.toLowerCase()
  return lower === '::1' || /^f[cd][0-9a-f]{2}:/.test(lower) || /^fe[89ab][0-9a-f]:/.test(lower)
}
