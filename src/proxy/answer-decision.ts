import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import type { TLSSocket } from 'node:tls'
import type { Target } from '../routing/target.js'
import { PAUSE_RETRY_AFTER_S, type HoldOutcome, type HoldQueue } from '../traffic/hold-queue.js'
import { serveAcmeChallenge } from './acme-challenge.js'
import { debugResponse, type DebugGlobals } from './debug-endpoint.js'
import { sendError } from './error-response.js'
import type { H2Request } from './h2-exchange.js'
import type { Decision, RequestFacts, RequestRouter, Scheme } from './request-router.js'

// The proxy's own answers to a router decision, everything that is not forwarded: redirects,
// ACME challenges, the debug endpoint, DEFAULT_ROOT's returns, maintenance, refusals (auth, limits,
// unknown hosts) and paused hosts' holds. Forwarding is ProxyServer's.

/** What the access log and the request observer are told of one request, written as it is answered. */
export interface RequestRecord {
  status: number
  bytes: number
  code: string | undefined
  reason: string | undefined
  /** The matched route's host (the metrics label), or UNMATCHED_HOST. */
  routeHost: string
  target: Target | undefined
}

/** What answering needs of the proxy: read-only views (the hold queue keeps its own state). */
export interface AnswerContext {
  router: Pick<RequestRouter, 'decide'>
  holds: Pick<HoldQueue, 'hold'>
  options: {
    readonly errorPage?: { body (): Buffer | undefined } | undefined
    readonly debugEndpoint?: { global: DebugGlobals } | undefined
    readonly htmlDir?: string | undefined
  }
  /** An HTTP/2 stream's idle timeout, put back on it after a hold. */
  clientIdleTimeoutMs: number
}

/** The request being answered: upgrade is set for an upgrade handshake or CONNECT (a raw socket). */
export interface Exchange {
  req: IncomingMessage
  res: ServerResponse
  scheme: Scheme
  upgrade: { socket: Duplex, head: Buffer } | undefined
  h2: boolean
  idHeader: Record<string, string>
}

export type ForwardDecision = Extract<Decision, { kind: 'forward' }>

/**
 * Answers `decision`, writing into `rec`. A held request is decided again once released: the
 * forward decision it may then get is returned for the caller to forward; undefined: answered.
 */
export async function answerDecision (ctx: AnswerContext, decision: Exclude<Decision, ForwardDecision>, facts: RequestFacts, ex: Exchange, rec: RequestRecord): Promise<ForwardDecision | undefined> {
  const { req, res, scheme, upgrade, h2, idHeader } = ex
  let next: Decision = decision
  // A paused host: held (its body unread) until the pause ends, then decided again on the
  // snapshot of that moment (the route or a maintenance may have changed meanwhile).
  while (next.kind === 'hold') {
    rec.routeHost = next.routeHost
    const idle = h2 ? (req as unknown as H2Request).stream : upgrade === undefined ? req.socket : undefined
    const outcome = await hold(ctx.holds, next.routeHost, upgrade?.socket ?? res, idle, h2 ? ctx.clientIdleTimeoutMs : req.socket?.timeout ?? 0)
    if (outcome === 'gone') { rec.status = 499; rec.code = 'CLIENT_ABORTED'; return undefined }
    if (outcome !== 'released') {
      rec.status = 503; rec.code = outcome === 'full' ? 'PROXY_ERR_PAUSE_QUEUE_FULL' : 'PROXY_ERR_PAUSE_TIMEOUT'
      sendError(res, rec.status, rec.code, { ...idHeader, 'retry-after': String(PAUSE_RETRY_AFTER_S) })
      return undefined
    }
    const again = ctx.router.decide(facts, scheme)
    next = again instanceof Promise ? await again : again
  }
  switch (next.kind) {
    case 'maintenance':
      rec.routeHost = next.routeHost; rec.status = 503; rec.code = 'PROXY_ERR_MAINTENANCE'
      sendError(res, rec.status, rec.code, { ...idHeader, ...next.headers, 'content-type': 'text/html; charset=utf-8' }, next.page)
      return undefined
    case 'refuse':
      rec.status = next.status; rec.code = next.code; rec.reason = next.reason
      if (next.routeHost !== undefined) rec.routeHost = next.routeHost
      // nginx-proxy's fallback server: `error_page 500 502 503 504 /50x.html` when the file exists.
      sendError(res, rec.status, rec.code, { ...idHeader, ...next.headers }, next.fallback === true && rec.status >= 500 ? ctx.options.errorPage?.body() : undefined)
      return undefined
    case 'redirect':
      rec.status = next.status
      res.writeHead(rec.status, { location: next.location, 'content-length': 0, ...idHeader }).end()
      return undefined
    case 'return': {
      rec.routeHost = next.routeHost
      const answer = next.answer
      // 444: nginx closes the connection without a response.
      if (answer.kind === 'close') { rec.status = 444; res.destroy(); return undefined }
      rec.status = answer.status
      const body = answer.kind === 'body' ? answer.body : ''
      res.writeHead(rec.status, {
        ...(answer.kind === 'redirect' ? { location: answer.location } : {}),
        // nginx's default_type (nginx-proxy's nginx.conf): the text is sent as it is written.
        ...(answer.kind === 'body' ? { 'content-type': 'application/octet-stream' } : {}),
        'content-length': Buffer.byteLength(body),
        ...next.headers,
        ...idHeader
      }).end(body)
      return undefined
    }
    case 'debug': {
      rec.routeHost = next.host.routes.host
      const tlsSocket = scheme === 'https' ? req.socket as TLSSocket | null : null
      const json = debugResponse(ctx.options.debugEndpoint?.global ?? {}, {
        host: next.hostname,
        https: scheme === 'https',
        http2: h2,
        sslCipher: tlsSocket?.getCipher?.()?.name,
        sslProtocol: tlsSocket?.getProtocol?.() ?? undefined
      }, next.host)
      rec.status = 200
      const hsts = scheme === 'https' ? next.host.tls?.hsts : undefined
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json), 'cache-control': 'no-store', ...(hsts !== undefined ? { 'strict-transport-security': hsts } : {}), ...idHeader }).end(json)
      return undefined
    }
    case 'acme':
      rec.status = await serveAcmeChallenge(ctx.options.htmlDir ?? '', next.path, res)
      return undefined
    case 'forward':
      return next
  }
}

/**
 * Holds until released, expired, full, or the client closes its connection (HTTP/1.1, upgrade
 * socket) or stream (HTTP/2). A held client sends and reads nothing: its idle timeout is off
 * meanwhile (the pause's max hold bounds the wait), and back on when the hold ends.
 */
async function hold (holds: Pick<HoldQueue, 'hold'>, host: string, closer: { once (event: 'close', fn: () => void): unknown, off (event: 'close', fn: () => void): unknown }, idle: { setTimeout (ms: number): unknown, timeout?: number | undefined } | null | undefined, idleMs: number): Promise<HoldOutcome> {
  const gone = new AbortController()
  const onClose = (): void => { gone.abort() }
  closer.once('close', onClose)
  idle?.setTimeout(0)
  try {
    return await holds.hold(host, gone.signal)
  } finally {
    closer.off('close', onClose)
    idle?.setTimeout(idleMs)
  }
}
