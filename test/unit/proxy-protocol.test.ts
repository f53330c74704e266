import t from 'tap'
import { MAX_V1_BYTES, MAX_V2_BYTES, canonicalIPv6, parseProxyHeader, type ProxyHeader } from '../../src/proxy/proxy-protocol.ts'

const SIG = Buffer.from('0d0a0d0a000d0a515549540a', 'hex')

function v2 (versionCommand: number, familyTransport: number, body: Buffer): Buffer {
  const len = Buffer.alloc(2)
  len.writeUInt16BE(body.length)
  return Buffer.concat([SIG, Buffer.from([versionCommand, familyTransport]), len, body])
}

function v4Block (src: number[], dst: number[], srcPort: number, dstPort: number): Buffer {
  const b = Buffer.alloc(12)
  Buffer.from(src).copy(b, 0)
  Buffer.from(dst).copy(b, 4)
  b.writeUInt16BE(srcPort, 8)
  b.writeUInt16BE(dstPort, 10)
  return b
}

function v6Block (src: string, srcPort: number): Buffer {
  const b = Buffer.alloc(36)
  Buffer.from(src, 'hex').copy(b, 0)
  b[31] = 1
  b.writeUInt16BE(srcPort, 32)
  b.writeUInt16BE(443, 34)
  return b
}

const V4 = v2(0x21, 0x11, v4Block([203, 0, 113, 7], [10, 0, 0, 1], 51_000, 443))
const tlv = Buffer.from([0x04, 0x00, 0x03, 0x61, 0x62, 0x63]) // PP2_TYPE_NOOP with 3 bytes: ignored
const V4_TLV = v2(0x21, 0x11, Buffer.concat([v4Block([198, 51, 100, 9], [10, 0, 0, 1], 1, 80), tlv]))

t.test('parseProxyHeader: whole headers, table-driven', async (t) => {
  const cases: Array<{ desc: string, data: Buffer, want: ProxyHeader }> = [
    { desc: 'v1 TCP4', data: Buffer.from('PROXY TCP4 203.0.113.7 10.0.0.1 51000 443\r\nGET'), want: { kind: 'header', length: 43, peer: { address: '203.0.113.7', port: 51_000, family: 'IPv4' } } },
    { desc: 'v1 TCP6, shown canonical', data: Buffer.from('PROXY TCP6 2001:DB8:0:0:0:0:0:1 ::1 1 2\r\n'), want: { kind: 'header', length: 41, peer: { address: '2001:db8::1', port: 1, family: 'IPv6' } } },
    { desc: 'v1 TCP6 with an IPv4 tail', data: Buffer.from('PROXY TCP6 ::ffff:192.0.2.1 ::1 65535 0\r\n'), want: { kind: 'header', length: 41, peer: { address: '::ffff:192.0.2.1', port: 65_535, family: 'IPv6' } } },
    { desc: 'v1 UNKNOWN with trailing fields: socket address', data: Buffer.from('PROXY UNKNOWN ffff:f...f 1 2\r\n'), want: { kind: 'header', length: 30, peer: undefined } },
    { desc: 'v1 UNKNOWN alone', data: Buffer.from('PROXY UNKNOWN\r\n'), want: { kind: 'header', length: 15, peer: undefined } },
    { desc: 'v1 TCP4 with an IPv6 address', data: Buffer.from('PROXY TCP4 ::1 ::1 1 2\r\n'), want: { kind: 'invalid', reason: 'v1 address or port malformed' } },
    { desc: 'v1 port out of range', data: Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 65536 80\r\n'), want: { kind: 'invalid', reason: 'v1 address or port malformed' } },
    { desc: 'v1 port with a leading zero', data: Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 080 80\r\n'), want: { kind: 'invalid', reason: 'v1 address or port malformed' } },
    { desc: 'v1 double space', data: Buffer.from('PROXY TCP4  1.2.3.4 5.6.7.8 1 80\r\n'), want: { kind: 'invalid', reason: 'v1 line malformed' } },
    { desc: 'v1 bare LF', data: Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 80\n'), want: { kind: 'invalid', reason: 'v1 line not ended by CRLF' } },
    { desc: 'v1 unknown protocol', data: Buffer.from('PROXY UDP4 1.2.3.4 5.6.7.8 1 80\r\n'), want: { kind: 'invalid', reason: 'v1 protocol unknown' } },
    { desc: 'v1 address with a zone / garbage', data: Buffer.from('PROXY TCP4 1.2.3.4x 5.6.7.8 1 80\r\n'), want: { kind: 'invalid', reason: 'v1 address or port malformed' } },
    { desc: 'v1 lower-case signature', data: Buffer.from('proxy TCP4 1.2.3.4 5.6.7.8 1 80\r\n'), want: { kind: 'invalid', reason: 'no PROXY protocol signature' } },
    { desc: 'v1 line past 107 bytes', data: Buffer.from(`PROXY UNKNOWN ${'x'.repeat(MAX_V1_BYTES)}\r\n`), want: { kind: 'invalid', reason: 'v1 line too long' } },
    { desc: 'plain HTTP instead of a header', data: Buffer.from('GET / HTTP/1.1\r\n\r\n'), want: { kind: 'invalid', reason: 'no PROXY protocol signature' } },
    { desc: 'a TLS ClientHello instead of a header', data: Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05]), want: { kind: 'invalid', reason: 'no PROXY protocol signature' } },
    { desc: 'PRI (HTTP/2 preface) looks like neither', data: Buffer.from('PRI * HTTP/2.0\r\n'), want: { kind: 'invalid', reason: 'no PROXY protocol signature' } },
    { desc: 'v2 TCP over IPv4', data: V4, want: { kind: 'header', length: 28, peer: { address: '203.0.113.7', port: 51_000, family: 'IPv4' } } },
    { desc: 'v2 with a TLV: skipped with the header', data: Buffer.concat([V4_TLV, Buffer.from('GET')]), want: { kind: 'header', length: 34, peer: { address: '198.51.100.9', port: 1, family: 'IPv4' } } },
    { desc: 'v2 TCP over IPv6', data: v2(0x21, 0x21, v6Block('20010db8000000000000000000000042', 8080)), want: { kind: 'header', length: 52, peer: { address: '2001:db8::42', port: 8080, family: 'IPv6' } } },
    { desc: 'v2 IPv4-mapped IPv6', data: v2(0x21, 0x21, v6Block('00000000000000000000ffffc0000201', 9)), want: { kind: 'header', length: 52, peer: { address: '::ffff:192.0.2.1', port: 9, family: 'IPv6' } } },
    { desc: 'v2 LOCAL (balancer health check): socket address', data: v2(0x20, 0x00, Buffer.alloc(0)), want: { kind: 'header', length: 16, peer: undefined } },
    { desc: 'v2 LOCAL with an address block: still the socket address', data: v2(0x20, 0x11, v4Block([1, 2, 3, 4], [5, 6, 7, 8], 1, 2)), want: { kind: 'header', length: 28, peer: undefined } },
    { desc: 'v2 PROXY over UNSPEC: socket address', data: v2(0x21, 0x00, Buffer.alloc(0)), want: { kind: 'header', length: 16, peer: undefined } },
    { desc: 'v2 PROXY over UDP: socket address', data: v2(0x21, 0x12, v4Block([1, 2, 3, 4], [5, 6, 7, 8], 1, 2)), want: { kind: 'header', length: 28, peer: undefined } },
    { desc: 'v2 PROXY over a unix socket: socket address', data: v2(0x21, 0x31, Buffer.alloc(216)), want: { kind: 'header', length: 232, peer: undefined } },
    { desc: 'v2 IPv4 block too short', data: v2(0x21, 0x11, Buffer.alloc(11)), want: { kind: 'invalid', reason: 'v2 address block too short' } },
    { desc: 'v2 IPv6 block too short', data: v2(0x21, 0x21, Buffer.alloc(35)), want: { kind: 'invalid', reason: 'v2 address block too short' } },
    { desc: 'v2 version 1 in the v2 framing', data: v2(0x11, 0x11, v4Block([1, 2, 3, 4], [5, 6, 7, 8], 1, 2)), want: { kind: 'invalid', reason: 'v2 version or command unknown' } },
    { desc: 'v2 command 2', data: v2(0x22, 0x11, v4Block([1, 2, 3, 4], [5, 6, 7, 8], 1, 2)), want: { kind: 'invalid', reason: 'v2 version or command unknown' } },
    { desc: 'v2 length over the cap', data: v2(0x21, 0x11, Buffer.alloc(MAX_V2_BYTES - 15)), want: { kind: 'invalid', reason: 'v2 header too large' } },
    { desc: 'v2 signature wrong in its last byte', data: Buffer.concat([SIG.subarray(0, 11), Buffer.from([0x0b]), V4.subarray(12)]), want: { kind: 'invalid', reason: 'no PROXY protocol signature' } },
    { desc: 'CRLF CRLF then garbage', data: Buffer.from('\r\n\r\nGET / HTTP/1.1'), want: { kind: 'invalid', reason: 'no PROXY protocol signature' } }
  ]
  for (const c of cases) t.same(parseProxyHeader(c.data), c.want, c.desc)
})

t.test('parseProxyHeader: every prefix of a valid header is incomplete, never invalid (headers split across packets)', async (t) => {
  const headers = [
    Buffer.from('PROXY TCP4 203.0.113.7 10.0.0.1 51000 443\r\n'),
    Buffer.from('PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n'),
    Buffer.from(`PROXY UNKNOWN ${'f'.repeat(MAX_V1_BYTES - 16)}\r\n`),
    V4_TLV,
    v2(0x21, 0x21, v6Block('20010db8000000000000000000000042', 8080))
  ]
  for (const h of headers) {
    for (let n = 0; n < h.length; n++) {
      const got = parseProxyHeader(h.subarray(0, n))
      if (got.kind !== 'incomplete') { t.fail(`${h.toString('latin1', 0, 10)}… cut at ${n}: ${got.kind}`); break }
    }
    t.equal(parseProxyHeader(h).kind, 'header', `${h.length}-byte header whole`)
  }
  t.equal(headers[2]!.length, MAX_V1_BYTES, 'a line of the 107 bytes v1 allows is accepted')
})

t.test('parseProxyHeader: garbage never throws', async (t) => {
  let seed = 12_345
  const next = (): number => { seed = (seed * 1_103_515_245 + 12_345) & 0x7fffffff; return seed }
  const prefixes = [Buffer.from('PROXY '), SIG, Buffer.concat([SIG, Buffer.from([0x21])])]
  for (let i = 0; i < 2_000; i++) {
    const p = prefixes[i % prefixes.length]!
    const rest = Buffer.alloc(next() % 200)
    for (let j = 0; j < rest.length; j++) rest[j] = next() & 0xff
    const got = parseProxyHeader(Buffer.concat([p, rest]))
    if (!['incomplete', 'invalid', 'header'].includes(got.kind)) t.fail(`unexpected ${got.kind}`)
  }
  t.pass('2,000 random inputs parsed without throwing')
})

t.test('canonicalIPv6 writes RFC 5952 text', async (t) => {
  t.equal(canonicalIPv6('2001:0DB8:0000:0000:0001:0000:0000:0001'), '2001:db8::1:0:0:1')
  t.equal(canonicalIPv6('::'), '::')
  t.equal(canonicalIPv6('1::'), '1::')
  t.equal(canonicalIPv6('1:0:1:1:1:1:1:1'), '1:0:1:1:1:1:1:1', 'a single zero group stays')
})
