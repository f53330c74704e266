import { RE2JS, RE2JSException } from 're2js'

// `VIRTUAL_HOST=~regex` (nginx's regex server_name) runs against attacker-chosen Host/SNI names, so
// it runs on RE2 (re2js, pure JS): time linear in the host's length, no backtracking, hence no ReDoS.
// RE2 has no backreferences or lookaround; such a pattern is refused when the container is read.

/** Longest pattern accepted, in characters. */
export const MAX_HOST_REGEX_LENGTH = 1024
/**
 * Largest compiled program accepted (re2js programSize(), roughly one instruction per literal or
 * operator after counted repeats are expanded). A match costs at most (host length x program
 * size) steps. Measured on a quiet 2-core machine (bench/redos.ts), patterns near 200 took
 * 0.9-2.4 ms p99 per 253-char host when every character builds a new DFA state; near 100 they
 * stay under 1 ms. So 100: a DNS-label pattern such as
 * `^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.apps\.example\.com$` (148) is written with `*` instead.
 */
export const MAX_HOST_REGEX_PROGRAM_SIZE = 100

export interface HostRegex {
  /** The pattern without its `~`. */
  readonly source: string
  /** RE2 instructions, at most MAX_HOST_REGEX_PROGRAM_SIZE. */
  readonly programSize: number
  /** Unanchored search, like nginx: the pattern anchors itself with ^ and $ if it wants to. */
  test: (hostname: string) => boolean
}

// What PCRE/JS users write that RE2 refuses, keyed by the fragment re2js reports.
const UNSUPPORTED: ReadonlyArray<[RegExp, string]> = [
  [/^\\[1-9]/, 'backreferences'],
  [/^\\k/, 'named backreferences'],
  [/^\(\?[=!]/, 'lookaheads'],
  [/^\(\?<[=!]/, 'lookbehinds'],
  [/^\(\?>/, 'atomic groups'],
  [/^\(\?\(/, 'conditionals'],
  [/^\(\?#/, 'comments'],
  [/^(?:[*+?]|\{[\d,]+\})\+$/, 'possessive quantifiers']
]

export function compileHostRegex (source: string): { regex: HostRegex } | { error: string } {
  if (source === '') return { error: 'empty regex' }
  if (source.length > MAX_HOST_REGEX_LENGTH) return { error: `regex longer than ${MAX_HOST_REGEX_LENGTH} characters` }
  let re: RE2JS
  try {
    re = RE2JS.compile(source)
  } catch (err) {
    if (!(err instanceof RE2JSException)) throw err
    const fragment = (err as { input?: string | null }).input ?? ''
    const feature = UNSUPPORTED.find(([pattern]) => pattern.test(fragment))?.[1]
    const detail = feature === undefined ? '' : `${feature} are not supported (host regexes run on RE2, in linear time); `
    return { error: `${detail}${err.message}` }
  }
  const size = re.programSize()
  if (size > MAX_HOST_REGEX_PROGRAM_SIZE) {
    return { error: `regex too large: ${size} RE2 instructions, at most ${MAX_HOST_REGEX_PROGRAM_SIZE} (write {0,61} as *, or split it into several hosts)` }
  }
  return { regex: Object.freeze({ source, programSize: size, test: (hostname: string) => re.test(hostname) }) }
}
