import fc from 'fast-check'
import { pino } from 'pino'
import t from 'tap'
import { AccessLog, formatAccessLine, jsonValue, writeAccessFields, writeJsonString, type AccessFields } from '../../src/proxy/access-log.ts'

// The access log writes each line's bytes straight into its batch Buffer (writeAccessFields); the
// string formatter (formatAccessLine, checked against pino's own output in access-log.test.ts) is
// the reference: the bytes must be exactly its UTF-8, whatever the fields hold.

const base: AccessFields = {
  requestId: '0123456789abcdef0123456789abcdef', host: 'app.example.com', method: 'GET', path: '/', status: 200, upstream: 'web-1',
  durationMs: 12.3456, bytes: 512, remote: '203.0.113.9', scheme: 'http', code: undefined, reason: undefined
}

/** writeAccessFields into a Buffer with `slack` bytes more than the line needs at most, bytes after the line checked untouched. */
function bytesOf (f: AccessFields): Buffer {
  const strings = [f.requestId, f.host, f.method, f.path, f.upstream, f.remote, f.code, f.reason].reduce((n, s) => n + (s?.length ?? 0), 0)
  const room = 256 + 6 * strings
  const buf = Buffer.alloc(room + 16, 0xee)
  const end = writeAccessFields(buf, 0, f)
  if (end > room) throw new Error(`wrote ${end} bytes, room was ${room}`)
  if (!buf.subarray(end).every((b) => b === 0xee)) throw new Error('wrote past the end it returned')
  return buf.subarray(0, end)
}

/** A test name for a hostile value: printable ASCII only (a raw U+2028 or control would break TAP's lines). */
const nameOf = (s: string): string => JSON.stringify(s).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).slice(0, 60)

const reference = (f: AccessFields): Buffer => Buffer.from(formatAccessLine('', f), 'utf8')

const C0 = Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)).join('')
const HOSTILE = [
  '', 'plain', `x${C0}y`, 'a"b\\c', '"', '\\', '\x7f', '\x80\xff\xe9', '\u2028\u2029', '/x\r\n{"level":60,"msg":"forged"}',
  '\ud83d\ude00', 'a\ud800b', '\udc00z', 'x\ud800', '\ud800', '\udc00\ud800', '\u0001\ud800', 'é"\ud800\\\n', '中文/路径',
  '/' + 'p"\\'.repeat(60), 'h'.repeat(300), '\u0000'.repeat(50), '\ufffd\ufeff', '%22%5C'
]

t.test('writeJsonString writes the UTF-8 of jsonValue: hostile strings (controls, quotes, backslashes, DEL, Latin-1, lone surrogates)', async (t) => {
  for (const s of HOSTILE) {
    const buf = Buffer.alloc(2 + 6 * s.length)
    const end = writeJsonString(buf, 0, s)
    t.same(buf.subarray(0, end), Buffer.from(jsonValue(s), 'utf8'), nameOf(s))
    const parsed = JSON.parse(buf.toString('utf8', 0, end)) as string
    t.equal(parsed, Buffer.from(s, 'utf8').toString('utf8'), `${nameOf(s)} parses back (U+FFFD for a lone surrogate)`)
  }
})

t.test('writeJsonString: any UTF-16 string fits in 2 + 6 bytes per unit and is jsonValue\'s bytes', async (t) => {
  const units = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 200 })
  const mostlyAscii = fc.string({ unit: fc.oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.constantFrom(0, 0x1f, 0x22, 0x5c, 0x7f, 0xe9, 0xd800, 0xdc00, 0xfffd)).map((c) => String.fromCharCode(c)), maxLength: 200 })
  fc.assert(fc.property(fc.oneof(units, mostlyAscii, fc.string({ unit: 'binary', maxLength: 100 })), fc.nat(7), (s, at) => {
    const buf = Buffer.alloc(at + 2 + 6 * s.length)
    const end = writeJsonString(buf, at, s)
    return end <= buf.length && buf.subarray(at, end).equals(Buffer.from(jsonValue(s), 'utf8'))
  }), { numRuns: 5_000 })
  t.pass('5,000 random strings')
})

t.test('writeAccessFields writes formatAccessLine\'s bytes: every field hostile, absent or odd', async (t) => {
  for (const s of HOSTILE) {
    for (const field of ['requestId', 'host', 'method', 'path', 'upstream', 'remote', 'code', 'reason'] as const) {
      const f = { ...base, [field]: s }
      t.same(bytesOf(f), reference(f), `${field} = ${nameOf(s)}`)
    }
  }
  const odd: Array<Partial<AccessFields>> = [
    { requestId: undefined, host: undefined, method: undefined, path: undefined, upstream: undefined, remote: undefined },
    { scheme: 'https', code: 'PROXY_ERR_NO_HEALTHY_TARGETS', reason: 'denied' },
    { status: 0 }, { status: 599 }, { status: -1 }, { status: 1.5 }, { status: Number.NaN },
    { bytes: 0 }, { bytes: 2 ** 40 }, { bytes: 1e15 }, { bytes: 1e21 }, { bytes: Number.MAX_SAFE_INTEGER }, { bytes: Number.POSITIVE_INFINITY }, { bytes: -0 },
    { durationMs: 0 }, { durationMs: -0 }, { durationMs: 0.04 }, { durationMs: 0.05 }, { durationMs: 0.95 }, { durationMs: 9.95 }, { durationMs: 1.25 },
    { durationMs: 12_345.678 }, { durationMs: 1e13 }, { durationMs: 1e14 + 0.3 }, { durationMs: 1e20 }, { durationMs: -3.2 }, { durationMs: Number.NaN }, { durationMs: Number.POSITIVE_INFINITY }
  ]
  for (const over of odd) {
    const f = { ...base, ...over }
    t.same(bytesOf(f), reference(f), JSON.stringify(over))
  }
})

t.test('writeAccessFields: random fields and numbers give formatAccessLine\'s bytes', async (t) => {
  const str = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 60 }))
  const opt = fc.option(str, { nil: undefined })
  const num = fc.oneof(fc.nat(), fc.integer(), fc.double(), fc.double({ min: 0, max: 1e6, noNaN: true }))
  fc.assert(fc.property(opt, opt, opt, opt, opt, opt, opt, opt, num, num, num, fc.constantFrom('http', 'https'),
    (requestId, host, method, path, upstream, remote, code, reason, status, durationMs, bytes, scheme) => {
      const f: AccessFields = { requestId, host, method, path, upstream, remote, code, reason, status, durationMs, bytes, scheme }
      return bytesOf(f).equals(reference(f))
    }), { numRuns: 5_000 })
  t.pass('5,000 random field sets')
})

/** The proxy's access log into a destination that keeps every chunk. */
function accessLog (): { log: AccessLog, chunks: string[] } {
  const chunks: string[] = []
  const dest = { write: (s: string) => { chunks.push(s) } }
  const log = new AccessLog(pino({ level: 'info', base: { pid: 4242 }, timestamp: pino.stdTimeFunctions.isoTime }, dest).child({ component: 'proxy' }))
  return { log, chunks }
}

const withoutLead = (line: string): string => line.slice(line.indexOf('"component":"access"') + '"component":"access"'.length)

t.test('very long and worst-case lines: whole, exact, in order, at and around the batch size', async (t) => {
  const { log, chunks } = accessLog()
  // A path of n control characters needs 6n bytes: lengths around the 64 KB batch, and far beyond it.
  const paths = [
    '/' + '\u0001'.repeat(10_000), '/' + '\u0001'.repeat(10_850), '/' + '\u0001'.repeat(10_860), '/' + '\u0001'.repeat(10_900), '/' + '\u0001'.repeat(11_000),
    '/' + 'a'.repeat(65_536), '/' + '中'.repeat(30_000), '/' + '\ud800'.repeat(20_000), '/' + 'x'.repeat(1_000_000)
  ]
  const sent: AccessFields[] = []
  for (let i = 0; i < 40; i++) {
    const f = { ...base, requestId: `r${i}`, path: i % 2 === 0 ? paths[(i / 2) % paths.length]! : `/short/${i}` }
    sent.push(f)
    log.write(f)
  }
  log.flush()
  const lines = chunks.join('').split('\n')
  t.equal(lines.pop(), '', 'ends at a line end')
  t.equal(lines.length, sent.length, 'one line per request')
  for (let i = 0; i < sent.length; i++) {
    if (withoutLead(lines[i]!) !== formatAccessLine('', sent[i]!).slice(0, -1)) { t.fail(`line ${i} differs (${lines[i]!.length} chars)`); return }
    const parsed = JSON.parse(lines[i]!) as { requestId: string, path: string }
    t.equal(parsed.requestId, `r${i}`)
  }
  for (const c of chunks) t.ok(c.endsWith('}\n'), 'a chunk ends at a line end')
})

t.test('the time in a line is the time it was written', async (t) => {
  const { log, chunks } = accessLog()
  const before = Date.now()
  log.write(base)
  await new Promise((resolve) => setTimeout(resolve, 15))
  const mid = Date.now()
  log.write(base)
  log.flush()
  const after = Date.now()
  const [a, b] = chunks.join('').split('\n').slice(0, 2).map((l) => Date.parse((JSON.parse(l) as { time: string }).time))
  t.ok(a! >= before && a! <= mid, 'first line: its own millisecond')
  t.ok(b! >= mid && b! <= after && b! > a!, 'second line: a later one')
})
