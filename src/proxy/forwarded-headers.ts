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

/** Upstream raw response headers (undici Buffers) -> flat list for res.writeHead, hop-by-hop removed. */
export function downstreamResponseHeaders (raw: Buffer[]): { headers: string[], eventStream: boolean, contentLength: number } {
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
  return { headers, eventStream, contentLength }
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
