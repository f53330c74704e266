import { parseSize } from '../config/size.js'
import { parseNginxConf, type ConfStatement } from './nginx-conf.js'

// The nginx directives proxyctl honours from vhost.d files, read into plain settings (pure).
// Everything else is reported with its line, never silently dropped.

export interface AddedHeader {
  name: string
  value: string
  /** nginx's `always`: also on error responses, not only 2xx/3xx. */
  always: boolean
}

/** What one vhost.d file sets; an absent field is not set at that level (nginx inheritance). */
export interface VhostDirectives {
  /** client_max_body_size; null = `0`, no limit. */
  maxBodyBytes?: number | null
  readTimeoutMs?: number
  sendTimeoutMs?: number
  connectTimeoutMs?: number
  /** Present when the file has add_header: then it replaces the outer level's list, as in nginx. */
  addHeaders?: AddedHeader[]
}

export interface DirectiveWarning { line: number, directive: string, message: string }

export interface VhostFileReading {
  directives: VhostDirectives
  warnings: DirectiveWarning[]
}

/** Header names and values proxyctl will not let a file set: framing, hop-by-hop, and its own. */
const RESERVED_HEADERS = new Set([
  'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer',
  'proxy-connection', 'proxy-authenticate', 'x-request-id', 'x-proxyctl-error'
])
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,128}$/
/** Visible ASCII, space and tab; no CR, LF or NUL (a file is hostile input too). */
const HEADER_VALUE = /^[\x20-\x7e\t]{0,4096}$/
const NGINX_VARIABLE = /\$(?:[A-Za-z_]|\{)/
const MAX_NAME_IN_WARNING = 64

/** nginx time syntax: `60`, `60s`, `500ms`, `1m30s`, `1h`, `1d`. */
export function parseNginxTimeMs (text: string): number | undefined {
  if (/^\d{1,9}$/.test(text)) return Number(text) * 1000
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }
  const re = /(\d{1,9})(ms|s|m|h|d|w)/y
  let total = 0
  let at = 0
  while (at < text.length) {
    re.lastIndex = at
    const m = re.exec(text)
    if (m === null) return undefined
    total += Number(m[1]) * units[m[2]!]!
    at = re.lastIndex
  }
  return text.length > 0 && Number.isSafeInteger(total) ? total : undefined
}

/** Reads one vhost.d file's text. `location` files are included inside nginx-proxy's location block. */
export function readVhostFile (text: string): VhostFileReading {
  const parsed = parseNginxConf(text)
  const warnings: DirectiveWarning[] = []
  const directives: VhostDirectives = {}
  const seen = new Set<string>()
  for (const e of parsed.errors) warnings.push({ line: e.line, directive: '', message: `syntax error: ${e.message} (nginx would reject this file; proxyctl reads what came before)` })
  for (const s of parsed.statements) {
    const w = (message: string): void => { warnings.push({ line: s.line, directive: shortName(s.name), message }) }
    if (s.block) { w(`"${shortName(s.name)} {...}" block is not supported by proxyctl and is ignored`); continue }
    if (s.name !== 'add_header') {
      if (seen.has(s.name) && HONOURED.has(s.name)) { w(`"${s.name}" is duplicate (nginx would reject this file); the first one is used`); continue }
      seen.add(s.name)
    }
    applyDirective(s, directives, w)
  }
  return { directives, warnings }
}

const HONOURED = new Set(['client_max_body_size', 'proxy_read_timeout', 'proxy_send_timeout', 'proxy_connect_timeout', 'proxy_buffering', 'add_header'])

function applyDirective (s: ConfStatement, d: VhostDirectives, warn: (message: string) => void): void {
  const one = (): string | undefined => {
    if (s.args.length === 1) return s.args[0]!
    warn(`"${s.name}" takes one value, got ${s.args.length}; ignored`)
    return undefined
  }
  switch (s.name) {
    case 'client_max_body_size': {
      const v = one()
      if (v === undefined) return
      const size = parseSize(v)
      if (typeof size === 'object') { warn(`client_max_body_size: ${size.error}; ignored`); return }
      d.maxBodyBytes = size ?? null
      return
    }
    case 'proxy_read_timeout':
    case 'proxy_send_timeout':
    case 'proxy_connect_timeout': {
      const v = one()
      if (v === undefined) return
      const ms = parseNginxTimeMs(v)
      if (ms === undefined || ms === 0) { warn(`${s.name}: ${JSON.stringify(v)} is not a time (60s, 500ms, 1m); ignored`); return }
      if (s.name === 'proxy_read_timeout') d.readTimeoutMs = ms
      else if (s.name === 'proxy_send_timeout') d.sendTimeoutMs = ms
      else d.connectTimeoutMs = ms
      return
    }
    case 'proxy_buffering': {
      // proxyctl always streams, which is what `off` asks for.
      const v = one()
      if (v !== undefined && v !== 'off') warn('proxy_buffering on is not supported: proxyctl streams responses (as with "off")')
      return
    }
    case 'add_header': {
      const header = readAddHeader(s, warn)
      if (header !== undefined) (d.addHeaders ??= []).push(header)
      return
    }
    case 'include':
      warn('include is not followed by proxyctl; the included file is ignored')
      return
    default:
      warn(`"${shortName(s.name)}" is not supported by proxyctl and is ignored`)
  }
}

function readAddHeader (s: ConfStatement, warn: (message: string) => void): AddedHeader | undefined {
  const [name, value, flag, ...rest] = s.args
  if (name === undefined || value === undefined || rest.length > 0 || (flag !== undefined && flag !== 'always')) {
    warn('add_header takes a name, a value and optionally "always"; ignored')
    return undefined
  }
  if (!TOKEN.test(name)) { warn(`add_header: ${JSON.stringify(name.slice(0, MAX_NAME_IN_WARNING))} is not a header name; ignored`); return undefined }
  if (RESERVED_HEADERS.has(name.toLowerCase())) { warn(`add_header ${name}: the proxy sets this header itself; ignored`); return undefined }
  if (!HEADER_VALUE.test(value)) { warn(`add_header ${name}: the value has characters a header cannot carry (control characters, non-ASCII) or is over 4096; ignored`); return undefined }
  if (NGINX_VARIABLE.test(value)) { warn(`add_header ${name}: nginx variables ($name) are not expanded by proxyctl; ignored`); return undefined }
  return { name, value: value.trim(), always: flag === 'always' }
}

function shortName (name: string): string {
  // Printable in a log line whatever the file held.
  const safe = name.replace(/[^\x21-\x7e]/g, '?')
  return safe.length > MAX_NAME_IN_WARNING ? `${safe.slice(0, MAX_NAME_IN_WARNING)}...` : safe
}

/** nginx adds add_header fields (without `always`) to these statuses only. */
const ADD_HEADER_STATUSES = new Set([200, 201, 204, 206, 301, 302, 303, 304, 307, 308])

/** The added headers for a response with this status, as a flat [name, value, ...] list. */
export function addedHeadersFor (status: number, headers: readonly AddedHeader[]): string[] {
  const out: string[] = []
  const any = ADD_HEADER_STATUSES.has(status)
  for (const h of headers) if (h.always || any) out.push(h.name, h.value)
  return out
}
