import type { ServerResponse } from 'node:http'
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

const REASONS: Record<number, string> = {
  400: 'Bad Request', 403: 'Forbidden', 404: 'Not Found', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout'
}

export function sendError (res: ServerResponse, status: number, code: string, extra: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  const body = `${status} ${REASONS[status] ?? 'Error'}\n`
  // A malformed request leaves the connection in an unknown state: close it (as nginx does).
  if (status === 400) res.shouldKeepAlive = false
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'x-proxyctl-error': code,
    'cache-control': 'no-store',
    ...extra
  })
  res.end(body)
}
