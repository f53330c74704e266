import { pino } from 'pino'
import { DEFAULT_HEALTH_CHECK, type HealthCheckOptions } from '../../src/config/options.ts'
import { BasicAuthStore } from '../../src/proxy/basic-auth.ts'
import { ProxyServer, type ProxyServerOptions } from '../../src/proxy/proxy-server.ts'
import { CertificateStore } from '../../src/tls/certificate-store.ts'
import type { RouteSpec } from '../../src/routing/desired-state.ts'
import { Reconciler, type ReconcilerOptions } from '../../src/routing/reconciler.ts'
import { RouteTableStore } from '../../src/routing/route-table-store.ts'
import { waitFor } from './wait.ts'

export interface Harness {
  port: number
  httpsPort: number
  certs: CertificateStore | undefined
  auth: BasicAuthStore | undefined
  store: RouteTableStore
  reconciler: Reconciler
  proxy: ProxyServer
  apply (routes: RouteSpec[]): void
  waitReady (count: number): Promise<void>
  stop (): Promise<void>
}

export function route (host: string, ports: number[], extra: Partial<RouteSpec> = {}, health: Partial<HealthCheckOptions> = {}, protocol: 'http' | 'https' = 'http'): RouteSpec {
  return {
    host,
    path: '/',
    dest: '',
    internalOnly: false,
    tls: { httpsMethod: undefined, hsts: undefined, certName: undefined },
    maxBodyBytes: undefined,
    targets: ports.map((port) => ({
      id: `local-${port}:${port}:${protocol}`, groupId: `local-${port}`, name: `local-${port}`, address: '127.0.0.1', port, protocol,
      health: { ...DEFAULT_HEALTH_CHECK, intervalMs: 200, ...health }, externalHealth: 'none'
    })),
    ...extra
  }
}

/** The real data plane and reconciler, fed routes directly instead of by Docker. */
export interface HarnessOptions {
  proxy?: Partial<ProxyServerOptions>
  reconciler?: Partial<ReconcilerOptions>
  /** Serve HTTPS (port 0) with certificates from this directory (watched). */
  certsDir?: string
  htpasswdDir?: string
  tls?: {
    defaultHttpsMethod?: 'redirect' | 'noredirect' | 'nohttp' | 'nohttps'
    defaultHsts?: string
    trustDefaultCert?: boolean
    enableHttpOnMissingCert?: boolean
    nonGetRedirect?: 301 | 307 | 308
  }
}

export async function startHarness (opts: HarnessOptions = {}): Promise<Harness> {
  const log = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' })
  const store = new RouteTableStore()
  const reconciler = new Reconciler(store, {
    balancing: 'round-robin', defaultHost: undefined, drainTimeoutMs: 2_000, connectTimeoutMs: 1_000, responseTimeoutMs: 5_000, ...opts.reconciler
  }, log)
  const certs = opts.certsDir === undefined ? undefined : new CertificateStore(opts.certsDir, log)
  const auth = opts.htpasswdDir === undefined ? undefined : new BasicAuthStore(opts.htpasswdDir, log)
  await certs?.load()
  await auth?.load()
  certs?.watch()
  auth?.watch()
  const proxy = new ProxyServer(store, {
    host: '127.0.0.1', port: 0, trustDownstreamProxy: true, accessLog: false, requestHeadersTimeoutMs: 2_000,
    keepAliveTimeoutMs: 5_000, maxHeaderSize: 8_192, shutdownTimeoutMs: 2_000,
    tls: certs === undefined ? undefined : { port: 0, certs, defaultHttpsMethod: opts.tls?.defaultHttpsMethod ?? 'redirect', defaultHsts: opts.tls?.defaultHsts ?? 'max-age=31536000', trustDefaultCert: opts.tls?.trustDefaultCert, enableHttpOnMissingCert: opts.tls?.enableHttpOnMissingCert, nonGetRedirect: opts.tls?.nonGetRedirect },
    auth,
    ...opts.proxy
  }, log)
  const { port, httpsPort } = await proxy.listen()
  return {
    port,
    httpsPort: httpsPort ?? 0,
    certs,
    auth,
    store,
    reconciler,
    proxy,
    apply: (routes) => { reconciler.apply({ routes }) },
    waitReady: async (count) => {
      await waitFor(() => reconciler.targets().filter((t) => t.routable).length >= count, { what: `${count} ready targets` })
    },
    stop: async () => { await proxy.stop(); await reconciler.stop(); certs?.stop(); await auth?.stop() }
  }
}
