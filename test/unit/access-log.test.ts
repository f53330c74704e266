import fc from 'fast-check'
import { pino } from 'pino'
import t from 'tap'
import type { Logger } from '../../src/logger.ts'
import { AccessLog, formatAccessLine, jsonValue, type AccessFields } from '../../src/proxy/access-log.ts'

/** A destination that keeps every chunk it is handed. */
function capture (): { chunks: string[], write: (s: string) => void } {
  const chunks: string[] = []
  return { chunks, write: (s: string) => { chunks.push(s) } }
}

/** The proxy's logger as src/logger.ts builds it (pid, ISO time), and ProxyServer's child of it. */
function proxyLogger (dest: { write: (s: string) => void }, level = 'info'): Logger {
  return pino({ level, base: { pid: 4242 }, timestamp: pino.stdTimeFunctions.isoTime }, dest).child({ component: 'proxy' })
}

/** What the proxy wrote before issue 12: pino serialising this object (proxy-server.ts at c80fa2c). */
function pinoLine (f: AccessFields): string {
  const dest = capture()
  const access = proxyLogger(dest).child({ component: 'access' })
  const { requestId, host, method, path, status, upstream, durationMs, bytes, remote, scheme, code, reason } = f
  access.info({
    requestId, host, method, path, status, upstream,
    durationMs: Math.round(durationMs * 10) / 10, bytes, remote, ...(scheme === 'https' ? { scheme } : {}), ...(code !== undefined ? { code } : {}), ...(reason !== undefined ? { reason } : {})
  })
  if (dest.chunks.length !== 1) throw new Error(`pino wrote ${dest.chunks.length} chunks`)
  return dest.chunks[0]!
}

function accessLine (f: AccessFields): string {
  const dest = capture()
  const access = new AccessLog(proxyLogger(dest))
  access.write(f)
  access.flush()
  if (dest.chunks.length !== 1) throw new Error(`the access log wrote ${dest.chunks.length} chunks`)
  return dest.chunks[0]!
}

const base: AccessFields = {
  requestId: '0123456789abcdef0123456789abcdef', host: 'app.example.com', method: 'GET', path: '/', status: 200, upstream: 'web-1',
  durationMs: 12.3456, bytes: 512, remote: '203.0.113.9', scheme: 'http', code: undefined, reason: undefined
}

const C0 = Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)).join('')
const LONE_HIGH = 'a\ud800b'
const LONE_LOW = '\udc00z'
const NASTY: Array<[string, Partial<AccessFields>]> = [
  ['plain', {}],
  ['every C0 control in host', { host: `x${C0}y` }],
  ['quotes and backslashes', { host: 'a"b\\c', path: '/"\\"/\\\\' }],
  ['quote and backslash only, no control (pino\'s own escaper)', { path: '/a"b' }],
  ['DEL, latin-1 bytes as node:http decodes them, U+2028/2029', { host: 'h\x7f\x80\xff\xe9', path: '/\u2028\u2029' }],
  ['newline and CR (log injection)', { path: '/x\r\n{"level":60,"msg":"forged"}' }],
  ['long (> 100 chars: pino uses JSON.stringify)', { path: '/' + 'p"\\'.repeat(60), host: 'h'.repeat(300) }],
  ['valid surrogate pair', { path: '/\ud83d\ude00' }],
  ['HTTPS with code and reason', { scheme: 'https', code: 'PROXY_ERR_NO_HEALTHY_TARGETS', reason: 'denied "by" rule\\x', status: 503 }],
  ['unrouted: no upstream, no request id, empty path', { upstream: undefined, requestId: undefined, path: '', status: 404 }],
  ['no Host, no remote', { host: undefined, remote: undefined, method: undefined }],
  ['durations: 0, sub-0.05, large', { durationMs: 0.04 }],
  ['non-finite numbers', { durationMs: Number.NaN, bytes: Number.POSITIVE_INFINITY }]
]

/** The value pino's line held once its UTF-8 bytes are read back: a raw lone surrogate is U+FFFD there. */
function readBack (line: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(line, 'utf8').toString('utf8')) as Record<string, unknown>
}

const withoutTime = (line: string): string => line.replace(/,"time":"[^"]*"/, '')

t.test('the line is what pino wrote for access.info({...}): same bytes but the time, same keys in the same order', async (t) => {
  for (const [name, over] of NASTY) {
    const f = { ...base, ...over }
    const ours = accessLine(f)
    const theirs = pinoLine(f)
    t.ok(ours.endsWith('}\n') && ours.indexOf('\n') === ours.length - 1, `${name}: one line`)
    t.equal(withoutTime(ours), withoutTime(theirs), `${name}: bytes`)
    const a = readBack(ours)
    const b = readBack(theirs)
    t.same(Object.keys(a), Object.keys(b), `${name}: keys and order`)
    for (const k of Object.keys(b)) if (k !== 'time') t.same(a[k], b[k], `${name}: ${k}`)
    t.ok(Math.abs(Date.parse(a.time as string) - Date.parse(b.time as string)) < 1_000, `${name}: time is an ISO time`)
    // The duplicate "component" key pino writes for a child's child stays: tools read the last one.
    t.match(ours, /,"pid":4242,"component":"proxy","component":"access",/, `${name}: bindings`)
  }
})

t.test('invalid UTF-16 (lone surrogates): valid JSON and valid UTF-8, U+FFFD where pino\'s output held one', async (t) => {
  for (const [name, value] of [['lone high', LONE_HIGH], ['lone low', LONE_LOW], ['high at end', 'x\ud800'], ['reversed pair', '\udc00\ud800'], ['with a control char', `\u0001${LONE_HIGH}`]] as const) {
    const f = { ...base, host: value, path: `/${value}` }
    const ours = accessLine(f)
    t.equal(Buffer.from(ours, 'utf8').toString('utf8'), ours, `${name}: no lone surrogate left in the line`)
    const a = JSON.parse(ours) as Record<string, unknown>
    const b = readBack(pinoLine(f))
    const wellFormed = (s: string): string => s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd')
    t.equal(a.host, wellFormed(value), `${name}: host`)
    t.equal(a.path, wellFormed(`/${value}`), `${name}: path`)
    // pino wrote the surrogate raw (U+FFFD once UTF-8) or, next to a control char, escaped: the same text either way.
    t.equal(a.host, wellFormed(b.host as string), `${name}: host as pino`)
    t.equal(a.path, wellFormed(b.path as string), `${name}: path as pino`)
  }
})

t.test('any string, any field: JSON.parse gives the fields back', async (t) => {
  // Code points of every plane, and UTF-16 code units one by one (lone surrogates included).
  const str = fc.oneof(fc.string({ unit: 'binary', maxLength: 80 }), fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 80 }))
  fc.assert(fc.property(str, str, str, fc.option(str, { nil: undefined }), fc.integer({ min: 100, max: 599 }), (host, path, method, reason, status) => {
    const f = { ...base, host, path, method, reason, status }
    const line = formatAccessLine('{"level":30', f)
    if (!line.endsWith('}\n') || line.slice(0, -1).includes('\n')) return false
    const parsed = JSON.parse(Buffer.from(line, 'utf8').toString('utf8')) as Record<string, unknown>
    const wf = (s: string): string => Buffer.from(s, 'utf8').toString('utf8')
    return parsed.host === wf(host) && parsed.path === wf(path) && parsed.method === wf(method) && parsed.reason === (reason === undefined ? undefined : wf(reason)) && parsed.status === status
  }), { numRuns: 2_000 })
  t.pass('2,000 random field sets')
})

t.test('jsonValue', async (t) => {
  t.equal(jsonValue('a'), '"a"')
  t.equal(jsonValue('"'), '"\\""')
  t.equal(jsonValue('\n'), '"\\n"')
  t.equal(jsonValue('\ud800'), '"\ufffd"')
  t.equal(jsonValue(1.5), '1.5')
  t.equal(jsonValue(Number.NaN), 'null')
  t.equal(jsonValue(['a', 'b']), '["a","b"]')
  t.equal(jsonValue(undefined), 'null')
})

t.test('nothing is written when the logger is above info (LOG_LEVEL=warn)', async (t) => {
  const dest = capture()
  const access = new AccessLog(proxyLogger(dest, 'warn'))
  access.write(base)
  access.flush()
  t.same(dest.chunks, [])
})

t.test('lines are batched: whole lines per destination write, in order, none lost', async (t) => {
  const dest = capture()
  const access = new AccessLog(proxyLogger(dest))
  const n = 1_000
  for (let i = 0; i < n; i++) access.write({ ...base, requestId: `r${i}` })
  // 1,000 lines of ~230 bytes: a few 64 KB batches were handed over already, the rest waits.
  t.ok(dest.chunks.length >= 2 && dest.chunks.length <= 10, `${dest.chunks.length} writes for ${n} lines`)
  for (const c of dest.chunks) t.ok(Buffer.byteLength(c) <= 65_536, 'a batch is at most 64 KB')
  access.flush()
  const lines = dest.chunks.join('').split('\n')
  t.equal(lines.pop(), '')
  t.same(lines.map((l) => (JSON.parse(l) as { requestId: string }).requestId), Array.from({ length: n }, (_, i) => `r${i}`))
  for (const c of dest.chunks) t.ok(c.endsWith('}\n'), 'a chunk ends at a line end')
})

t.test("a line's time is when its request ended, though lines are written into the batch later", async (t) => {
  const t0 = Date.UTC(2026, 10, 30, 12, 0, 0, 123)
  const clocks: Array<[string, () => string, (ms: number) => unknown]> = [
    ['ISO (the proxy\'s)', pino.stdTimeFunctions.isoTime, (ms) => new Date(ms).toISOString()],
    ['epoch', pino.stdTimeFunctions.epochTime, (ms) => ms],
    // Any other clock is read as the request ends.
    ['custom', () => `,"time":"at ${Date.now() - t0}"`, (ms) => `at ${ms - t0}`]
  ]
  for (const [name, clock, expected] of clocks) {
    const dest = capture()
    const access = new AccessLog(pino({ base: { pid: 4242 }, timestamp: clock }, dest).child({ component: 'proxy' }))
    const realNow = Date.now
    try {
      Date.now = () => t0
      access.write({ ...base, requestId: 'first' })
      Date.now = () => t0 + 40
      access.write({ ...base, requestId: 'second' })
      Date.now = () => t0 + 5_000
      access.flush()
    } finally { Date.now = realNow }
    const lines = dest.chunks.join('').split('\n').slice(0, -1).map((l) => JSON.parse(l) as { requestId: string, time: unknown })
    t.same(lines.map((l) => [l.requestId, l.time]), [['first', expected(t0)], ['second', expected(t0 + 40)]], name)
  }
})

t.test('a queued batch is handed over by itself shortly after', async (t) => {
  const dest = capture()
  const access = new AccessLog(proxyLogger(dest))
  access.write(base)
  t.same(dest.chunks, [])
  const deadline = Date.now() + 2_000
  while (dest.chunks.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10))
  t.equal(dest.chunks.length, 1)
  t.equal((JSON.parse(dest.chunks[0]!) as { requestId: string }).requestId, base.requestId)
})

t.test('a batch holds the lines exactly as formatted: ASCII and not, long lines on their own, in order', async (t) => {
  const dest = capture()
  const access = new AccessLog(proxyLogger(dest))
  const fields: AccessFields[] = [
    { ...base, requestId: 'ascii' },
    { ...base, requestId: 'latin1', host: 'h\xe9\xff' },
    { ...base, requestId: 'astral', path: '/\ud83d\ude00/\u2028' },
    { ...base, requestId: 'long', path: '/' + '中'.repeat(12_000) },
    { ...base, requestId: 'after-long' }
  ]
  for (let i = 0; i < 200; i++) for (const f of fields) access.write({ ...f, requestId: `${f.requestId}-${i}` })
  access.flush()
  const lines = dest.chunks.join('').split('\n')
  t.equal(lines.pop(), '')
  t.equal(lines.length, 1_000)
  for (let i = 0; i < lines.length; i++) {
    const f = fields[i % fields.length]!
    const want = formatAccessLine('', { ...f, requestId: `${f.requestId}-${Math.floor(i / fields.length)}` }).slice(0, -1)
    // The line's own fields (after level, time and bindings) are the formatted ones, character for character.
    if (!lines[i]!.endsWith(want)) { t.fail(`line ${i} differs: ${lines[i]!.slice(0, 200)}`); return }
  }
  for (const c of dest.chunks) t.ok(c.endsWith('}\n'), 'a chunk ends at a line end')
})

t.test('random field values survive the batch: each line parses back to its fields', async (t) => {
  const str = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 120 })
  fc.assert(fc.property(fc.array(fc.tuple(str, str), { minLength: 1, maxLength: 80 }), (pairs) => {
    const dest = capture()
    const access = new AccessLog(proxyLogger(dest))
    for (const [host, path] of pairs) access.write({ ...base, host, path })
    access.flush()
    const lines = dest.chunks.join('').split('\n').slice(0, -1)
    const wf = (s: string): string => Buffer.from(s, 'utf8').toString('utf8')
    return lines.length === pairs.length && lines.every((l, i) => {
      const p = JSON.parse(l) as { host: string, path: string }
      return p.host === wf(pairs[i]![0]) && p.path === wf(pairs[i]![1])
    })
  }), { numRuns: 300 })
  t.pass('300 random batches')
})
