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
 * as pino leaves them out. Pure.
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
 * Lines are handed to the destination in batches of up to this many bytes, or after BATCH_MS: one
 * destination write per batch instead of per line (each costs a scan of the destination's buffer
 * and, once it holds minLength bytes, a file write). The logger's destination waits up to 200 ms
 * more (src/logger.ts); a batch still queued at exit is written synchronously.
 *
 * Each line is encoded into one Buffer as it is made, and the batch is decoded once into a flat
 * string for the destination: a batch kept as one string grown by `+=` is a rope of ~25 pieces
 * per line that lives across young-generation collections (each copies it) and is flattened and
 * encoded twice by the destination; profiled, that cost about 3 µs per request in the proxy,
 * most of the log's cost (bench/access-log.ts).
 */
const BATCH_BYTES = 16_384
const BATCH_MS = 50
/** A line longer than this (a long path) is handed over on its own, after the batch before it. */
const MAX_BUFFERED_LINE = 4_096

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
  readonly #timeCacheable: boolean
  #timeMs = -1
  #timeText = ''
  readonly #batch = Buffer.allocUnsafeSlow(BATCH_BYTES + MAX_BUFFERED_LINE * 3)
  #length = 0
  /** Whether every byte of the batch is ASCII, so that it decodes as latin1 (cheaper than UTF-8). */
  #ascii = true
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
    // pino's standard clocks depend on Date.now() alone: one formatted time per millisecond is exact.
    this.#timeCacheable = this.#time === pino.stdTimeFunctions.isoTime || this.#time === pino.stdTimeFunctions.epochTime
    if (!exitHooked) {
      exitHooked = true
      // process.exit() skips the event-loop turn a batch waits for: hand every batch over synchronously.
      process.on('exit', () => { for (const a of [...pendingLogs]) a.flush(true) })
    }
  }

  /** Queues one request's line; nothing when the logger's level is above info. */
  write (fields: AccessFields): void {
    if (!this.#logger.isLevelEnabled('info')) return
    const line = formatAccessLine(this.#levelLead + this.#now() + this.#bindings, fields)
    if (line.length > MAX_BUFFERED_LINE) {
      this.flush()
      this.#destination.write(line)
      return
    }
    // At most 3 bytes per UTF-16 unit: a line of MAX_BUFFERED_LINE units always fits after BATCH_BYTES.
    const written = this.#batch.write(line, this.#length, 'utf8')
    this.#length += written
    if (written !== line.length) this.#ascii = false
    if (this.#length >= BATCH_BYTES) {
      this.flush()
    } else if (!this.#scheduled) {
      this.#scheduled = true
      pendingLogs.add(this)
      setTimeout(this.#flush, BATCH_MS).unref()
    }
  }

  /** Hands the queued lines to the destination (one write); `sync`: and has it write them out now. */
  flush (sync = false): void {
    pendingLogs.delete(this)
    if (this.#length > 0) {
      const chunk = this.#batch.toString(this.#ascii ? 'latin1' : 'utf8', 0, this.#length)
      this.#length = 0
      this.#ascii = true
      this.#destination.write(chunk)
    }
    if (sync) {
      try { this.#destination.flushSync?.() } catch {} // a destination not open yet, or closed: nothing more can be done at exit
    }
  }

  #now (): string {
    if (!this.#timeCacheable) return this.#time()
    const ms = Date.now()
    if (ms !== this.#timeMs) { this.#timeMs = ms; this.#timeText = this.#time() }
    return this.#timeText
  }
}
