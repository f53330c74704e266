import { pino } from 'pino'
import { DEFAULT_HEALTH_CHECK, type HealthCheckOptions } from '../../src/config/options.ts'
import { ProxyServer, type ProxyServerOptions } from '../../src/proxy/proxy-server.ts'
import type { RouteSpec } from '../../src/routing/desired-state.ts'
import { Reconciler, type ReconcilerOptions } from '../../src/routing/reconciler.ts'
import { RouteTableStore } from '../../src/routing/route-table-store.ts'
import { waitFor } from './wait.ts'

export interface Harness {
  port: number
  store: RouteTableStore
  reconciler: Reconciler
  apply (routes: RouteSpec[]): void
  waitReady (count: number): Promise<void>
  stop (): Promise<void>
}

export function route (host: string, ports: number[], extra: Partial<RouteSpec> = {}, health: Partial<HealthCheckOptions> = {}): RouteSpec {
  return {
    host,
    path: '/',
    dest: '',
    internalOnly: false,
    targets: ports.map((port) => ({
      id: `local-${port}:${port}:http`, groupId: `local-${port}`, name: `local-${port}`, address: '127.0.0.1', port, protocol: 'http',
      health: { ...DEFAULT_HEALTH_CHECK, intervalMs: 200, ...health }, externalHealth: 'none'
    })),
    ...extra
  }
}

/** The real data plane and reconciler, fed routes directly instead of by Docker. */
export async function startHarness (opts: { proxy?: Partial<ProxyServerOptions>, reconciler?: Partial<ReconcilerOptions> } = {}): Promise<Harness> {
  const log = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' })
  const store = new RouteTableStore()
  const reconciler = new Reconciler(store, {
    balancing: 'round-robin', defaultHost: undefined, drainTimeoutMs: 2_000, connectTimeoutMs: 1_000, responseTimeoutMs: 5_000, ...opts.reconciler
  }, log)
  const proxy = new ProxyServer(store, {
    host: '127.0.0.1', port: 0, trustDownstreamProxy: true, accessLog: false, requestHeadersTimeoutMs: 2_000,
    keepAliveTimeoutMs: 5_000, maxHeaderSize: 8_192, shutdownTimeoutMs: 2_000, ...opts.proxy
  }, log)
  const port = await proxy.listen()
  return {
    port,
    store,
    reconciler,
    apply: (routes) => { reconciler.apply({ routes }) },
    waitReady: async (count) => {
      await waitFor(() => reconciler.targets().filter((t) => t.routable).length >= count, { what: `${count} ready targets` })
    },
    stop: async () => { await proxy.stop(); await reconciler.stop() }
  }
}
