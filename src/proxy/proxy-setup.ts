import { join } from 'node:path'
import { listenHost, type ServeOptions } from '../config/options.js'
import type { Logger } from '../logger.js'
import type { ReconcilerOptions } from '../routing/reconciler.js'
import { CertificateStore } from '../tls/certificate-store.js'
import { DEFAULT_SSL_POLICY, sslPolicy } from '../tls/policy.js'
import { VhostStore } from '../vhost/vhost-store.js'
import { VERSION } from '../version.js'
import { BasicAuthStore, type BasicAuthOptions } from './basic-auth.js'
import { DEFAULT_DEFAULT_ROOT, parseDefaultRoot, type DefaultRoot } from './default-root.js'
import { ErrorPage } from './error-page.js'
import type { ProxyServerOptions, RequestObserver } from './proxy-server.js'

// What a ProxyServer is built from: ServeOptions and the files nginx-proxy users mount. One place
// for the single process (daemon.ts) and each worker process (workers/worker-main.ts), so both
// serve with the same settings.

export interface ProxyFiles {
  certs: CertificateStore
  auth: BasicAuthStore
  vhost: VhostStore
  errorPage: ErrorPage
  /** SIGHUP: every file read again (acme-companion sends it after a renewal). */
  reload: () => Promise<void>
  stop: () => Promise<void>
}

/**
 * Certificates, htpasswd files, vhost.d and the error page: loaded, then watched. `auth`: a
 * worker's share of the failed-login budget (workers/worker-limits.ts); the defaults otherwise.
 */
export async function loadProxyFiles (options: ServeOptions, root: Logger, auth: Partial<Pick<BasicAuthOptions, 'maxFailures'>> = {}): Promise<ProxyFiles> {
  const certs = new CertificateStore(join(options.nginxRoot, 'certs'), root.child({ component: 'tls' }))
  const htpasswd = new BasicAuthStore(join(options.nginxRoot, 'htpasswd'), root.child({ component: 'proxy' }), auth)
  const vhost = new VhostStore(join(options.nginxRoot, 'vhost.d'), root.child({ component: 'vhost' }))
  const errorPage = new ErrorPage(options.htmlDir, root.child({ component: 'proxy' }))
  const load = async (): Promise<void> => { await Promise.all([certs.load(), htpasswd.load(), vhost.load(), errorPage.load()]) }
  await load()
  for (const f of [errorPage, certs, htpasswd, vhost]) f.watch()
  return {
    certs,
    auth: htpasswd,
    vhost,
    errorPage,
    reload: load,
    stop: async () => {
      certs.stop()
      vhost.stop()
      errorPage.stop()
      await htpasswd.stop()
    }
  }
}

export function proxyServerOptions (
  options: ServeOptions,
  files: Pick<ProxyFiles, 'certs' | 'auth' | 'vhost' | 'errorPage'>,
  observer: RequestObserver,
  policy?: ProxyServerOptions['policy']
): ProxyServerOptions {
  return {
    host: listenHost(options),
    port: options.port,
    trustDownstreamProxy: options.trustDownstreamProxy,
    accessLog: options.accessLog,
    requestHeadersTimeoutMs: options.requestHeadersTimeoutMs,
    keepAliveTimeoutMs: options.keepAliveTimeoutMs,
    maxHeaderSize: options.maxHeaderSize,
    shutdownTimeoutMs: options.shutdownTimeoutMs,
    limits: {
      clientIdleTimeoutMs: options.clientIdleTimeoutMs,
      maxClientConnections: options.maxClientConnections,
      h2MaxConcurrentStreams: options.http2MaxConcurrentStreams,
      tunnelIdleTimeoutMs: options.websocketIdleTimeoutMs,
      upgradeTimeoutMs: options.upstreamResponseTimeoutMs
    },
    tls: options.httpsPort === undefined ? undefined : httpsOptions(options, options.httpsPort, files.certs),
    auth: files.auth,
    vhost: files.vhost,
    htmlDir: options.htmlDir,
    acme: { location: options.acmeChallenge, acceptUnknownHost: options.acmeAcceptUnknownHost },
    errorPage: files.errorPage,
    defaultRoot: defaultRootOf(options.defaultRoot),
    debugEndpoint: { enabled: options.debugEndpoint, global: debugGlobals(options) },
    requestIds: options.requestIds,
    proxyProtocol: options.proxyProtocol,
    observer,
    policy
  }
}

/** The HTTPS listener's settings on `port`: nginx-proxy's HTTPS_METHOD, HSTS, TRUST_DEFAULT_CERT... and SSL_POLICY. */
export function httpsOptions (options: ServeOptions, port: number, certs: CertificateStore): NonNullable<ProxyServerOptions['tls']> {
  return {
    port,
    certs,
    defaultHttpsMethod: options.defaultHttpsMethod,
    defaultHsts: options.defaultHsts,
    trustDefaultCert: options.trustDefaultCert,
    enableHttpOnMissingCert: options.enableHttpOnMissingCert,
    nonGetRedirect: options.nonGetRedirect,
    enableHttp2: options.enableHttp2,
    sslPolicy: sslPolicy(options.sslPolicy) ?? DEFAULT_SSL_POLICY
  }
}

/** DEFAULT_ROOT parsed; one nginx would refuse was warned about at start (nginx-compat.ts): 404. */
function defaultRootOf (value: string): DefaultRoot {
  const parsed = parseDefaultRoot(value)
  return 'error' in parsed ? DEFAULT_DEFAULT_ROOT : parsed
}

/** /nginx-proxy-debug's `global`: nginx-proxy's names for the settings proxyctl follows (no secrets, no paths). */
function debugGlobals (o: ServeOptions): Record<string, string | number | boolean | null> {
  return {
    acme_http_challenge: String(o.acmeChallenge),
    acme_http_challenge_accept_unknown_host: o.acmeAcceptUnknownHost,
    default_host: o.defaultHost ?? null,
    default_root_response: o.defaultRoot,
    enable_access_log: o.accessLog,
    enable_debug_endpoint: String(o.debugEndpoint),
    enable_http2: String(o.enableHttp2),
    enable_http3: 'false',
    enable_http_on_missing_cert: String(o.enableHttpOnMissingCert),
    enable_ipv6: o.enableIpv6,
    enable_proxy_protocol: o.proxyProtocol,
    external_http_port: String(o.port),
    external_https_port: o.httpsPort === undefined ? null : String(o.httpsPort),
    hsts: o.defaultHsts,
    https_method: o.defaultHttpsMethod,
    non_get_redirect: String(o.nonGetRedirect),
    nginx_proxy_version: null,
    prefer_ipv6_network: o.preferIpv6Network,
    proxyctl_version: VERSION,
    ssl_policy: o.sslPolicy,
    trust_default_cert: String(o.trustDefaultCert),
    trust_downstream_proxy: o.trustDownstreamProxy
  }
}

/** The targets' settings (pools, balancing, drain bound): the Reconciler's and a worker's replica's. */
export function reconcilerOptions (o: ServeOptions): ReconcilerOptions {
  return {
    balancing: o.balancing,
    defaultHost: o.defaultHost,
    drainTimeoutMs: o.drainTimeoutMs,
    connectTimeoutMs: o.upstreamConnectTimeoutMs,
    responseTimeoutMs: o.upstreamResponseTimeoutMs,
    maxConnections: o.upstreamMaxConnections
  }
}
