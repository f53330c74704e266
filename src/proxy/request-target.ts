// The request head as RFC 9112/9110 define it, checked before any route lookup (pure).
// Everything here is attacker-chosen: request-target, Host, :authority. The result is either a
// normalised (hostname, path) pair the router can trust, or the reason for a 400.

/** RFC 1035 plus the underscore Docker names use; a name longer than this is no DNS name. */
export const MAX_HOSTNAME_LENGTH = 253
/** nginx's large_client_header_buffers (8k) bounds its request line; longer targets are 414. */
export const MAX_TARGET_LENGTH = 8_192

export type RequestHead =
  | {
    kind: 'ok'
    /** Lower-case, no port, no trailing dot: what routes are keyed by ('' when the client sent none). */
    hostname: string
    /** The authority to send upstream as Host when the target was absolute-form; else undefined. */
    authority: string | undefined
    /** Origin-form, dot-segments removed, query kept verbatim. */
    path: string
  }
  | { kind: 'invalid', reason: string, status?: 414 }

const HOST_CHARS = /^[a-z0-9_.-]*$/
const IPV6_LITERAL = /^\[[0-9a-f:.]+\]$/

/** Normalises a Host value: lower-case, no port, no trailing dot. Undefined when malformed. */
export function hostnameOf (host: string | undefined): string | undefined {
  if (host === undefined || host === '') return ''
  let h = host.trim().toLowerCase()
  if (h.length > MAX_HOSTNAME_LENGTH + 7) return undefined // name + ':' + port, with a dot to spare
  if (h.startsWith('[')) {
    const end = h.indexOf(']')
    if (end < 0) return undefined
    const literal = h.slice(0, end + 1)
    const rest = h.slice(end + 1)
    if (!IPV6_LITERAL.test(literal) || (rest !== '' && !/^:\d{0,5}$/.test(rest))) return undefined
    return literal
  }
  const colon = h.indexOf(':')
  if (colon >= 0) {
    if (!/^\d{0,5}$/.test(h.slice(colon + 1))) return undefined
    h = h.slice(0, colon)
  }
  if (h.endsWith('.')) h = h.slice(0, -1)
  if (h.length > MAX_HOSTNAME_LENGTH || h.startsWith('.') || h.includes('..')) return undefined
  return HOST_CHARS.test(h) ? h : undefined
}

const ABSOLUTE_FORM = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)([^#]*)/i

/**
 * Reads the request-target and Host field(s) of one request (RFC 9112 §3.2).
 * `hostFields` is every Host field line the client sent (HTTP/2: `:authority` as well).
 */
export function parseRequestHead (method: string, target: string, hostFields: string[], httpVersion: '1.0' | '1.1' | '2'): RequestHead {
  if (hostFields.length > 1) {
    // HTTP/2 may carry :authority and Host: allowed only when they agree (RFC 9113 §8.3.1).
    const first = hostFields[0]!.toLowerCase()
    if (httpVersion !== '2' || hostFields.some((h) => h.toLowerCase() !== first)) return invalid('more than one Host')
  }
  if (target.length > MAX_TARGET_LENGTH) return { kind: 'invalid', reason: 'request-target too long', status: 414 }
  const hostField = hostFields[0]
  if (hostField === undefined && httpVersion === '1.1') return invalid('HTTP/1.1 request without Host')
  const fieldHost = hostnameOf(hostField)
  if (fieldHost === undefined) return invalid('malformed Host')

  if (target.startsWith('/')) {
    const path = normalizePath(target)
    if (typeof path !== 'string') return path
    return { kind: 'ok', hostname: fieldHost, authority: undefined, path }
  }
  // HTTP/2's :path is origin-form (or * for OPTIONS); the authority travels in :authority.
  if (httpVersion === '2' && target !== '*') return invalid('HTTP/2 :path not in origin-form')
  if (target === '*') return invalid(method === 'OPTIONS' ? 'asterisk-form is not served' : 'asterisk-form outside OPTIONS')
  const abs = ABSOLUTE_FORM.exec(target)
  if (abs === null || abs[0].length !== target.length) return invalid('unparseable request-target')
  const scheme = abs[1]!.toLowerCase()
  const authority = abs[2]!
  if (scheme !== 'http' && scheme !== 'https') return invalid(`scheme "${scheme}" is not proxied`)
  if (authority === '' || authority.includes('@')) return invalid('absolute-form without host, or with userinfo')
  const targetHost = hostnameOf(authority)
  if (targetHost === undefined || targetHost === '') return invalid('malformed host in request-target')
  // The target's host wins (RFC 9112 §3.2.2); a Host naming another host is refused rather than
  // ignored, so no cache or app behind us ever sees two answers to "which host is this?".
  if (hostField !== undefined && fieldHost !== targetHost) return invalid('Host differs from the request-target')
  const path = normalizePath(abs[3] === '' ? '/' : abs[3]!.startsWith('?') ? `/${abs[3]!}` : abs[3]!)
  if (typeof path !== 'string') return path
  return { kind: 'ok', hostname: targetHost, authority: authority.toLowerCase(), path }
}

/**
 * RFC 3986 §5.2.4 remove_dot_segments on the path (`.`/`..`, also as %2e), query untouched.
 * Malformed percent-encoding and a path that climbs above the root are refused, as nginx does.
 */
export function normalizePath (target: string): string | { kind: 'invalid', reason: string } {
  const q = target.indexOf('?')
  const path = q < 0 ? target : target.slice(0, q)
  const query = q < 0 ? '' : target.slice(q)
  if (!path.startsWith('/')) return invalid('path does not start with /')
  if (/[^\x21-\x22\x24-\x7e]/.test(target)) return invalid('control character, space, non-ASCII or # in the request-target')
  if (/%(?![0-9a-fA-F]{2})/.test(target)) return invalid('malformed percent-encoding')
  // Fast path: no dot segment possible.
  if (!path.includes('.') && !/%2e/i.test(path)) return target
  const segments = path.slice(1).split('/')
  const out: string[] = []
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i]!
    const dots = seg.replace(/%2e/gi, '.')
    const last = i === segments.length - 1
    if (dots === '.') {
      if (last) out.push('')
      continue
    }
    if (dots === '..') {
      if (out.length === 0) return invalid('path climbs above the root')
      out.pop()
      if (last) out.push('')
      continue
    }
    out.push(seg)
  }
  return `/${out.join('/')}${query}`
}

function invalid (reason: string): { kind: 'invalid', reason: string } {
  return { kind: 'invalid', reason }
}
