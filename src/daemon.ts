import type { SkippedContainer } from './admin/api.js'
import { closeAdminServer, createAdminServer, listenOnSocket } from './admin/server/admin-server.js'
import { AdmissionWaiters } from './admin/server/admission.js'
import { DEFAULT_LONG_LIVED_GRACE_MS, listenHost, type ServeOptions } from './config/options.js'
import { join } from 'node:path'
import { nginxOnlyEnvWarnings, nginxOnlyWarnings } from './config/nginx-compat.js'
import { connectEngine, pingEngine } from './docker/docker-client.js'
import { createServer } from 'node:http'
import { RolloutHistory } from './history/rollout-history.js'
import { Metrics } from './metrics/metrics.js'
import { TrafficStats } from './metrics/traffic-stats.js'
import { BasicAuthStore } from './proxy/basic-auth.js'
import { DEFAULT_DEFAULT_ROOT, parseDefaultRoot, type DefaultRoot } from './proxy/default-root.js'
import { ErrorPage } from './proxy/error-page.js'
import { CertificateStore } from './tls/certificate-store.js'
import { VhostStore } from './vhost/vhost-store.js'
import { DockerSource } from './docker/docker-source.js'
import type { Logger } from './logger.js'
import { ProxyServer } from './proxy/proxy-server.js'
import { Reconciler } from './routing/reconciler.js'
import { RouteTableStore } from './routing/route-table-store.js'
import { VERSION } from './version.js'
import { DEFAULT_SSL_POLICY, sslPolicy } from './tls/policy.js'

const RETAIN_INTERVAL_MS = 60_000

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
  const traffic = new TrafficStats()
  let proxyInflight = (): number => 0
  let dockerReconnects = (): number => 0
  const metrics = new Metrics({
    inflight: () => proxyInflight(),
    dockerReconnects: () => dockerReconnects(),
    upstreamStates: () => {
      const counts: Record<string, number> = {}
      for (const t of reconciler.targets()) counts[t.state] = (counts[t.state] ?? 0) + 1
      return counts
    }
  })
  const history = new RolloutHistory(options.historyFile, (hosts) => hosts.reduce((n, h) => n + traffic.get(h).errors, 0), root.child({ component: 'admin' }))
  await history.load()
  const reconciler = new Reconciler(store, {
    balancing: options.balancing,
    defaultHost: options.defaultHost,
    drainTimeoutMs: options.drainTimeoutMs,
    connectTimeoutMs: options.upstreamConnectTimeoutMs,
    responseTimeoutMs: options.upstreamResponseTimeoutMs,
    maxConnections: options.upstreamMaxConnections
  }, root.child({ component: 'routing' }), (ok) => { metrics.healthCheckCompleted(ok) })

  let problems = (): SkippedContainer[] => []
  const admission = new AdmissionWaiters(store, reconciler, () => problems())
  const source = new DockerSource(endpoint.api, {
    stateChanged: (state) => { reconciler.apply(state) },
    groupWithdrawn: (id, reason) => { reconciler.withdraw(id, reason); admission.containerStopped(id, reason) },
    groupStarted: (id, reason) => { reconciler.restore(id, reason); admission.containerStarted(id) }
  }, root.child({ component: 'docker' }), { selfContainerId: options.selfContainerId, preferIpv6Network: options.preferIpv6Network })
  await source.start()
  dockerReconnects = () => source.reconnects
  problems = () => source.problems.filter((p) => p.level === 'error').map((p) => ({ containerId: p.containerId, name: p.containerName, reason: p.message }))

  // Check what is already running before the listener opens: a proxy restart must not 503 healthy apps.
  await reconciler.probeAll(options.bootHealthWaitMs)

  for (const w of nginxOnlyWarnings(options.nginxRoot)) log.warn({ file: w.file }, w.message)
  for (const w of nginxOnlyEnvWarnings(process.env)) log.warn({ setting: w.setting }, w.message)
  const certs = new CertificateStore(join(options.nginxRoot, 'certs'), root.child({ component: 'tls' }))
  const auth = new BasicAuthStore(join(options.nginxRoot, 'htpasswd'), root.child({ component: 'proxy' }))
  const vhost = new VhostStore(join(options.nginxRoot, 'vhost.d'), root.child({ component: 'vhost' }))
  const errorPage = new ErrorPage(options.htmlDir, root.child({ component: 'proxy' }))
  await Promise.all([certs.load(), auth.load(), vhost.load(), errorPage.load()])
  errorPage.watch()
  certs.watch()
  auth.watch()
  vhost.watch()

  const admin = createAdminServer({
    store,
    reconciler,
    version: VERSION,
    drainTimeoutMs: options.drainTimeoutMs,
    longLivedGraceMs: DEFAULT_LONG_LIVED_GRACE_MS,
    traffic,
    history,
    metrics,
    admission,
    skipped: () => problems()
  }, root.child({ component: 'admin' }))

  const proxy = new ProxyServer(store, {
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
          certs,
          defaultHttpsMethod: options.defaultHttpsMethod,
          defaultHsts: options.defaultHsts,
          trustDefaultCert: options.trustDefaultCert,
          enableHttpOnMissingCert: options.enableHttpOnMissingCert,
          nonGetRedirect: options.nonGetRedirect,
          enableHttp2: options.enableHttp2,
          sslPolicy: sslPolicy(options.sslPolicy) ?? DEFAULT_SSL_POLICY
        },
    auth,
    vhost,
    htmlDir: options.htmlDir,
    acme: { location: options.acmeChallenge, acceptUnknownHost: options.acmeAcceptUnknownHost },
    errorPage,
    defaultRoot: defaultRootOf(options.defaultRoot),
    debugEndpoint: { enabled: options.debugEndpoint, global: debugGlobals(options) },
    requestIds: options.requestIds,
    proxyProtocol: options.proxyProtocol,
    observer: {
      requestCompleted: (host, status, upstream, durationMs) => {
        traffic.requestCompleted(host, status)
        if (options.metrics) metrics.requestCompleted(host, status, upstream, durationMs)
      }
    }
  }, root.child({ component: 'proxy' }))
  proxyInflight = () => proxy.inflight
  const { port, httpsPort } = await proxy.listen()
  // Level-triggered pruning: series and totals of hosts and containers gone for a grace period go.
  const retainTimer = setInterval(() => {
    const hosts = store.current.hosts.map((h) => h.host)
    traffic.retain(hosts)
    metrics.retain({ hosts, upstreams: reconciler.targets().map((t) => t.name) })
  }, RETAIN_INTERVAL_MS).unref()
  // After the ports: a second proxy that cannot get them must not take over this one's socket.
  await listenOnSocket(admin, options.adminSocket)
  const metricsServer = options.metricsListen === undefined
    ? undefined
    : createServer((req, res) => {
      if (req.url !== '/metrics') { res.writeHead(404).end(); return }
      metrics.registry.metrics().then((text) => { res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text) }, () => { res.writeHead(500).end() })
    })
  if (metricsServer !== undefined && options.metricsListen !== undefined) {
    const { host, port: metricsPort } = options.metricsListen
    await new Promise<void>((resolve, reject) => { metricsServer.once('error', reject); metricsServer.listen(metricsPort, host, resolve) })
    log.info({ metrics: `${host}:${metricsPort}` }, 'Metrics listening')
  }
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
        clearInterval(retainTimer)
        await proxy.stop()
        metricsServer?.close()
        source.stop()
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
