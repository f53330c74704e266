// The server name a TLS ClientHello asks for (RFC 8446 §4.1.2, RFC 6066 §3), read before the
// handshake starts so a name nobody serves can be refused as nginx's ssl_reject_handshake does:
// with a fatal unrecognized_name alert. Node's SNICallback cannot send that alert itself (an
// error there closes the connection without one). Pure; anything unexpected is 'other' and is
// left to OpenSSL, which answers malformed input with its own alerts.

export type HelloPeek =
  | { kind: 'incomplete' }
  | { kind: 'hello', servername: string | undefined }
  | { kind: 'other' }

/** Handshake bytes worth waiting for: a ClientHello is far smaller (post-quantum key shares ~1.8 KiB). */
export const MAX_CLIENT_HELLO_BYTES = 16_384

/** A fatal unrecognized_name(112) alert record, as OpenSSL sends for SSL_TLSEXT_ERR_ALERT_FATAL before its ServerHello. */
export const UNRECOGNIZED_NAME_ALERT = Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x70])

const HANDSHAKE = 0x16
const CLIENT_HELLO = 0x01
const SERVER_NAME_EXTENSION = 0x0000
const HOST_NAME = 0x00

/** Reads the ClientHello from the first handshake record(s) of `data` (fragmented records are joined). */
export function peekClientHello (data: Buffer): HelloPeek {
  const chunks: Buffer[] = []
  let handshakeBytes = 0
  let offset = 0
  for (;;) {
    if (data.length < offset + 5) return { kind: 'incomplete' }
    if (data[offset] !== HANDSHAKE || data[offset + 1] !== 0x03) return { kind: 'other' }
    const length = data.readUInt16BE(offset + 3)
    if (length === 0 || length > 16_384 + 2_048) return { kind: 'other' }
    if (data.length < offset + 5 + length) return { kind: 'incomplete' }
    const fragment = data.subarray(offset + 5, offset + 5 + length)
    chunks.push(fragment)
    handshakeBytes += fragment.length
    offset += 5 + length
    const handshake = chunks.length === 1 ? fragment : Buffer.concat(chunks)
    if (handshake[0] !== CLIENT_HELLO) return { kind: 'other' }
    if (handshake.length < 4) continue
    const bodyLength = handshake.readUIntBE(1, 3)
    if (bodyLength > MAX_CLIENT_HELLO_BYTES) return { kind: 'other' }
    if (handshakeBytes < 4 + bodyLength) continue
    return parseClientHello(handshake.subarray(4, 4 + bodyLength))
  }
}

function parseClientHello (body: Buffer): HelloPeek {
  let at = 2 + 32 // legacy_version, random
  const skip = (lengthBytes: 1 | 2): boolean => {
    if (body.length < at + lengthBytes) return false
    const n = lengthBytes === 1 ? body[at]! : body.readUInt16BE(at)
    at += lengthBytes + n
    return body.length >= at
  }
  if (!skip(1) || !skip(2) || !skip(1)) return { kind: 'other' } // session id, cipher suites, compression
  if (at === body.length) return { kind: 'hello', servername: undefined } // no extensions at all
  if (body.length < at + 2) return { kind: 'other' }
  const end = at + 2 + body.readUInt16BE(at)
  if (end > body.length) return { kind: 'other' }
  at += 2
  while (at + 4 <= end) {
    const type = body.readUInt16BE(at)
    const length = body.readUInt16BE(at + 2)
    at += 4
    if (at + length > end) return { kind: 'other' }
    if (type === SERVER_NAME_EXTENSION) return serverName(body.subarray(at, at + length))
    at += length
  }
  return at === end ? { kind: 'hello', servername: undefined } : { kind: 'other' }
}

function serverName (ext: Buffer): HelloPeek {
  if (ext.length < 2 || ext.readUInt16BE(0) !== ext.length - 2) return { kind: 'other' }
  let at = 2
  while (at + 3 <= ext.length) {
    const type = ext[at]!
    const length = ext.readUInt16BE(at + 1)
    at += 3
    if (at + length > ext.length) return { kind: 'other' }
    if (type === HOST_NAME) return { kind: 'hello', servername: ext.toString('latin1', at, at + length) }
    at += length
  }
  return { kind: 'other' }
}
