import { pino } from 'pino'
import type { Logger } from '../logger.js'

/**
 * The access log: one JSON line per request, the line pino wrote for `access.info({...})` before
 * (level, time, the logger's bindings, then these fields in this order), built as one string
 * instead of pino serialising an object, and handed to the logger's destination in batches.
 */
export interface AccessFields {
  requestId: string | undefined
  host: string | undefined
  method: string | undefined
  path: string | undefined
  status: number
  upstream: string | undefined
  /** Unrounded; written rounded to 0.1 ms. */
  durationMs: number
  bytes: number
  remote: string | undefined
  /** Written only when 'https', as before. */
  scheme: string
  code: string | undefined
  reason: string | undefined
}

/** Characters a JSON string cannot hold as they are (controls, quote, backslash) and UTF-16 surrogates. */
const NEEDS_CARE = /[\u0000-\u001f"\\\ud800-\udfff]/
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g

/**
 * A JSON string literal of any value pino would have written: strings escaped (a lone surrogate
 * becomes U+FFFD, which is what pino's output held once encoded as UTF-8), numbers as numbers
 * (non-finite: null), anything else as JSON.stringify writes it.
 */
export function jsonValue (v: unknown): string {
  if (typeof v === 'string') {
    if (!NEEDS_CARE.test(v)) return `"${v}"`
    return JSON.stringify(v.replace(LONE_SURROGATE, '\ufffd'))
  }
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : 'null'
  return JSON.stringify(v) ?? 'null'
}

/**
 * One access line: `lead` is what pino writes before an object's own fields (`{"level":30`, the
 * time, the bindings: `,"pid":1,"component":"access"`); fields that are undefined are left out,
 * as pino leaves them out. Pure. The line's definition as a string, checked against pino's own
 * output (test/unit/access-log.test.ts); the log writes the same bytes with writeAccessFields.
 */
export function formatAccessLine (lead: string, f: AccessFields): string {
  let line = lead
  if (f.requestId !== undefined) line += `,"requestId":${jsonValue(f.requestId)}`
  if (f.host !== undefined) line += `,"host":${jsonValue(f.host)}`
  if (f.method !== undefined) line += `,"method":${jsonValue(f.method)}`
  if (f.path !== undefined) line += `,"path":${jsonValue(f.path)}`
  line += `,"status":${jsonValue(f.status)}`
  if (f.upstream !== undefined) line += `,"upstream":${jsonValue(f.upstream)}`
  line += `,"durationMs":${jsonValue(Math.round(f.durationMs * 10) / 10)},"bytes":${jsonValue(f.bytes)}`
  if (f.remote !== undefined) line += `,"remote":${jsonValue(f.remote)}`
  if (f.scheme === 'https') line += ',"scheme":"https"'
  if (f.code !== undefined) line += `,"code":${jsonValue(f.code)}`
  if (f.reason !== undefined) line += `,"reason":${jsonValue(f.reason)}`
  return `${line}}\n`
}

interface Destination { write: (chunk: string) => unknown, flushSync?: () => void }

/**
 * Writes `s` at `o` as the UTF-8 bytes of jsonValue(s); returns the offset after it. Needs
 * 2 + 6 * s.length bytes of room (the longest escape, \u001f, is 6 bytes for one UTF-16 unit).
 * Printable ASCII, what a request's fields almost always hold, is copied byte by byte in the same
 * pass that checks it (no regex test, no string built); from the first other character on, the
 * rest is jsonValue's, so hostile values are escaped exactly as formatAccessLine escapes them.
 */
export function writeJsonString (buf: Buffer, o: number, s: string): number {
  buf[o++] = 0x22
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    // Controls, DEL and above, quote, backslash. s[i - 1] was ASCII: slicing here splits no surrogate pair.
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return o + buf.write(jsonValue(s.slice(i)).slice(1), o, 'utf8')
    buf[o++] = c
  }
  buf[o++] = 0x22
  return o
}

/** Writes a number as jsonValue writes it; returns the offset after it. Needs 24 bytes of room. */
function writeNumber (buf: Buffer, o: number, n: number): number {
  if (Number.isInteger(n) && n >= 0 && n < 1e15) return writeDigits(buf, o, n)
  return writeAscii(buf, o, jsonValue(n))
}

/** A duration rounded to 0.1 ms as jsonValue(Math.round(ms * 10) / 10) writes it, without the division and the float-to-string. */
function writeTenths (buf: Buffer, o: number, ms: number): number {
  const tenths = Math.round(ms * 10)
  if (!(tenths >= 0 && tenths < 1e15)) return writeAscii(buf, o, jsonValue(tenths / 10))
  const whole = Math.floor(tenths / 10)
  o = writeDigits(buf, o, whole)
  const frac = tenths - whole * 10
  if (frac === 0) return o
  buf[o] = 0x2e
  buf[o + 1] = 0x30 + frac
  return o + 2
}

/** A non-negative integer below 1e15 in decimal. */
function writeDigits (buf: Buffer, o: number, n: number): number {
  let len = 1
  for (let x = n; x >= 10; x = Math.floor(x / 10)) len++
  for (let i = o + len - 1; i >= o; i--) {
    const q = Math.floor(n / 10)
    buf[i] = 0x30 + n - q * 10
    n = q
  }
  return o + len
}

/** An ASCII string (a key, a number's text), byte by byte. */
function writeAscii (buf: Buffer, o: number, s: string): number {
  for (let i = 0; i < s.length; i++) buf[o++] = s.charCodeAt(i)
  return o
}

/** Room for everything in a line but the lead and the strings: keys, quotes, numbers (3 x 24), '}\n'. */
const FIXED_ROOM = 256

/** Bytes a line can take at most: 6 per UTF-16 unit of its strings (escapes), plus the rest. */
function roomFor (leadBytes: number, f: AccessFields): number {
  return leadBytes + FIXED_ROOM + 6 * ((f.requestId?.length ?? 0) + (f.host?.length ?? 0) + (f.method?.length ?? 0) + (f.path?.length ?? 0) +
    (f.upstream?.length ?? 0) + (f.remote?.length ?? 0) + (f.code?.length ?? 0) + (f.reason?.length ?? 0))
}

/**
 * One access line written at `o` (room: roomFor), the UTF-8 bytes of formatAccessLine(lead, f)
 * with `lead` already there as bytes; returns the offset after it.
 */
export function writeAccessFields (buf: Buffer, o: number, f: AccessFields): number {
  if (f.requestId !== undefined) o = writeJsonString(buf, writeAscii(buf, o, ',"requestId":'), f.requestId)
  if (f.host !== undefined) o = writeJsonString(buf, writeAscii(buf, o, ',"host":'), f.host)
  if (f.method !== undefined) o = writeJsonString(buf, writeAscii(buf, o, ',"method":'), f.method)
  if (f.path !== undefined) o = writeJsonString(buf, writeAscii(buf, o, ',"path":'), f.path)
  o = writeNumber(buf, writeAscii(buf, o, ',"status":'), f.status)
  if (f.upstream !== undefined) o = writeJsonString(buf, writeAscii(buf, o, ',"upstream":'), f.upstream)
  o = writeTenths(buf, writeAscii(buf, o, ',"durationMs":'), f.durationMs)
  o = writeNumber(buf, writeAscii(buf, o, ',"bytes":'), f.bytes)
  if (f.remote !== undefined) o = writeJsonString(buf, writeAscii(buf, o, ',"remote":'), f.remote)
  if (f.scheme === 'https') o = writeAscii(buf, o, ',"scheme":"https"')
  if (f.code !== undefined) o = writeJsonString(buf, writeAscii(buf, o, ',"code":'), f.code)
  if (f.reason !== undefined) o = writeJsonString(buf, writeAscii(buf, o, ',"reason":'), f.reason)
  buf[o] = 0x7d
  buf[o + 1] = 0x0a
  return o + 2
}

/**
 * Lines are written as UTF-8 into one Buffer as they come and handed to the destination as one
 * string when the next line might not fit, or after BATCH_MS: one destination write (and one file
 * write, on libuv's thread pool) per ~200 lines. The logger's destination waits up to 200 ms more
 * (src/logger.ts); a batch still queued at exit is written synchronously.
 *
 * What a line costs, profiled (bench/access-log.ts, perf; see the commit): building it as a string
 * (a rope of ~25 pieces, a regex test per field, the number-to-string conversions) and encoding that
 * into the Buffer was most of it; the bytes are now written straight into the Buffer. A line whose
 * worst case does not fit in an empty batch (a path of ~10,000 characters) is written into a Buffer
 * of its own and handed over on its own, after the batch before it.
 *
 * A request only queues its fields (and the millisecond it ended); QUEUE_LINES of them are written
 * into the batch at a time, or when the batch's timer fires. Formatting inside the request handler
 * cost more than the formatting itself: side by side (bench/memory-settings.ts, two processes each,
 * 12 rounds, two runs; see the commit) the log on cost 10-12 % CPU per request with each line
 * formatted as its request ended, 7 % with 32 or 128 queued (128: 5 % less CPU per request than one
 * at a time), though the formatting code's own share of a profile is ~2 %.
 */
const BATCH_BYTES = 65_536
const BATCH_MS = 50
const QUEUE_LINES = 128

/** Access logs holding lines not yet handed to their destination, for the exit handler. */
const pendingLogs = new Set<AccessLog>()
let exitHooked = false

/** Where a proxy's access lines go: its logger's destination, with the logger's level, time and bindings. */
export class AccessLog {
  readonly #logger: Logger
  readonly #destination: Destination
  readonly #levelLead: string
  readonly #bindings: string
  readonly #time: () => string
  /** How pino's clock writes a given millisecond, when it is one of its standard clocks (which depend on Date.now() alone). */
  readonly #timeAt: ((ms: number) => string) | undefined
  /** Fields of requests that ended, and when (Date.now()), not yet written into the batch. */
  readonly #queued: AccessFields[] = []
  readonly #queuedMs: number[] = []
  /** The lead (level, time, bindings) as UTF-8 for the millisecond #leadMs. */
  #leadMs = -1
  #lead: Buffer = Buffer.alloc(0)
  readonly #batch = Buffer.allocUnsafeSlow(BATCH_BYTES)
  #length = 0
  #scheduled = false
  readonly #flush = (): void => { this.#scheduled = false; this.flush() }

  /** `log`: the proxy's logger; the lines carry its bindings plus component "access", as `log.child({ component: 'access' })` did. */
  constructor (log: Logger) {
    const logger = log.child({ component: 'access' })
    const own = logger as unknown as Record<symbol, unknown>
    this.#logger = logger
    this.#destination = own[pino.symbols.streamSym] as Destination
    this.#levelLead = (own[pino.symbols.lsCacheSym] as Record<number, string>)[30] ?? '{"level":30'
    this.#bindings = own[pino.symbols.chindingsSym] as string
    this.#time = own[pino.symbols.timeSym] as () => string
    // pino's standard clocks depend on Date.now() alone: a line's time can be written after its request
    // ended, and one formatted time per millisecond is exact. Another clock is read as each request ends.
    this.#timeAt = this.#time === pino.stdTimeFunctions.isoTime
      ? (ms) => `,"time":"${new Date(ms).toISOString()}"`
      : this.#time === pino.stdTimeFunctions.epochTime ? (ms) => `,"time":${ms}` : undefined
    if (!exitHooked) {
      exitHooked = true
      // process.exit() skips the event-loop turn a batch waits for: hand every batch over synchronously.
      process.on('exit', () => { for (const a of [...pendingLogs]) a.flush(true) })
    }
  }

  /** Queues one request's line; nothing when the logger's level is above info. */
  write (fields: AccessFields): void {
    if (!this.#logger.isLevelEnabled('info')) return
    if (this.#timeAt === undefined) {
      this.#format(fields, this.#leadWith(this.#time()))
    } else {
      this.#queued.push(fields)
      this.#queuedMs.push(Date.now())
      if (this.#queued.length >= QUEUE_LINES) this.#formatQueued()
    }
    this.#schedule()
  }

  /** Writes the queued lines into the batch, in the order their requests ended. */
  #formatQueued (): void {
    const queued = this.#queued
    const ms = this.#queuedMs
    for (let i = 0; i < queued.length; i++) this.#format(queued[i]!, this.#leadAt(ms[i]!))
    queued.length = 0
    ms.length = 0
  }

  #format (fields: AccessFields, lead: Buffer): void {
    const room = roomFor(lead.length, fields)
    if (room > BATCH_BYTES - this.#length) {
      this.#handOver()
      if (room > BATCH_BYTES) {
        // Too long for any batch: written the same way into a Buffer of its own.
        const own = Buffer.allocUnsafe(room)
        own.set(lead, 0)
        this.#destination.write(own.toString('utf8', 0, writeAccessFields(own, lead.length, fields)))
        return
      }
    }
    this.#batch.set(lead, this.#length)
    this.#length = writeAccessFields(this.#batch, this.#length + lead.length, fields)
  }

  /** The batch's timer, set by write() alone: queued and batched lines go out within BATCH_MS. */
  #schedule (): void {
    if (this.#scheduled) return
    this.#scheduled = true
    pendingLogs.add(this)
    setTimeout(this.#flush, BATCH_MS).unref()
  }

  /** The batch to the destination as one write. */
  #handOver (): void {
    if (this.#length === 0) return
    const chunk = this.#batch.toString('utf8', 0, this.#length)
    this.#length = 0
    this.#destination.write(chunk)
  }

  /** Hands every queued line to the destination (one write, with the batch); `sync`: and has it write them out now. */
  flush (sync = false): void {
    pendingLogs.delete(this)
    this.#formatQueued()
    this.#handOver()
    if (sync) {
      try { this.#destination.flushSync?.() } catch {} // a destination not open yet, or closed: nothing more can be done at exit
    }
  }

  /** The lead of a line whose request ended at `ms` (a standard clock), as UTF-8. */
  #leadAt (ms: number): Buffer {
    if (ms !== this.#leadMs) {
      this.#leadMs = ms
      this.#lead = this.#leadWith(this.#timeAt!(ms))
    }
    return this.#lead
  }

  /** The lead with `time` (pino's `,"time":...` field), as UTF-8. */
  #leadWith (time: string): Buffer {
    return Buffer.from(this.#levelLead + time + this.#bindings, 'utf8')
  }
}
