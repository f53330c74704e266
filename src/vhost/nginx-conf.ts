// A small reader for nginx configuration as users write it in vhost.d files: comments, quoted
// strings with escapes, `;`-terminated directives and `{}` blocks. It does not evaluate anything.
// A block (`location / { ... }`, `if (...) { ... }`) comes back as one statement, so it is warned
// about as a whole; its inside is skipped.

export interface ConfStatement {
  name: string
  args: string[]
  /** 1-based line of the directive's name. */
  line: number
  /** The directive opened a `{}` block (its contents are not returned). */
  block: boolean
}

export interface ConfProblem { line: number, message: string }

export interface ConfParseResult {
  statements: ConfStatement[]
  /** Syntax errors; nginx would refuse the whole file. Statements read before the first one are kept. */
  errors: ConfProblem[]
}

type Token =
  | { kind: 'word', text: string, line: number, quoted: boolean }
  | { kind: ';' | '{' | '}', line: number }

/** Splits nginx syntax into tokens; stops at the first unterminated quote. */
export function tokenize (text: string): { tokens: Token[], error: ConfProblem | undefined } {
  const tokens: Token[] = []
  let line = 1
  let i = 0
  const n = text.length
  while (i < n) {
    const c = text[i]!
    if (c === '\n') { line++; i++; continue }
    if (c === ' ' || c === '\t' || c === '\r' || c === '\f' || c === '\v') { i++; continue }
    if (c === '#') {
      while (i < n && text[i] !== '\n') i++
      continue
    }
    if (c === ';' || c === '{' || c === '}') { tokens.push({ kind: c, line }); i++; continue }
    if (c === '"' || c === "'") {
      const start = line
      let out = ''
      i++
      for (;;) {
        if (i >= n) return { tokens, error: { line: start, message: `unterminated ${c === '"' ? 'double' : 'single'} quote` } }
        const d = text[i]!
        if (d === c) { i++; break }
        if (d === '\\' && i + 1 < n) {
          // nginx unescapes \" \' \\ and keeps \n-style sequences as written (\t, \r, \n become their bytes).
          const e = text[i + 1]!
          out += e === 'n' ? '\n' : e === 't' ? '\t' : e === 'r' ? '\r' : e === c || e === '\\' ? e : `\\${e}`
          if (e === '\n') line++
          i += 2
          continue
        }
        if (d === '\n') line++
        out += d
        i++
      }
      tokens.push({ kind: 'word', text: out, line: start, quoted: true })
      continue
    }
    let word = ''
    while (i < n) {
      const d = text[i]!
      if (d === ' ' || d === '\t' || d === '\r' || d === '\n' || d === '\f' || d === '\v' || d === ';' || d === '{' || d === '}') break
      // `${var}` keeps its braces inside a word, as nginx reads it.
      if (d === '$' && text[i + 1] === '{') {
        const close = text.indexOf('}', i)
        if (close < 0) break
        word += text.slice(i, close + 1)
        i = close + 1
        continue
      }
      if (d === '\\' && i + 1 < n) { word += text.slice(i, i + 2); i += 2; continue }
      word += d
      i++
    }
    tokens.push({ kind: 'word', text: word, line, quoted: false })
  }
  return { tokens, error: undefined }
}

/** Top-level statements of an nginx configuration fragment. */
export function parseNginxConf (text: string): ConfParseResult {
  const { tokens, error } = tokenize(text)
  const statements: ConfStatement[] = []
  const errors: ConfProblem[] = []
  let i = 0
  while (i < tokens.length) {
    const first = tokens[i]!
    if (first.kind !== 'word') {
      errors.push({ line: first.line, message: `unexpected "${first.kind}"` })
      break
    }
    const args: string[] = []
    i++
    let end: Token | undefined
    while (i < tokens.length) {
      const t = tokens[i]!
      if (t.kind === 'word') { args.push(t.text); i++; continue }
      end = t
      break
    }
    if (end === undefined) {
      if (error === undefined) errors.push({ line: first.line, message: `unexpected end of file, expecting ";" or "}" after "${first.text}"` })
      break
    }
    if (end.kind === '}') {
      errors.push({ line: end.line, message: 'unexpected "}"' })
      break
    }
    i++
    if (end.kind === ';') {
      statements.push({ name: first.text, args, line: first.line, block: false })
      continue
    }
    // A block: skip to its matching brace.
    let depth = 1
    while (i < tokens.length && depth > 0) {
      const t = tokens[i]!
      if (t.kind === '{') depth++
      else if (t.kind === '}') depth--
      i++
    }
    if (depth > 0) {
      if (error === undefined) errors.push({ line: first.line, message: `unexpected end of file, expecting "}" to close "${first.text}"` })
      break
    }
    statements.push({ name: first.text, args, line: first.line, block: true })
  }
  if (error !== undefined) errors.push(error)
  return { statements, errors }
}
