import { ProxyError, errorCode } from '../errors.js'

const CONNECT_FAILURES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT'])
const RESETS = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED'])
const TIMEOUTS = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT'])

/** Nothing reached the upstream: safe to try another one if the body was not consumed. */
export function isConnectFailure (err: unknown): boolean {
  return CONNECT_FAILURES.has(errorCode(err) ?? '')
}

/** The connection broke before response headers arrived. */
export function isResetBeforeResponse (err: unknown): boolean {
  return RESETS.has(errorCode(err) ?? '')
}

/** The single status mapping on the data plane (kamal's handleProxyError). */
export function statusForError (err: unknown): number {
  if (err instanceof ProxyError && err.statusCode !== undefined) return err.statusCode
  const code = errorCode(err) ?? ''
  if (TIMEOUTS.has(code)) return 504
  return 502
}

export const REASONS: Record<number, string> = {
  101: 'Switching Protocols', 200: 'OK', 301: 'Moved Permanently', 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden',
  404: 'Not Found', 405: 'Method Not Allowed', 408: 'Request Timeout', 413: 'Content Too Large', 414: 'URI Too Long', 417: 'Expectation Failed', 421: 'Misdirected Request',
  429: 'Too Many Requests', 431: 'Request Header Fields Too Large', 500: 'Internal Server Error', 502: 'Bad Gateway',
  503: 'Service Unavailable', 504: 'Gateway Timeout'
}

/** What sendError needs of a response: ServerResponse, H2Response and RawResponse (upgrades) all have it. */
export interface ErrorSink {
  headersSent: boolean
  shouldKeepAlive: boolean
  writeHead (status: number, headers: Record<string, string | number>): unknown
  end (body?: string | Buffer): unknown
  destroy (): void
}

/** `page`: an HTML body in place of the short text (nginx-proxy's errors/50x.html, error-page.ts). */
export function sendError (res: ErrorSink, status: number, code: string, extra: Record<string, string> = {}, page?: Buffer): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  const body = page ?? `${status} ${REASONS[status] ?? 'Error'}\n`
  // A malformed request leaves the connection in an unknown state, and a refused one may still be
  // followed by a body nobody reads: close it (as nginx does).
  if (status === 400 || status === 408 || status === 413 || status === 414 || status === 417) res.shouldKeepAlive = false
  res.writeHead(status, {
    'content-type': page === undefined ? 'text/plain; charset=utf-8' : 'text/html',
    'content-length': Buffer.byteLength(body),
    'x-proxyctl-error': code,
    'cache-control': 'no-store',
    ...extra
  })
  res.end(body)
}
