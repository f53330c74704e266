import { isIPv4, isIPv6 } from 'node:net'

// The PROXY protocol header a load balancer puts before the client's bytes (haproxy's
// proxy-protocol.txt, versions 1 and 2), read as nginx's `listen ... proxy_protocol` reads it
// (nginx-proxy's ENABLE_PROXY_PROTOCOL). Pure: bytes in, a verdict out. Anything that is not a
// well-formed header is 'invalid' and the connection is closed; the edge never guesses.

export interface ProxyPeer { address: string, port: number, family: 'IPv4' | 'IPv6' }

export type ProxyHeader =
  | { kind: 'incomplete' }
  | { kind: 'invalid', reason: string }
  /** `peer` undefined: LOCAL, UNKNOWN or an address family without one (the connection's own address applies). */
  | { kind: 'header', length: number, peer: ProxyPeer | undefined }

/** v1: "PROXY TCP6 <39> <39> 65535 65535\r\n" is the longest line the spec allows. */
export const MAX_V1_BYTES = 107
/** v2: the 16-byte preamble plus its length; TLVs (ignored) fit well within it. nginx reads the header from its 1 KiB client_header_buffer. */
export const MAX_V2_BYTES = 4_096

const V1_PREFIX = Buffer.from('PROXY ', 'latin1')
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a])

/** Reads the header at the start of `data`; `length` is how many bytes it took (the rest is the client's). */
export function parseProxyHeader (data: Buffer): ProxyHeader {
  if (data.length === 0) return { kind: 'incomplete' }
  if (data[0] === V1_PREFIX[0]) return parseV1(data)
  if (data[0] === V2_SIGNATURE[0]) return parseV2(data)
  return { kind: 'invalid', reason: 'no PROXY protocol signature' }
}

function prefixMatches (data: Buffer, prefix: Buffer): boolean {
  const n = Math.min(data.length, prefix.length)
  return data.subarray(0, n).equals(prefix.subarray(0, n))
}

function parseV1 (data: Buffer): ProxyHeader {
  if (!prefixMatches(data, V1_PREFIX)) return { kind: 'invalid', reason: 'no PROXY protocol signature' }
  const lf = data.subarray(0, MAX_V1_BYTES).indexOf(0x0a)
  if (lf < 0) return data.length >= MAX_V1_BYTES ? { kind: 'invalid', reason: 'v1 line too long' } : { kind: 'incomplete' }
  if (data[lf - 1] !== 0x0d) return { kind: 'invalid', reason: 'v1 line not ended by CRLF' }
  const length = lf + 1
  const fields = data.toString('latin1', V1_PREFIX.length, lf - 1).split(' ')
  // "UNKNOWN" may be followed by anything up to the CRLF; the receiver ignores it.
  if (fields[0] === 'UNKNOWN') return { kind: 'header', length, peer: undefined }
  if (fields.length !== 5) return { kind: 'invalid', reason: 'v1 line malformed' }
  const [proto, src, dst, srcPort, dstPort] = fields as [string, string, string, string, string]
  const family = proto === 'TCP4' ? 'IPv4' : proto === 'TCP6' ? 'IPv6' : undefined
  if (family === undefined) return { kind: 'invalid', reason: 'v1 protocol unknown' }
  const valid = family === 'IPv4' ? isIPv4 : isIPv6
  const port = parsePort(srcPort)
  if (!valid(src) || !valid(dst) || port === undefined || parsePort(dstPort) === undefined) {
    return { kind: 'invalid', reason: 'v1 address or port malformed' }
  }
  return { kind: 'header', length, peer: { address: family === 'IPv6' ? canonicalIPv6(src) : src, port, family } }
}

function parsePort (text: string): number | undefined {
  if (!/^(0|[1-9][0-9]{0,4})$/.test(text)) return undefined
  const n = Number(text)
  return n <= 65_535 ? n : undefined
}

function parseV2 (data: Buffer): ProxyHeader {
  if (!prefixMatches(data, V2_SIGNATURE)) return { kind: 'invalid', reason: 'no PROXY protocol signature' }
  if (data.length < 16) return { kind: 'incomplete' }
  const versionCommand = data[12]!
  const command = versionCommand & 0x0f
  if ((versionCommand & 0xf0) !== 0x20 || command > 1) return { kind: 'invalid', reason: 'v2 version or command unknown' }
  const length = 16 + data.readUInt16BE(14)
  if (length > MAX_V2_BYTES) return { kind: 'invalid', reason: 'v2 header too large' }
  if (data.length < length) return { kind: 'incomplete' }
  // LOCAL (health checks from the balancer itself): the connection's own address.
  if (command === 0) return { kind: 'header', length, peer: undefined }
  const body = data.subarray(16, length)
  switch (data[13]) {
    case 0x11: // TCP over IPv4: src(4) dst(4) srcPort(2) dstPort(2)
      if (body.length < 12) return { kind: 'invalid', reason: 'v2 address block too short' }
      return { kind: 'header', length, peer: { address: [...body.subarray(0, 4)].join('.'), port: body.readUInt16BE(8), family: 'IPv4' } }
    case 0x21: // TCP over IPv6: src(16) dst(16) srcPort(2) dstPort(2)
      if (body.length < 36) return { kind: 'invalid', reason: 'v2 address block too short' }
      return { kind: 'header', length, peer: { address: ipv6FromBytes(body.subarray(0, 16)), port: body.readUInt16BE(32), family: 'IPv6' } }
    default:
      // UNSPEC, UDP and unix sockets carry no TCP client address; nginx skips them the same way.
      return { kind: 'header', length, peer: undefined }
  }
}

function ipv6FromBytes (bytes: Buffer): string {
  const groups: number[] = []
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i))
  return formatIPv6(groups)
}

/** RFC 5952 text (lower case, the longest run of zero groups as ::), as the socket's own addresses read. */
export function canonicalIPv6 (text: string): string {
  const lower = text.toLowerCase()
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two groups first.
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(lower)
  const hex = v4 === null ? lower : lower.slice(0, v4.index) + ((Number(v4[1]) << 8) | Number(v4[2])).toString(16) + ':' + ((Number(v4[3]) << 8) | Number(v4[4])).toString(16)
  const [head = '', tail] = hex.split('::') as [string, string | undefined]
  const parse = (s: string): number[] => s === '' ? [] : s.split(':').map((g) => parseInt(g, 16))
  const left = parse(head)
  const right = tail === undefined ? [] : parse(tail)
  const groups = tail === undefined ? left : [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right]
  return formatIPv6(groups)
}

function formatIPv6 (groups: number[]): string {
  // IPv4-mapped, as Node shows a dual-stack socket's IPv4 peer (and as address checks expect it).
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${groups[6]! >> 8}.${groups[6]! & 0xff}.${groups[7]! >> 8}.${groups[7]! & 0xff}`
  }
  let bestStart = -1
  let bestLength = 1
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLength) { bestStart = i; bestLength = j - i }
    i = j
  }
  const text = groups.map((g) => g.toString(16))
  if (bestStart < 0) return text.join(':')
  return `${text.slice(0, bestStart).join(':')}::${text.slice(bestStart + bestLength).join(':')}`
}
