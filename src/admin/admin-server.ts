import { chmod, mkdir, rm } from 'node:fs/promises'
import { dirname } from 'node:path'
import Fastify, { type FastifyInstance } from 'fastify'
import type { Logger } from '../logger.js'
import type { Reconciler } from '../routing/reconciler.js'
import type { RouteTableStore } from '../routing/route-table-store.js'
import type { RolloutHistory } from '../history/rollout-history.js'
import type { Metrics } from '../metrics/metrics.js'
import type { TrafficStats } from '../metrics/traffic-stats.js'
import { DeployLocks } from './deploy-locks.js'
import { STATUS_PAGE_HTML } from './status-page.js'
import { buildStatus, hostsOf, type SkippedContainer } from './status.js'

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
}

interface DrainBody { containerId?: unknown, timeoutMs?: unknown, graceMs?: unknown }
interface LockBody { key?: unknown, holder?: unknown, ttlMs?: unknown }
interface DeployStepBody { step?: unknown, status?: unknown, message?: unknown, old?: unknown, new?: unknown }
interface DeployFinishBody { outcome?: unknown, error?: unknown, durationMs?: unknown }

const strings = (v: unknown): string[] | undefined => Array.isArray(v) && v.every((x) => typeof x === 'string') ? v as string[] : undefined

/**
 * Control plane, on a Unix socket only (never the public listener). Access is file permission:
 * mode 0600 for root, reached from the host through `docker exec` — whoever can use the Docker
 * socket can use it, nobody else.
 */
export function createAdminServer (deps: AdminServerDeps, log: Logger): FastifyInstance {
  // Fastify's own request logging stays off: admin calls are rare and logged where they act.
  const app = Fastify({ logger: false })

  app.get('/v1/health', async () => ({ ok: true }))

  app.get('/v1/status', async () => buildStatus(deps.store.current, deps.reconciler.targets(), deps.version, deps.skipped(), deps.traffic.snapshot()))

  app.get('/', async (_request, reply) => await reply.type('text/html; charset=utf-8').send(STATUS_PAGE_HTML))

  app.get('/metrics', async (_request, reply) => await reply.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics()))

  app.get('/v1/history', async () => deps.history.list())

  // Rollout history: `proxyctl deploy` reports its steps; the proxy adds hosts and failure counts.
  app.post<{ Body: { service?: unknown } }>('/v1/deploys', async (request, reply) => {
    const service = request.body?.service
    if (typeof service !== 'string' || service === '') return await reply.code(400).send({ code: 'PROXY_ERR_ADMIN', message: 'service is required' })
    return deps.history.started(service)
  })
  app.post<{ Params: { id: string }, Body: DeployStepBody }>('/v1/deploys/:id/steps', async (request, reply) => {
    const b = request.body ?? {}
    const old = strings(b.old)
    const fresh = strings(b.new)
    const hosts = hostsOf(deps.store.current, [...(old ?? []), ...(fresh ?? [])])
    const r = deps.history.stepped(request.params.id, { step: String(b.step ?? ''), status: String(b.status ?? ''), message: String(b.message ?? '') }, { old, new: fresh, hosts })
    return r ?? await reply.code(404).send({ code: 'PROXY_ERR_ADMIN', message: 'no such deploy' })
  })
  app.post<{ Params: { id: string }, Body: DeployFinishBody }>('/v1/deploys/:id/finish', async (request, reply) => {
    const b = request.body ?? {}
    const outcome = b.outcome === 'succeeded' ? 'succeeded' : 'failed'
    const r = await deps.history.finished(request.params.id, outcome, typeof b.error === 'string' ? b.error : undefined)
    if (r === undefined) return await reply.code(404).send({ code: 'PROXY_ERR_ADMIN', message: 'no such deploy' })
    deps.metrics.deployFinished(outcome, Date.parse(r.finishedAt ?? '') - Date.parse(r.startedAt))
    return r
  })

  app.post<{ Body: DrainBody }>('/v1/drain', async (request, reply) => {
    const body = request.body ?? {}
    if (typeof body.containerId !== 'string' || body.containerId === '') {
      return await reply.code(400).send({ code: 'PROXY_ERR_ADMIN', message: 'containerId (string) is required' })
    }
    const num = (v: unknown, dflt: number): number => typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : dflt
    const id = body.containerId
    const match = deps.reconciler.targets().find((t) => t.isContainer(id))
    if (match === undefined) {
      return await reply.code(404).send({ code: 'PROXY_ERR_TARGET_NOT_FOUND', message: `no upstream for container ${id}` })
    }
    const result = await deps.reconciler.drain(match.groupId, num(body.timeoutMs, deps.drainTimeoutMs), num(body.graceMs, deps.longLivedGraceMs))
    log.info({ containerId: match.groupId, name: match.name, ...result }, 'Drained')
    return { containerId: match.groupId, name: match.name, ...result }
  })

  const locks = new DeployLocks()
  app.post<{ Body: LockBody }>('/v1/locks', async (request, reply) => {
    const { key, holder, ttlMs } = request.body ?? {}
    if (typeof key !== 'string' || typeof holder !== 'string' || typeof ttlMs !== 'number' || ttlMs <= 0) {
      return await reply.code(400).send({ code: 'PROXY_ERR_ADMIN', message: 'key, holder (strings) and ttlMs (number) are required' })
    }
    const result = locks.acquire(key, holder, ttlMs)
    if (!result.acquired) {
      return await reply.code(409).send({ code: 'PROXY_ERR_DEPLOY_IN_PROGRESS', message: `${key} is being deployed by ${result.current.holder} since ${result.current.since}`, holder: result.current })
    }
    return { key, holder }
  })
  app.post<{ Body: LockBody }>('/v1/locks/release', async (request) => {
    const { key, holder } = request.body ?? {}
    return { released: typeof key === 'string' && typeof holder === 'string' && locks.release(key, holder) }
  })

  return app
}

export async function listenOnSocket (app: FastifyInstance, socketPath: string): Promise<void> {
  await mkdir(dirname(socketPath), { recursive: true, mode: 0o700 })
  await rm(socketPath, { force: true })
  await app.listen({ path: socketPath })
  await chmod(socketPath, 0o600)
}
