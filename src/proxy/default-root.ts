// nginx-proxy's DEFAULT_ROOT: the argument list of the `return` in the `location /` it adds to a
// host none of whose VIRTUAL_PATHs is `/` (nginx.tmpl), or `none` for no such location. Parsed once
// at start as nginx parses `return` (ngx_http_rewrite_module); expanded per request (pure).

const REDIRECT_CODES = new Set([301, 302, 303, 307, 308])
/** nginx variables a DEFAULT_ROOT may use; nginx refuses the configuration for any other. */
const VARIABLES = ['scheme', 'host', 'request_uri', 'uri', 'document_uri', 'args', 'query_string', 'is_args', 'server_port', 'request_method', 'server_name'] as const
export type DefaultRootVariable = typeof VARIABLES[number]

export type DefaultRoot =
  | { kind: 'none' }
  /** `text`: the body (non-redirect codes) or the Location (301, 302, 303, 307, 308); undefined: none. */
  | { kind: 'return', status: number, text: string | undefined }

export const DEFAULT_DEFAULT_ROOT: DefaultRoot = { kind: 'return', status: 404, text: undefined }

/** DEFAULT_ROOT as nginx reads `return code [text|URL]` or `return URL`; an error names why nginx would refuse it. */
export function parseDefaultRoot (value: string): DefaultRoot | { error: string } {
  const v = value.trim()
  if (v === 'none') return { kind: 'none' }
  const args = nginxArgs(v)
  if (typeof args === 'string') return { error: args }
  if (args.length === 0 || args.length > 2) return { error: 'return takes a code and an optional text or URL, or a URL' }
  const [first, second] = args as [string, string | undefined]
  if (second === undefined && /^(https?:\/\/|\$scheme)/.test(first)) return checked({ kind: 'return', status: 302, text: first })
  if (!/^\d{1,3}$/.test(first)) return { error: `invalid return code "${first}"` }
  return checked({ kind: 'return', status: Number(first), text: second })
}

export interface DefaultRootFacts {
  scheme: 'http' | 'https'
  /** Lower-cased, without the port (nginx's $host). */
  host: string
  /** Normalised request target, path and query. */
  requestUri: string
  method: string
  port: number
  /** The VIRTUAL_HOST entry (nginx's $server_name). */
  serverName: string
}

/** What the location answers: a redirect, a body, nginx's own page for the code, or 444 (close). */
export type DefaultRootAnswer =
  | { kind: 'redirect', status: number, location: string }
  | { kind: 'body', status: number, body: string }
  | { kind: 'status', status: number }
  | { kind: 'close' }

export function defaultRootAnswer (root: Extract<DefaultRoot, { kind: 'return' }>, facts: DefaultRootFacts): DefaultRootAnswer {
  if (root.status === 444) return { kind: 'close' }
  if (root.text === undefined) return { kind: 'status', status: root.status }
  const text = expand(root.text, facts)
  if (!REDIRECT_CODES.has(root.status)) return { kind: 'body', status: root.status, body: text }
  // absolute_redirect on: a relative URL gets the request's scheme, host and (non-default) port.
  const defaultPort = facts.scheme === 'https' ? 443 : 80
  const location = text.startsWith('/') ? `${facts.scheme}://${facts.host}${facts.port === defaultPort ? '' : `:${facts.port}`}${text}` : text
  return { kind: 'redirect', status: root.status, location }
}

// Private

function checked (root: Extract<DefaultRoot, { kind: 'return' }>): DefaultRoot | { error: string } {
  // nginx: `return` codes above 999 are invalid; 1xx cannot be sent as a final answer.
  if (root.status < 200 || root.status > 999) return { error: `invalid return code "${root.status}"` }
  for (const m of (root.text ?? '').matchAll(/\$(?:\{([A-Za-z0-9_]*)\}|([A-Za-z0-9_]*))/g)) {
    const name = m[1] ?? m[2] ?? ''
    if (!(VARIABLES as readonly string[]).includes(name)) return { error: `unknown variable "$${name}" (proxyctl expands ${VARIABLES.map((n) => `$${n}`).join(', ')})` }
  }
  // Control characters would be refused as header values; nginx would send them.
  if (/[\x00-\x08\x0a-\x1f\x7f]/.test(root.text ?? '')) return { error: 'control characters in the text' }
  return root
}

function expand (text: string, f: DefaultRootFacts): string {
  const q = f.requestUri.indexOf('?')
  const uri = q < 0 ? f.requestUri : f.requestUri.slice(0, q)
  const args = q < 0 ? '' : f.requestUri.slice(q + 1)
  const values: Record<DefaultRootVariable, string> = {
    scheme: f.scheme, host: f.host, request_uri: f.requestUri, uri, document_uri: uri, args, query_string: args,
    is_args: q < 0 ? '' : '?', server_port: String(f.port), request_method: f.method, server_name: f.serverName
  }
  return text.replace(/\$(?:\{([A-Za-z0-9_]*)\}|([A-Za-z0-9_]*))/g, (_, a: string | undefined, b: string | undefined) => values[(a ?? b ?? '') as DefaultRootVariable])
}

/** nginx's argument tokenizer for one directive's arguments: whitespace-separated, '…' and "…" quoted with \ escapes. */
function nginxArgs (text: string): string[] | string {
  const out: string[] = []
  let i = 0
  while (i < text.length) {
    while (i < text.length && /\s/.test(text[i]!)) i++
    if (i >= text.length) break
    const quote = text[i] === '"' || text[i] === "'" ? text[i]! : undefined
    let arg = ''
    if (quote !== undefined) {
      i++
      while (i < text.length && text[i] !== quote) {
        if (text[i] === '\\' && i + 1 < text.length) i++
        arg += text[i]!
        i++
      }
      if (i >= text.length) return 'unterminated quote'
      i++
      if (i < text.length && !/\s/.test(text[i]!)) return 'unexpected character after a quoted string'
    } else {
      while (i < text.length && !/\s/.test(text[i]!)) arg += text[i++]!
      // ${name} is a variable; any other brace or a ';' would end nginx's directive.
      if (/[;{}]/.test(arg.replace(/\$\{[A-Za-z0-9_]*\}/g, ''))) return `unexpected ";", "{" or "}" in "${arg}"`
    }
    out.push(arg)
  }
  return out
}
