import type { AcmeChallengeLocation, HttpsMethod } from '../routing/desired-state.js'
import type { HostRoutes, Location } from '../routing/route-table.js'
import type { RouteTableStore } from '../routing/route-table-store.js'
import type { CertificateStore } from '../tls/certificate-store.js'
import type { SslPolicy } from '../tls/policy.js'
import { clientCertVerdict, type ClientCertFacts } from '../tls/tls-profile.js'
import { DEFAULT_TLS_DEFAULTS, hostTls, redirectStatus, type HostTls, type RedirectStatus } from '../tls/host-tls.js'
import { addedHeadersFor } from '../vhost/vhost-directives.js'
import type { VhostLocationSettings } from '../vhost/vhost-store.js'
import type { AuthVerdict } from './basic-auth.js'
import { ACME_PREFIX } from './acme-challenge.js'
import { DEBUG_PATH, type DebugHost } from './debug-endpoint.js'
import { DEFAULT_DEFAULT_ROOT, defaultRootAnswer, type DefaultRoot, type DefaultRootAnswer } from './default-root.js'
import { isInternalAddress } from './forwarded-headers.js'
import { parseRequestHead } from './request-target.js'
import type { HostPolicy } from '../traffic/policy.js'
import { MAINTENANCE_RETRY_AFTER_S, maintenanceAllows, maintenancePage } from '../traffic/maintenance.js'

// The one routing decision for every kind of request (HTTP/1.1, HTTP/2 streams, upgrades):
// head -> host -> route -> scheme policy -> access rules -> target location. It returns an
// outcome; ProxyServer maps outcomes to responses in one place.

export type Scheme = 'http' | 'https'

/**
 * Basic auth, as BasicAuthStore answers it, for a location: `host` and `path` are its VIRTUAL_HOST
 * entry and VIRTUAL_PATH. `client` is the socket's peer, never X-Forwarded-For.
 */
export interface AccessCheck {
  check (host: string, path: string, authorization: string | undefined, client: string): Promise<AuthVerdict>
  /** The realm a 401 for this location names. */
  realm (host: string, path: string): string
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
  /** The port the request came in on (the listener: a host is served only on its own ports); undefined: the scheme's default listener. */
  localPort?: number | undefined
  /** HTTPS: the connection's client certificate, read only for hosts that verify one (ssl_verify_client). */
  clientCert?: (() => ClientCertFacts) | undefined
}

export type Decision =
  /** `fallback`: nginx-proxy's fallback server answers it (names no host serves), with errors/50x.html when present. */
  | { kind: 'refuse', status: number, code: string, reason?: string, headers?: Record<string, string>, routeHost?: string, fallback?: true }
  /** DEFAULT_ROOT: a host's path none of its locations matches. */
  | { kind: 'return', answer: DefaultRootAnswer, routeHost: string, headers: Record<string, string> | undefined }
  /** nginx-proxy's /nginx-proxy-debug location (DEBUG_ENDPOINT, the debug-endpoint label). */
  | { kind: 'debug', hostname: string, host: DebugHost }
  | { kind: 'redirect', status: RedirectStatus, location: string }
  | { kind: 'acme', path: string }
  /** `proxyctl pause`: hold the request (body unread) until the host's pause ends, then decide again. */
  | { kind: 'hold', routeHost: string }
  /** `proxyctl maintenance on`: 503 with Retry-After and the HTML page. */
  | { kind: 'maintenance', routeHost: string, page: Buffer, headers: Record<string, string> }
  | {
    kind: 'forward'
    hostname: string
    /** Absolute-form target's authority: becomes the upstream Host. */
    authority: string | undefined
    loc: Location
    upstreamPath: string
    /** Strict-Transport-Security to add, when the host redirects HTTP to HTTPS. */
    hsts: string | undefined
    /** Request-body limit: the label's, else vhost.d's client_max_body_size; undefined: none. */
    maxBodyBytes: number | undefined
    /** vhost.d directives for this location (timeouts, add_header). */
    vhost: VhostLocationSettings | undefined
    /** Fields for the proxy's own answers on this location: vhost.d's `add_header … always` and HSTS. */
    always: Record<string, string> | undefined
  }

/** nginx-proxy's ACME_HTTP_CHALLENGE_LOCATION and ACME_HTTP_CHALLENGE_ACCEPT_UNKNOWN_HOST. */
export interface AcmeOptions {
  /** Hosts without the container setting: true (nginx-proxy's default), false or 'legacy'. */
  location: AcmeChallengeLocation
  /** Challenges for names no server block answers (nginx-proxy's fallback server); default false. */
  acceptUnknownHost: boolean
}

export const DEFAULT_ACME_OPTIONS: AcmeOptions = { location: true, acceptUnknownHost: false }

/** The HTTPS settings routing reads (everything but the HTTPS listener's port). */
export interface RouterTlsOptions {
  certs: CertificateStore
  defaultHttpsMethod: HttpsMethod
  /** nginx-proxy's HSTS default; 'off' disables. */
  defaultHsts: string
  /** TRUST_DEFAULT_CERT (default true), ENABLE_HTTP_ON_MISSING_CERT (true), NON_GET_REDIRECT (301). */
  trustDefaultCert?: boolean | undefined
  enableHttpOnMissingCert?: boolean | undefined
  nonGetRedirect?: RedirectStatus | undefined
  /** ENABLE_HTTP2 (default true): h2 offered by ALPN; the http2.enable label overrides it per host. */
  enableHttp2?: boolean | undefined
  /** SSL_POLICY (default Mozilla-Intermediate); a container's SSL_POLICY overrides it per host. */
  sslPolicy?: SslPolicy | undefined
}

export interface RouterOptions {
  tls?: RouterTlsOptions | undefined
  auth?: AccessCheck | undefined
  htmlDir?: string | undefined
  acme?: AcmeOptions | undefined
  httpsPort: () => number
  /** The default HTTP listener's port (hosts without EXTERNAL_HTTP_PORT are served there). */
  httpPort?: () => number
  /** nginx-proxy's vhost.d files (VhostStore), read per request from its current snapshot. */
  vhost?: { settingsFor (host: string, path: string): VhostLocationSettings | undefined } | undefined
  /** DEFAULT_ROOT (nginx-proxy: 404): what a path no location of its host matches gets. */
  defaultRoot?: DefaultRoot | undefined
  /** DEBUG_ENDPOINT (nginx-proxy: false); the debug-endpoint label overrides it per host. */
  debugEndpoint?: boolean | undefined
  /** Traffic control (PolicyStore): pause and maintenance per route host, read per request. */
  policy?: { forHost (host: string): HostPolicy | undefined } | undefined
}

export class RequestRouter {
  readonly #store: RouteTableStore
  readonly #options: RouterOptions
  /** hostTls per table entry (immutable) and certificate-store generation: asked several times a request. */
  #tlsCache = new WeakMap<HostRoutes, { generation: number, tls: HostTls }>()

  constructor (store: RouteTableStore, options: RouterOptions) {
    this.#store = store
    this.#options = options
  }

  /** Synchronous unless the location has Basic auth. */
  decide (req: RequestFacts, scheme: Scheme): Decision | Promise<Decision> {
    if (req.method === 'CONNECT') return refuse(400, 'PROXY_ERR_BAD_REQUEST', 'CONNECT is not proxied') // as nginx
    if (req.method === 'TRACE') return refuse(405, 'PROXY_ERR_METHOD_NOT_ALLOWED', 'TRACE is not allowed') // as nginx
    // PRI is the HTTP/2 connection preface seen by an HTTP/1.1 parser (RFC 9113 §3.4), never a request.
    if (req.method === 'PRI') return refuse(400, 'PROXY_ERR_BAD_REQUEST', 'PRI is the HTTP/2 preface, not a method')
    const head = parseRequestHead(req.method, req.target, req.hostFields, req.httpVersion)
    if (head.kind === 'invalid') return refuse(head.status ?? 400, head.status === 414 ? 'PROXY_ERR_URI_TOO_LONG' : 'PROXY_ERR_BAD_REQUEST', head.reason)
    const { hostname, path } = head
    const routes = this.routesFor(hostname, scheme, req.localPort)
    const tls = routes === undefined ? undefined : this.hostTls(routes)
    // nginx checks client certificates before any location, the ACME one included.
    const certRefused = scheme === 'https' && routes !== undefined ? this.#clientCertRefusal(routes, tls, req) : undefined
    if (certRefused !== undefined) return certRefused
    // Before redirects, network rules and auth, as nginx-proxy's ACME location.
    if (!req.upgrade && path.startsWith(ACME_PREFIX) && this.#servesAcme(scheme, routes)) return { kind: 'acme', path }
    // No handshake completes as a host without a usable certificate; one named over another
    // host's connection gets what nginx-proxy's fallback server answers.
    if (scheme === 'https' && tls !== undefined && tls.cert === undefined) return fallback()
    // nginx-proxy's debug location sits in the host's HTTP server even when that only redirects;
    // a longer VIRTUAL_PATH prefix wins over it (nginx's longest prefix match).
    if (routes !== undefined && (routes.tls.debugEndpoint ?? this.#options.debugEndpoint ?? false) && path.startsWith(DEBUG_PATH)) {
      const longer = routes.match(path)
      if (longer === undefined || longer.path.length <= DEBUG_PATH.length) {
        const httpsPort = this.#options.tls === undefined ? undefined : routes.externalPorts?.https ?? this.#options.httpsPort()
        return {
          kind: 'debug',
          hostname,
          host: {
            routes,
            tls,
            isDefault: this.#store.current.defaultHost === routes.host,
            acme: routes.tls.acmeChallenge ?? (this.#options.acme ?? DEFAULT_ACME_OPTIONS).location,
            ports: { http: routes.externalPorts?.http ?? this.#options.httpPort?.() ?? 0, https: httpsPort }
          }
        }
      }
    }
    if (scheme === 'http' && tls?.httpsMethod === 'redirect') {
      // nginx-proxy redirects to the host's external HTTPS port, omitted when it is 443.
      const port = routes?.externalPorts?.https ?? this.#options.httpsPort()
      return { kind: 'redirect', status: redirectStatus(req.method, tls), location: `https://${hostname}${port === 443 ? '' : `:${port}`}${path}` }
    }
    if (routes === undefined) return fallback()
    // After ACME, debug and redirects (none reaches the app); before everything the app's locations decide.
    const policy = this.#options.policy?.forHost(routes.host)
    if (policy?.maintenance !== undefined && !maintenanceAllows(policy.maintenance, req.remote)) {
      return { kind: 'maintenance', routeHost: routes.host, page: maintenancePage(policy.maintenance), headers: { 'retry-after': String(MAINTENANCE_RETRY_AFTER_S) } }
    }
    if (policy?.pause !== undefined) return { kind: 'hold', routeHost: routes.host }
    const loc = routes.match(path)
    if (loc === undefined) return this.#defaultRoot(req, scheme, hostname, path, routes, tls)
    const vhost = this.#options.vhost?.settingsFor(loc.host, loc.path)
    // add_header ... always: on the proxy's own answers for this location too, as nginx.
    const hsts = scheme === 'https' ? tls?.hsts : undefined
    // nginx-proxy's HSTS is `add_header ... always` too: on the proxy's own answers for the host.
    const always = hsts === undefined ? alwaysHeaders(vhost) : { ...alwaysHeaders(vhost), 'strict-transport-security': hsts }
    if (loc.internalOnly && !isInternalAddress(req.remote)) return refuse(403, 'PROXY_ERR_FORBIDDEN', undefined, loc.host, always)
    // The label is set on the location itself; vhost.d files are server or location level.
    const limit = loc.maxBodyBytes ?? vhost?.maxBodyBytes ?? undefined
    if (limit !== undefined && req.contentLength !== undefined && req.contentLength > limit) {
      return refuse(413, 'PROXY_ERR_BODY_TOO_LARGE', undefined, loc.host, always)
    }
    const forward: Decision = {
      kind: 'forward',
      hostname,
      authority: head.authority,
      loc,
      upstreamPath: loc.dest === '' ? path : loc.dest + path.slice(loc.path.length),
      hsts,
      maxBodyBytes: limit,
      vhost,
      always
    }
    const auth = this.#options.auth
    if (auth === undefined) return forward
    return auth.check(loc.host, loc.path, req.authorization, req.remote).then((verdict) => {
      switch (verdict) {
        case 'open':
        case 'ok': return forward
        case 'denied': return refuse(401, 'PROXY_ERR_UNAUTHORIZED', undefined, loc.host, { ...always, 'www-authenticate': `Basic realm="${auth.realm(loc.host, loc.path)}"` })
        case 'throttled':
        case 'busy':
          return refuse(verdict === 'busy' ? 503 : 429, verdict === 'busy' ? 'PROXY_ERR_AUTH_BUSY' : 'PROXY_ERR_AUTH_THROTTLED', undefined, loc.host, { ...always, 'retry-after': String(auth.retryAfter(verdict, req.remote)) })
      }
    })
  }

  // Private

  /**
   * ssl_verify_client as nginx applies it to each request. A request for a verifying host over a
   * connection negotiated (SNI) for another host is 421, as ngx_http_set_virtual_server answers:
   * that connection's certificate was checked, or not, against the other host's CA. Then a
   * missing or failed certificate is 400, nginx's "No required SSL certificate was sent" and
   * "The SSL certificate error". No SNI: the certificate the connection has, as nginx.
   */
  #clientCertRefusal (routes: HostRoutes, tls: HostTls | undefined, req: RequestFacts): Decision | undefined {
    const verify = tls?.profile.clientVerify
    if (verify === undefined) return undefined
    const facts = req.clientCert?.() ?? { servername: undefined, presented: false, verifyError: undefined }
    const sni = facts.servername?.toLowerCase().replace(/\.$/, '') ?? ''
    if (sni !== '' && this.routesFor(sni, 'https', req.localPort)?.host !== routes.host) {
      return refuse(421, 'PROXY_ERR_MISDIRECTED_REQUEST', `TLS connection negotiated for ${sni}`, routes.host)
    }
    switch (clientCertVerdict(verify.mode, facts)) {
      case 'ok': return undefined
      case 'missing': return refuse(400, 'PROXY_ERR_CLIENT_CERT_REQUIRED', 'No required SSL certificate was sent', routes.host)
      case 'invalid': return refuse(400, 'PROXY_ERR_CLIENT_CERT_INVALID', `The SSL certificate error: ${facts.verifyError ?? ''}`, routes.host)
    }
  }

  /**
   * nginx-proxy's `location / { return $DEFAULT_ROOT; }` of a host without a `/` VIRTUAL_PATH. With
   * `none` it has no such location: nginx serves its own root (absent in the image), 404; a
   * `location /` of vhost.d's is not read (vhost-store.ts warns about blocks).
   */
  #defaultRoot (req: RequestFacts, scheme: Scheme, hostname: string, path: string, routes: HostRoutes, tls: HostTls | undefined): Decision {
    const root = this.#options.defaultRoot ?? DEFAULT_DEFAULT_ROOT
    // HSTS is `add_header ... always` at server level: inherited by this location.
    const hsts = scheme === 'https' && tls?.hsts !== undefined ? { 'strict-transport-security': tls.hsts } : undefined
    if (root.kind === 'none') return refuse(404, 'PROXY_ERR_HOST_NOT_FOUND', undefined, routes.host, hsts)
    const defaultPort = (scheme === 'https' ? this.#options.httpsPort : this.#options.httpPort)?.() ?? 0
    const answer = defaultRootAnswer(root, { scheme, host: hostname, requestUri: path, method: req.method, port: req.localPort ?? defaultPort, serverName: routes.host })
    if (answer.kind === 'status' && answer.status >= 400) return refuse(answer.status, 'PROXY_ERR_HOST_NOT_FOUND', undefined, routes.host, hsts)
    return { kind: 'return', answer, routeHost: routes.host, headers: hsts }
  }

  /**
   * Whether the server block nginx-proxy would pick for this request has its ACME location
   * (nginx.tmpl): `routes` is that block (routesFor), undefined for the fallback server, which has
   * one only with ACME_HTTP_CHALLENGE_ACCEPT_UNKNOWN_HOST. A redirecting host's HTTP server has it
   * unless the setting is false; a noredirect host's server (HTTP and HTTPS) only when it is true;
   * nohttps hosts and the HTTPS servers of redirect and nohttp hosts have none: the path is proxied.
   */
  #servesAcme (scheme: Scheme, routes: HostRoutes | undefined): boolean {
    if (this.#options.htmlDir === undefined) return false
    const acme = this.#options.acme ?? DEFAULT_ACME_OPTIONS
    if (routes === undefined) return acme.acceptUnknownHost
    const setting = routes.tls.acmeChallenge ?? acme.location
    const tls = this.hostTls(routes)
    // Without an HTTPS listener every host is served over HTTP as nginx-proxy serves noredirect.
    const method = tls?.httpsMethod ?? 'noredirect'
    if (scheme === 'https') return method === 'noredirect' && tls?.cert !== undefined && setting === true
    return method === 'redirect' ? setting !== false : method === 'noredirect' && setting === true
  }

  /**
   * The host's routes among those with a server on this scheme's listener, else DEFAULT_HOST's
   * (nginx's default server): a nohttp host is not found over HTTP, nor a nohttps one over HTTPS.
   */
  routesFor (hostname: string, scheme: Scheme, port?: number): HostRoutes | undefined {
    const defaultPort = (scheme === 'https' ? this.#options.httpsPort : this.#options.httpPort)?.() ?? 0
    const listener = port ?? defaultPort
    return this.#store.current.resolve(hostname, (routes) => {
      if (!routes.listensOn(scheme, listener, defaultPort)) return false
      const method = this.hostTls(routes)?.httpsMethod
      return scheme === 'http' ? method !== 'nohttp' : method !== 'nohttps'
    })
  }

  /** nginx-proxy's TLS settings of a host (certificate, effective HTTPS_METHOD, HSTS); undefined without HTTPS. */
  hostTls (routes: HostRoutes): HostTls | undefined {
    const tls = this.#options.tls
    if (tls === undefined) return undefined
    const generation = tls.certs.generation
    const cached = this.#tlsCache.get(routes)
    if (cached?.generation === generation) return cached.tls
    const value = hostTls(routes.host, routes.tls, tls.certs, {
      httpsMethod: tls.defaultHttpsMethod,
      hsts: tls.defaultHsts,
      trustDefaultCert: tls.trustDefaultCert ?? DEFAULT_TLS_DEFAULTS.trustDefaultCert,
      enableHttpOnMissingCert: tls.enableHttpOnMissingCert ?? DEFAULT_TLS_DEFAULTS.enableHttpOnMissingCert,
      nonGetRedirect: tls.nonGetRedirect ?? DEFAULT_TLS_DEFAULTS.nonGetRedirect,
      http2: tls.enableHttp2,
      sslPolicy: tls.sslPolicy
    })
    this.#tlsCache.set(routes, { generation, tls: value })
    return value
  }
}

/** vhost.d add_header ... always, as a header record for the proxy's own error answers. */
export function alwaysHeaders (vhost: VhostLocationSettings | undefined): Record<string, string> | undefined {
  if (vhost === undefined || vhost.addHeaders.length === 0) return undefined
  const flat = addedHeadersFor(0, vhost.addHeaders)
  if (flat.length === 0) return undefined
  const out: Record<string, string> = {}
  for (let i = 0; i < flat.length; i += 2) out[flat[i]!] = flat[i + 1]!
  return out
}

/** What nginx-proxy's fallback server answers (`location ^~ / { return 503; }`). */
function fallback (): Decision {
  return { kind: 'refuse', status: 503, code: 'PROXY_ERR_HOST_NOT_FOUND', fallback: true }
}

function refuse (status: number, code: string, reason?: string, routeHost?: string, headers?: Record<string, string>): Decision {
  return { kind: 'refuse', status, code, ...(reason !== undefined ? { reason } : {}), ...(routeHost !== undefined ? { routeHost } : {}), ...(headers !== undefined ? { headers } : {}) }
}
