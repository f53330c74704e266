import t from 'tap'
import { statusForError } from '../../src/proxy/error-response.ts'
import { downstreamResponseHeaders, isInternalAddress } from '../../src/proxy/forwarded-headers.ts'
import { hostnameOf } from '../../src/proxy/request-target.ts'

t.test('hostnameOf', async (t) => {
  const cases: Array<[string | undefined, string | undefined]> = [
    ['Example.COM', 'example.com'], ['example.com:8080', 'example.com'], ['example.com.', 'example.com'],
    ['[::1]:80', '[::1]'], [undefined, ''], ['bad host', undefined], ['a.com:x', undefined], ['[::1', undefined]
  ]
  for (const [input, want] of cases) t.equal(hostnameOf(input), want, String(input))
})

t.test('NETWORK_ACCESS=internal ranges', async (t) => {
  for (const a of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '::1', '::ffff:10.0.0.1', 'fd12::1', 'fe80::1']) t.ok(isInternalAddress(a), a)
  for (const a of ['8.8.8.8', '172.32.0.1', '192.169.0.1', '2001:db8::1', '::ffff:8.8.8.8', 'garbage']) t.notOk(isInternalAddress(a), a)
})

t.test('status mapping (one function)', async (t) => {
  const e = (code: string) => Object.assign(new Error(code), { code })
  t.equal(statusForError(e('UND_ERR_HEADERS_TIMEOUT')), 504)
  t.equal(statusForError(e('UND_ERR_CONNECT_TIMEOUT')), 504)
  t.equal(statusForError(e('ECONNREFUSED')), 502)
  t.equal(statusForError(e('HPE_INVALID_CONSTANT')), 502)
  t.equal(statusForError(new Error('x')), 502)
})

t.test('response hop-by-hop headers removed, event streams detected', async (t) => {
  const raw = ['Content-Type', 'text/event-stream', 'Connection', 'keep-alive, X-Private', 'X-Private', '1', 'Transfer-Encoding', 'chunked', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2'].map((s) => Buffer.from(s))
  t.same(downstreamResponseHeaders(raw), { headers: ['Content-Type', 'text/event-stream', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2'], eventStream: true, contentLength: -1 })
})
