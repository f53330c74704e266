import { chmod, mkdir, rm } from 'node:fs/promises'
import { dirname } from 'node:path'
import type { IncomingMessage, Server } from 'node:http'
import type { Logger } from '../../logger.js'
import type { Reconciler } from '../../routing/reconciler.js'
import type { RouteTableStore } from '../../routing/route-table-store.js'
import type { RolloutHistory } from '../../history/rollout-history.js'
import type { Metrics } from '../../metrics/metrics.js'
import type { TrafficStats } from '../../metrics/traffic-stats.js'
import { MAX_ADMISSION_CONTAINERS, type AdminError, type SkippedContainer } from '../api.js'
import type { AdmissionWaiters } from './admission.js'
import { DeployLocks } from './deploy-locks.js'
import { addRolloutRoutes, canaryStatus } from './rollout-routes.js'
import type { VersionStats } from '../../traffic/version-stats.js'
import { STATUS_PAGE_HTML } from './status-page.js'
import { buildStatus, hostsOf } from './status.js'
import type { PolicyStore } from '../../traffic/policy.js'
import { trafficControlRoutes, trafficControlStatus } from './traffic-control.js'

// Not an ESM import of node:http: see src/proxy/proxy-server.ts.
const { createServer } = process.getBuiltinModule('node:http')

export interface AdminServerDeps {
  store: RouteTableStore
  reconciler: Reconciler
  version: string
  drainTimeoutMs: number
  longLivedGraceMs: number
  skipped: () => SkippedContainer[]
  traffic: TrafficStats
  history: RolloutHistory
  metrics: Metrics
  admission: AdmissionWaiters
  /** Live figures per upstream (verified deploys, canaries); without it those routes are absent. */
  versions?: VersionStats | undefined
  /** Traffic control (issue 13); without it the pause and maintenance routes are absent. */
  policy?: PolicyStore | undefined
  /** Requests held now for a paused host (ProxyServer.held). */
  held?: ((host: string) => number) | undefined
  /** Whether maintenance is kept in a state file. */
  trafficStatePersisted?: boolean | undefined
  /**
   * Worker processes (--workers N, src/workers/worker-pool.ts): asked before every answer, so the
   * figures here include every request they answered so far, and status sums their in-flight counts.
   */
  workers?: { refresh: () => Promise<void>, load: (targetKey: string) => { inflight: number, longLived: number } | undefined } | undefined
}

const strings = (v: unknown): string[] | undefined => Array.isArray(v) && v.every((x) => typeof x === 'string') ? v as string[] : undefined

type Body = Record<string, unknown>
interface Reply { status?: number, json?: unknown, text?: string, contentType?: string }
/** `signal` aborts when the client's connection closes before the answer. */
type Handler = (body: Body, params: Record<string, string>, signal: AbortSignal) => Reply | Promise<Reply>

const MAX_BODY_BYTES = 1024 * 1024
const error = (status: number, code: string, message: string, extra: Body = {}): Reply => ({ status, json: { code, message, ...extra } satisfies AdminError })

/**
 * Control plane, on a Unix socket only (never the public listener). Access is file permission:
 * mode 0600 for root, reached from the host through `docker exec` — whoever can use the Docker
 * socket can use it, nobody else.
 *
 * A dozen JSON routes on node:http with a small table rather than a framework: fastify cost the
 * proxy ~21 MB of resident memory for them (bench/README.md, "Memory").
 */
export function createAdminServer (deps: AdminServerDeps, log: Logger): Server {
  const routes: Array<{ method: string, path: RegExp, handler: Handler }> = []
  const route = (method: string, path: string, handler: Handler): void => {
    // "/v1/deploys/:id/steps" -> named groups; ids are opaque but never contain "/".
    routes.push({ method, path: new RegExp(`^${path.replace(/:(\w+)/g, '(?<$1>[^/]+)')}$`), handler })
  }

  route('GET', '/v1/health', () => ({ json: { ok: true } }))

  const held = deps.held ?? (() => 0)
  route('GET', '/v1/status', () => ({
    json: {
      ...buildStatus(deps.store.current, deps.reconciler.targets(), deps.version, deps.skipped(), deps.traffic.snapshot(), deps.workers?.load),
      ...(deps.policy !== undefined ? { trafficControl: trafficControlStatus(deps.policy.current, held) } : {}),
      ...(deps.policy !== undefined && deps.versions !== undefined ? { canary: canaryStatus(deps.policy.current, deps.store.current, deps.versions) } : {})
    }
  }))
  if (deps.policy !== undefined) {
    const control = { policy: deps.policy, table: () => deps.store.current, targets: () => deps.reconciler.targets(), held, persisted: deps.trafficStatePersisted ?? false }
    for (const r of trafficControlRoutes(control, log)) route(r.method, r.path, r.handler)
  }

  route('GET', '/', () => ({ text: STATUS_PAGE_HTML, contentType: 'text/html; charset=utf-8' }))

  route('GET', '/metrics', async () => ({ text: await deps.metrics.registry.metrics(), contentType: deps.metrics.registry.contentType }))

  route('GET', '/v1/history', () => ({ json: deps.history.list() }))

  // Rollout history: `proxyctl deploy` reports its steps; the proxy adds hosts and failure counts.
  route('POST', '/v1/deploys', (b) => {
    const service = b.service
    if (typeof service !== 'string' || service === '') return error(400, 'PROXY_ERR_ADMIN', 'service is required')
    return { json: deps.history.started(service) }
  })
  route('POST', '/v1/deploys/:id/steps', (b, params) => {
    const old = strings(b.old)
    const fresh = strings(b.new)
    const hosts = hostsOf(deps.store.current, [...(old ?? []), ...(fresh ?? [])])
    const r = deps.history.stepped(params.id!, { step: String(b.step ?? ''), status: String(b.status ?? ''), message: String(b.message ?? '') }, { old, new: fresh, hosts })
    return r === undefined ? error(404, 'PROXY_ERR_ADMIN', 'no such deploy') : { json: r }
  })
  route('POST', '/v1/deploys/:id/finish', async (b, params) => {
    const outcome = b.outcome === 'succeeded' ? 'succeeded' : 'failed'
    const r = await deps.history.finished(params.id!, outcome, typeof b.error === 'string' ? b.error : undefined)
    if (r === undefined) return error(404, 'PROXY_ERR_ADMIN', 'no such deploy')
    deps.metrics.deployFinished(outcome, Date.parse(r.finishedAt ?? '') - Date.parse(r.startedAt))
    return { json: r }
  })

  route('POST', '/v1/drain', async (b) => {
    if (typeof b.containerId !== 'string' || b.containerId === '') return error(400, 'PROXY_ERR_ADMIN', 'containerId (string) is required')
    const num = (v: unknown, dflt: number): number => typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : dflt
    const id = b.containerId
    const match = deps.reconciler.targets().find((t) => t.isContainer(id))
    if (match === undefined) return error(404, 'PROXY_ERR_TARGET_NOT_FOUND', `no upstream for container ${id}`)
    const result = await deps.reconciler.drain(match.groupId, num(b.timeoutMs, deps.drainTimeoutMs), num(b.graceMs, deps.longLivedGraceMs))
    log.info({ containerId: match.groupId, name: match.name, ...result }, 'Drained')
    return { json: { containerId: match.groupId, name: match.name, ...result } }
  })

  // Held until the containers are ready, one cannot be, or the (capped) timeout passes.
  route('POST', '/v1/admission', async (b, _params, signal) => {
    const ids = strings(b.containerIds)
    const timeoutMs = b.timeoutMs
    if (ids === undefined || ids.length === 0 || ids.length > MAX_ADMISSION_CONTAINERS || typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs < 0) {
      return error(400, 'PROXY_ERR_ADMIN', `containerIds (1 to ${MAX_ADMISSION_CONTAINERS} strings) and timeoutMs (number >= 0) are required`)
    }
    return { json: await deps.admission.wait(ids, timeoutMs, signal) }
  })

  if (deps.versions !== undefined) addRolloutRoutes(route, { reconciler: deps.reconciler, versions: deps.versions, store: deps.store, policy: deps.policy })

  const locks = new DeployLocks()
  route('POST', '/v1/locks', (b) => {
    const { key, holder, ttlMs } = b
    if (typeof key !== 'string' || typeof holder !== 'string' || typeof ttlMs !== 'number' || ttlMs <= 0) {
      return error(400, 'PROXY_ERR_ADMIN', 'key, holder (strings) and ttlMs (number) are required')
    }
    const result = locks.acquire(key, holder, ttlMs)
    if (!result.acquired) {
      return error(409, 'PROXY_ERR_DEPLOY_IN_PROGRESS', `${key} is being deployed by ${result.current.holder} since ${result.current.since}`, { holder: result.current })
    }
    return { json: { key, holder } }
  })
  route('POST', '/v1/locks/release', (b) => {
    const { key, holder } = b
    return { json: { released: typeof key === 'string' && typeof holder === 'string' && locks.release(key, holder) } }
  })

  return createServer((req, res) => {
    const send = (r: Reply): void => {
      const text = r.text ?? JSON.stringify(r.json ?? null)
      res.writeHead(r.status ?? 200, { 'content-type': r.contentType ?? 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) })
      res.end(text)
    }
    const path = (req.url ?? '/').split('?')[0]!
    let params: Record<string, string> | undefined
    const found = routes.find((r) => {
      if (r.method !== req.method) return false
      const m = r.path.exec(path)
      if (m !== null) params = m.groups ?? {}
      return m !== null
    })
    if (found === undefined) {
      req.resume()
      send(error(404, 'PROXY_ERR_ADMIN', `no route ${req.method ?? ''} ${path}`))
      return
    }
    // A held request (admission) whose client hangs up is answered at once and dropped.
    const gone = new AbortController()
    res.once('close', () => { if (!res.writableFinished) gone.abort() })
    readJsonBody(req).then(async (body) => {
      if (body === undefined) { send(error(400, 'PROXY_ERR_ADMIN', 'the body must be a JSON object')); return }
      await deps.workers?.refresh()
      const reply = await found.handler(body, params ?? {}, gone.signal)
      if (!res.destroyed) send(reply)
    }).catch((err: unknown) => {
      const status = (err as { statusCode?: number }).statusCode
      if (status === undefined) log.error({ err, method: req.method, path }, 'Admin request failed')
      if (!res.headersSent && !res.destroyed) send(error(status ?? 500, 'PROXY_ERR_ADMIN', (err as Error).message))
      else res.destroy()
    })
  })
}

/** {} when there is no body; undefined when it is not a JSON object or too large. */
async function readJsonBody (req: IncomingMessage): Promise<Body | undefined> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_BODY_BYTES) return undefined
    chunks.push(chunk)
  }
  if (size === 0) return {}
  try {
    const v: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'))
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? v as Body : undefined
  } catch {
    return undefined
  }
}

export async function listenOnSocket (server: Server, socketPath: string): Promise<void> {
  await mkdir(dirname(socketPath), { recursive: true, mode: 0o700 })
  await rm(socketPath, { force: true })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(socketPath, () => { server.off('error', reject); resolve() })
  })
  await chmod(socketPath, 0o600)
}

/** Stops listening and closes idle keep-alive connections (the CLI's), so shutdown is not held. */
export async function closeAdminServer (server: Server): Promise<void> {
  const closed = new Promise<void>((resolve) => { server.close(() => { resolve() }) })
  server.closeIdleConnections()
  await closed
}
