import type { SkippedContainer } from './admin/api.js'
import { closeAdminServer, createAdminServer, listenOnSocket } from './admin/server/admin-server.js'
import { AdmissionWaiters } from './admin/server/admission.js'
import { DEFAULT_LONG_LIVED_GRACE_MS, listenHost, type ServeOptions } from './config/options.js'
import { join } from 'node:path'
import { nginxOnlyEnvWarnings, nginxOnlyWarnings } from './config/nginx-compat.js'
import { connectEngine, pingEngine } from './docker/docker-client.js'
import { RolloutHistory } from './history/rollout-history.js'
import { listenForScrapes } from './metrics/metrics-listener.js'
import { Telemetry } from './metrics/telemetry.js'
import { BasicAuthStore } from './proxy/basic-auth.js'
import { DEFAULT_DEFAULT_ROOT, parseDefaultRoot, type DefaultRoot } from './proxy/default-root.js'
import { ErrorPage } from './proxy/error-page.js'
import { CertificateStore } from './tls/certificate-store.js'
import { VhostStore } from './vhost/vhost-store.js'
import { DockerSource } from './docker/docker-source.js'
import { startSwarmProvider } from './docker/swarm-provider.js'
import type { Logger } from './logger.js'
import { ProxyServer, type ProxyServerOptions, type RequestObserver } from './proxy/proxy-server.js'
import { Reconciler, type ReconcilerOptions } from './routing/reconciler.js'
import { RouteTableStore } from './routing/route-table-store.js'
import { VERSION } from './version.js'
import { DEFAULT_SSL_POLICY, sslPolicy } from './tls/policy.js'

export interface Daemon {
  readonly port: number
  /** Reload certificates and htpasswd files (SIGHUP, as acme-companion sends after a renewal). */
  reload (): Promise<void>
  stop (): Promise<void>
}

/** Wiring and start/stop order; nothing else lives here. */
export async function startDaemon (options: ServeOptions, root: Logger): Promise<Daemon> {
  const log = root.child({ component: 'daemon' })
  const endpoint = connectEngine()
  for (const w of endpoint.warnings) log.warn({ docker: endpoint.describe }, w)
  await pingEngine(endpoint)

  const store = new RouteTableStore()
  const telemetry = new Telemetry(options.metrics)
  const history = new RolloutHistory(options.historyFile, telemetry.errorsOn, root.child({ component: 'admin' }))
  await history.load()
  const reconciler = new Reconciler(store, reconcilerOptions(options), root.child({ component: 'routing' }), telemetry.healthChecked)

  let problems = (): SkippedContainer[] => []
  const admission = new AdmissionWaiters(store, reconciler, () => problems())
  // Swarm services beside containers, when this engine is a Swarm manager (swarm-provider.ts).
  const swarm = await startSwarmProvider(endpoint.api, root.child({ component: 'swarm' }))
  const source = new DockerSource(swarm, {
    stateChanged: (state) => { reconciler.apply(state) },
    groupWithdrawn: (id, reason) => { reconciler.withdraw(id, reason); admission.containerStopped(id, reason) },
    groupStarted: (id, reason) => { reconciler.restore(id, reason); admission.containerStarted(id) }
  }, root.child({ component: 'docker' }), { selfContainerId: options.selfContainerId, preferIpv6Network: options.preferIpv6Network })
  await source.start()
  problems = () => source.problems.filter((p) => p.level === 'error').map((p) => ({ containerId: p.containerId, name: p.containerName, reason: p.message }))

  // Check what is already running before the listener opens: a proxy restart must not 503 healthy apps.
  await reconciler.probeAll(options.bootHealthWaitMs)

  for (const w of nginxOnlyWarnings(options.nginxRoot)) log.warn({ file: w.file }, w.message)
  for (const w of nginxOnlyEnvWarnings(process.env)) log.warn({ setting: w.setting }, w.message)
  const files = {
    certs: new CertificateStore(join(options.nginxRoot, 'certs'), root.child({ component: 'tls' })),
    auth: new BasicAuthStore(join(options.nginxRoot, 'htpasswd'), root.child({ component: 'proxy' })),
    vhost: new VhostStore(join(options.nginxRoot, 'vhost.d'), root.child({ component: 'vhost' })),
    errorPage: new ErrorPage(options.htmlDir, root.child({ component: 'proxy' }))
  }
  const { certs, auth, vhost, errorPage } = files
  await Promise.all([certs.load(), auth.load(), vhost.load(), errorPage.load()])
  for (const f of [errorPage, certs, auth, vhost]) f.watch()

  const admin = createAdminServer({
    store,
    reconciler,
    version: VERSION,
    drainTimeoutMs: options.drainTimeoutMs,
    longLivedGraceMs: DEFAULT_LONG_LIVED_GRACE_MS,
    traffic: telemetry.traffic,
    history,
    metrics: telemetry.metrics,
    admission,
    skipped: () => problems()
  }, root.child({ component: 'admin' }))

  const proxy = new ProxyServer(store, proxyServerOptions(options, files, telemetry.requests), root.child({ component: 'proxy' }))
  telemetry.observe({ store, inflight: () => proxy.inflight, dockerReconnects: () => source.reconnects, targets: () => reconciler.targets() })
  const { port, httpsPort } = await proxy.listen()
  // After the ports: a second proxy that cannot get them must not take over this one's socket.
  await listenOnSocket(admin, options.adminSocket)
  const scrapes = options.metricsListen === undefined ? undefined : await listenForScrapes(telemetry.metrics, options.metricsListen)
  if (options.metricsListen !== undefined) log.info({ metrics: `${options.metricsListen.host}:${options.metricsListen.port}` }, 'Metrics listening')
  const ready = reconciler.targets().filter((t) => t.routable).length
  log.info({ port, httpsPort, host: listenHost(options), adminSocket: options.adminSocket, docker: endpoint.describe, hosts: store.current.hosts.length, ready }, 'Listening')

  let stopping: Promise<void> | undefined
  return {
    port,
    reload: async () => {
      await Promise.all([certs.load(), auth.load(), vhost.load(), errorPage.load()])
      log.info({ certificates: certs.names.length }, 'Reloaded')
    },
    stop: async () => {
      stopping ??= (async () => {
        log.info({ inflight: proxy.inflight }, 'Stopping')
        telemetry.stop()
        await proxy.stop()
        scrapes?.close()
        source.stop()
        swarm.stop()
        await endpoint.api.close()
        certs.stop()
        vhost.stop()
        errorPage.stop()
        await auth.stop()
        admission.close()
        await closeAdminServer(admin)
        await reconciler.stop()
        log.info('Stopped')
      })()
      await stopping
    }
  }
}

function reconcilerOptions (o: ServeOptions): ReconcilerOptions {
  return {
    balancing: o.balancing,
    defaultHost: o.defaultHost,
    drainTimeoutMs: o.drainTimeoutMs,
    connectTimeoutMs: o.upstreamConnectTimeoutMs,
    responseTimeoutMs: o.upstreamResponseTimeoutMs,
    maxConnections: o.upstreamMaxConnections
  }
}

function proxyServerOptions (
  options: ServeOptions,
  files: { certs: CertificateStore, auth: BasicAuthStore, vhost: VhostStore, errorPage: ErrorPage },
  observer: RequestObserver
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
    tls: options.httpsPort === undefined
      ? undefined
      : {
          port: options.httpsPort,
          certs: files.certs,
          defaultHttpsMethod: options.defaultHttpsMethod,
          defaultHsts: options.defaultHsts,
          trustDefaultCert: options.trustDefaultCert,
          enableHttpOnMissingCert: options.enableHttpOnMissingCert,
          nonGetRedirect: options.nonGetRedirect,
          enableHttp2: options.enableHttp2,
          sslPolicy: sslPolicy(options.sslPolicy) ?? DEFAULT_SSL_POLICY
        },
    auth: files.auth,
    vhost: files.vhost,
    htmlDir: options.htmlDir,
    acme: { location: options.acmeChallenge, acceptUnknownHost: options.acmeAcceptUnknownHost },
    errorPage: files.errorPage,
    defaultRoot: defaultRootOf(options.defaultRoot),
    debugEndpoint: { enabled: options.debugEndpoint, global: debugGlobals(options) },
    requestIds: options.requestIds,
    proxyProtocol: options.proxyProtocol,
    observer
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
