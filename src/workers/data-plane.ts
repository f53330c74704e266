import type { ServeOptions } from '../config/options.js'
import type { Logger } from '../logger.js'
import { ProxyServer, type RequestObserver } from '../proxy/proxy-server.js'
import { loadProxyFiles, proxyServerOptions } from '../proxy/proxy-setup.js'
import type { Reconciler } from '../routing/reconciler.js'
import type { RouteTableStore } from '../routing/route-table-store.js'
import type { PolicyStore } from '../traffic/policy.js'
import type { AcceptMode } from './messages.js'
import { WorkerPool } from './worker-pool.js'

// What accepts and proxies connections, as the daemon sees it: this process (--workers 1, as
// before) or worker processes fed by this one (--workers N). Everything else is the same.

export interface DataPlane {
  listen: () => Promise<{ port: number, httpsPort: number | undefined }>
  /** Requests in flight now (workers: as last reported). */
  readonly inflight: number
  held: (host: string) => number
  /** SIGHUP: certificates, htpasswd files, vhost.d and the error page read again; what the log line says. */
  reload: () => Promise<Record<string, number>>
  stop: () => Promise<void>
  /** Worker processes only: what the admin API asks them before answering. */
  workers?: WorkerPool | undefined
}

export interface DataPlaneDeps {
  options: ServeOptions
  store: RouteTableStore
  reconciler: Reconciler
  policy: PolicyStore
  observer: RequestObserver
  root: Logger
}

export async function startDataPlane (d: DataPlaneDeps): Promise<DataPlane> {
  if (d.options.workers > 1) {
    const pool = new WorkerPool({ count: d.options.workers, accept: acceptMode(), options: d.options, store: d.store, reconciler: d.reconciler, policy: d.policy, observer: d.observer, log: d.root })
    return {
      listen: async () => await pool.start(),
      get inflight () { return pool.inflight },
      held: (host) => pool.held(host),
      reload: async () => ({ workers: await pool.reload() }),
      stop: async () => { await pool.stop() },
      workers: pool
    }
  }
  const files = await loadProxyFiles(d.options, d.root)
  const proxy = new ProxyServer(d.store, proxyServerOptions(d.options, files, d.observer, d.policy), d.root.child({ component: 'proxy' }))
  return {
    listen: async () => await proxy.listen(),
    get inflight () { return proxy.inflight },
    held: (host) => proxy.held(host),
    reload: async () => {
      await files.reload()
      return { certificates: files.certs.names.length }
    },
    stop: async () => {
      await proxy.stop()
      await files.stop()
    }
  }
}

/**
 * SO_REUSEPORT where the kernel has it (Linux): each worker accepts on its own socket and the
 * kernel spreads connections. Elsewhere node:cluster's round-robin through the primary.
 * PROXYCTL_WORKER_ACCEPT=round-robin|reuseport overrides it (for measuring both).
 */
function acceptMode (): AcceptMode {
  const forced = process.env.PROXYCTL_WORKER_ACCEPT
  if (forced === 'round-robin' || forced === 'reuseport') return forced
  return process.platform === 'linux' ? 'reuseport' : 'round-robin'
}
