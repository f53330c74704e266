// A bench child: proxyctl's data plane (Reconciler, RouteTableStore, ProxyServer, the logger of
// src/logger.ts on stdout) with one static route, BENCH_HOST to 127.0.0.1:UPSTREAM_PORT, the access
// log per ACCESS_LOG (on/off); with CERT_DIR (nginx-proxy's certs/ layout, BENCH_HOST.crt/.key) also
// HTTPS and HTTP/2 on a port of its own, as `proxyctl serve` with its defaults (redirect, HSTS,
// Mozilla-Intermediate). Prints {"port":N,"httpsPort":M} on stderr once it listens, stops on SIGTERM.
// From AL_DIST (a compiled dist/ directory, as the proxy runs) when set: then it is erasable
// TypeScript with no static imports, so `node bench/lib/data-plane-child.ts` runs it without a loader
// (the memory of a process with tap's TypeScript loader is not the proxy's). Without AL_DIST it
// imports src/ and needs the loader. Used by bench/access-log.ts and bench/memory-settings.ts.
type M = [typeof import('../../src/logger.ts'), typeof import('../../src/proxy/proxy-server.ts'), typeof import('../../src/routing/reconciler.ts'), typeof import('../../src/routing/route-table-store.ts'), typeof import('../../src/config/options.ts')]
const dist = process.env.AL_DIST
const from = (name: string): string => dist !== undefined && dist !== '' ? new URL(`${name}.js`, `file://${dist.endsWith('/') ? dist : `${dist}/`}`).href : `../../src/${name}.ts`
const [{ createLogger }, { ProxyServer }, { Reconciler }, { RouteTableStore }, { DEFAULT_HEALTH_CHECK, DEFAULT_SERVE_OPTIONS }] = await Promise.all(
  ['logger', 'proxy/proxy-server', 'routing/reconciler', 'routing/route-table-store', 'config/options'].map(async (n) => await import(from(n)))) as M
const host = process.env.BENCH_HOST
const upstreamPort = Number(process.env.UPSTREAM_PORT)
if (host === undefined || host === '' || !(upstreamPort > 0)) throw new Error('BENCH_HOST and UPSTREAM_PORT are required')
const route = {
  host, path: '/', dest: '', internalOnly: false, tls: { httpsMethod: undefined, hsts: undefined, certName: undefined }, maxBodyBytes: undefined,
  targets: [{ id: `local-${upstreamPort}:${upstreamPort}:http`, groupId: `local-${upstreamPort}`, name: `local-${upstreamPort}`, address: '127.0.0.1', port: upstreamPort, protocol: 'http' as const, health: { ...DEFAULT_HEALTH_CHECK, intervalMs: 200 }, externalHealth: 'none' as const }]
}
const root = createLogger({ pretty: false })
const store = new RouteTableStore()
const reconciler = new Reconciler(store, { balancing: 'round-robin', defaultHost: undefined, drainTimeoutMs: 2_000, connectTimeoutMs: 1_000, responseTimeoutMs: 10_000 }, root.child({ component: 'routing' }))
reconciler.apply({ routes: [route] })
await reconciler.probeAll(5_000)
// HTTPS as `proxyctl serve` sets it up (proxy-setup.ts's httpsOptions), loaded only when asked for.
const certDir = process.env.CERT_DIR
let tls: import('../../src/proxy/proxy-options.ts').ProxyServerOptions['tls']
if (certDir !== undefined && certDir !== '') {
  const [{ CertificateStore }, { httpsOptions }] = await Promise.all(['tls/certificate-store', 'proxy/proxy-setup'].map(async (n) => await import(from(n)))) as [typeof import('../../src/tls/certificate-store.ts'), typeof import('../../src/proxy/proxy-setup.ts')]
  const certs = new CertificateStore(certDir, root.child({ component: 'tls' }))
  await certs.load()
  tls = httpsOptions(DEFAULT_SERVE_OPTIONS, 0, certs)
}
const server = new ProxyServer(store, {
  host: '127.0.0.1', port: 0, trustDownstreamProxy: false, accessLog: process.env.ACCESS_LOG === 'on', requestHeadersTimeoutMs: 60_000,
  keepAliveTimeoutMs: 75_000, maxHeaderSize: 16_384, shutdownTimeoutMs: 2_000, tls
}, root.child({ component: 'proxy' }))
const { port, httpsPort } = await server.listen()
process.stderr.write(JSON.stringify({ port, httpsPort }) + '\n')
process.once('SIGTERM', () => {
  void server.stop().then(async () => { await reconciler.stop() }).then(() => { root.flush(); process.exitCode = 0 })
})
