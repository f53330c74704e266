import type { HttpsMethod } from '../routing/desired-state.js'
import type { HostRoutes, Location } from '../routing/route-table.js'
import type { RouteTableStore } from '../routing/route-table-store.js'
import type { CertificateStore } from '../tls/certificate-store.js'
import type { AuthVerdict } from './basic-auth.js'
import { ACME_PREFIX } from './acme-challenge.js'
import { isInternalAddress } from './forwarded-headers.js'
import { parseRequestHead } from './request-target.js'

// The one routing decision for every kind of request (HTTP/1.1, HTTP/2 streams, upgrades):
// head -> host -> route -> scheme policy -> access rules -> target location. It returns an
// outcome; ProxyServer maps outcomes to responses in one place.

export type Scheme = 'http' | 'https'

/** Basic auth, as BasicAuthStore answers it; `client` is the socket's peer, never X-Forwarded-For. */
export interface AccessCheck {
  check (host: string, authorization: string | undefined, client: string): Promise<AuthVerdict>
  retryAfter (verdict: 'throttled' | 'busy', client: string): number
}

export interface RequestFacts {
  method: string
  /** The request-target as received. */
  target: string
  /** Every Host field line (HTTP/2: :authority too). */
  hostFields: string[]
  httpVersion: '1.0' | '1.1' | '2'
  remote: string
  authorization: string | undefined
  /** Declared body size, when Content-Length was sent. */
  contentLength: number | undefined
  upgrade: boolean
}

export type Decision =
  | { kind: 'refuse', status: number, code: string, reason?: string, headers?: Record<string, string>, routeHost?: string }
  | { kind: 'redirect', location: string }
  | { kind: 'acme', path: string }
  | {
    kind: 'forward'
    hostname: string
    /** Absolute-form target's authority: becomes the upstream Host. */
    authority: string | undefined
    loc: Location
    upstreamPath: string
    /** Strict-Transport-Security to add, when the host redirects HTTP to HTTPS. */
    hsts: string | undefined
  }

export interface RouterOptions {
  tls?: { certs: CertificateStore, defaultHttpsMethod: HttpsMethod, defaultHsts: string } | undefined
  auth?: AccessCheck | undefined
  htmlDir?: string | undefined
  httpsPort: () => number
}

export class RequestRouter {
  readonly #store: RouteTableStore
  readonly #options: RouterOptions

  constructor (store: RouteTableStore, options: RouterOptions) {
    this.#store = store
    this.#options = options
  }

  /** Synchronous unless the location has Basic auth. */
  decide (req: RequestFacts, scheme: Scheme): Decision | Promise<Decision> {
    if (req.method === 'CONNECT') return refuse(400, 'PROXY_ERR_BAD_REQUEST', 'CONNECT is not proxied') // as nginx
    if (req.method === 'TRACE') return refuse(405, 'PROXY_ERR_METHOD_NOT_ALLOWED', 'TRACE is not allowed') // as nginx
    const head = parseRequestHead(req.method, req.target, req.hostFields, req.httpVersion)
    if (head.kind === 'invalid') return refuse(head.status ?? 400, head.status === 414 ? 'PROXY_ERR_URI_TOO_LONG' : 'PROXY_ERR_BAD_REQUEST', head.reason)
    const { hostname, path } = head
    const routes = this.#store.current.resolve(hostname)
    if (scheme === 'http' && !req.upgrade && this.#options.htmlDir !== undefined && path.startsWith(ACME_PREFIX)) {
      return { kind: 'acme', path }
    }
    const httpsMethod = routes === undefined ? undefined : this.#httpsMethodFor(hostname, routes)
    const policy = this.#schemePolicy(scheme, routes, httpsMethod)
    if (policy === 'unavailable') return refuse(503, 'PROXY_ERR_HOST_NOT_FOUND')
    if (policy === 'redirect') {
      const port = this.#options.httpsPort()
      return { kind: 'redirect', location: `https://${hostname}${port === 443 ? '' : `:${port}`}${path}` }
    }
    const loc = routes?.match(path)
    if (routes === undefined || loc === undefined) return refuse(routes === undefined ? 503 : 404, 'PROXY_ERR_HOST_NOT_FOUND')
    if (loc.internalOnly && !isInternalAddress(req.remote)) return refuse(403, 'PROXY_ERR_FORBIDDEN', undefined, loc.host)
    const limit = loc.maxBodyBytes
    if (limit !== undefined && req.contentLength !== undefined && req.contentLength > limit) {
      return refuse(413, 'PROXY_ERR_BODY_TOO_LARGE', undefined, loc.host)
    }
    const hsts = scheme === 'https' && httpsMethod === 'redirect' ? (routes.tls.hsts ?? this.#options.tls?.defaultHsts ?? 'off') : 'off'
    const forward: Decision = {
      kind: 'forward',
      hostname,
      authority: head.authority,
      loc,
      upstreamPath: loc.dest === '' ? path : loc.dest + path.slice(loc.path.length),
      hsts: hsts === 'off' ? undefined : hsts
    }
    const auth = this.#options.auth
    if (auth === undefined) return forward
    return auth.check(loc.host, req.authorization, req.remote).then((verdict) => {
      switch (verdict) {
        case 'open':
        case 'ok': return forward
        case 'denied': return refuse(401, 'PROXY_ERR_UNAUTHORIZED', undefined, loc.host, { 'www-authenticate': `Basic realm="Restricted ${loc.host}"` })
        case 'throttled':
        case 'busy':
          return refuse(verdict === 'busy' ? 503 : 429, verdict === 'busy' ? 'PROXY_ERR_AUTH_BUSY' : 'PROXY_ERR_AUTH_THROTTLED', undefined, loc.host, { 'retry-after': String(auth.retryAfter(verdict, req.remote)) })
      }
    })
  }

  // Private

  /** nginx-proxy: a host is served over HTTPS only when it has a certificate of its own. */
  #httpsMethodFor (hostname: string, routes: HostRoutes): HttpsMethod | undefined {
    const tls = this.#options.tls
    if (tls === undefined || tls.certs.certificateFor(hostname, routes.tls.certName) === undefined) return undefined
    return routes.tls.httpsMethod ?? tls.defaultHttpsMethod
  }

  /** nginx-proxy's server blocks per HTTPS_METHOD: which scheme serves a host, and the redirect. */
  #schemePolicy (scheme: Scheme, routes: HostRoutes | undefined, httpsMethod: HttpsMethod | undefined): 'serve' | 'unavailable' | 'redirect' {
    if ((scheme === 'http' && httpsMethod === 'nohttp') || (scheme === 'https' && routes !== undefined && httpsMethod === undefined) || (scheme === 'https' && httpsMethod === 'nohttps')) {
      return 'unavailable'
    }
    return scheme === 'http' && httpsMethod === 'redirect' ? 'redirect' : 'serve'
  }
}

function refuse (status: number, code: string, reason?: string, routeHost?: string, headers?: Record<string, string>): Decision {
  return { kind: 'refuse', status, code, ...(reason !== undefined ? { reason } : {}), ...(routeHost !== undefined ? { routeHost } : {}), ...(headers !== undefined ? { headers } : {}) }
}
