import { chmod, mkdir, rm } from 'node:fs/promises'
import { dirname } from 'node:path'
import Fastify, { type FastifyInstance } from 'fastify'
import type { Logger } from '../logger.js'
import type { Reconciler } from '../routing/reconciler.js'
import type { RouteTableStore } from '../routing/route-table-store.js'
import { DeployLocks } from './deploy-locks.js'
import { buildStatus, type SkippedContainer } from './status.js'

export interface AdminServerDeps {
  store: RouteTableStore
  reconciler: Reconciler
  version: string
  drainTimeoutMs: number
  longLivedGraceMs: number
  skipped: () => SkippedContainer[]
}

interface DrainBody { containerId?: unknown, timeoutMs?: unknown, graceMs?: unknown }
interface LockBody { key?: unknown, holder?: unknown, ttlMs?: unknown }

/**
 * Control plane, on a Unix socket only (never the public listener). Access is file permission:
 * mode 0600 for root, reached from the host through `docker exec` — whoever can use the Docker
 * socket can use it, nobody else.
 */
export function createAdminServer (deps: AdminServerDeps, log: Logger): FastifyInstance {
  // Fastify's own request logging stays off: admin calls are rare and logged where they act.
  const app = Fastify({ logger: false })

  app.get('/v1/health', async () => ({ ok: true }))

  app.get('/v1/status', async () => buildStatus(deps.store.current, deps.reconciler.targets(), deps.version, deps.skipped()))

  app.post<{ Body: DrainBody }>('/v1/drain', async (request, reply) => {
    const body = request.body ?? {}
    if (typeof body.containerId !== 'string' || body.containerId === '') {
      return await reply.code(400).send({ code: 'PROXY_ERR_ADMIN', message: 'containerId (string) is required' })
    }
    const num = (v: unknown, dflt: number): number => typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : dflt
    const id = body.containerId
    const match = deps.reconciler.targets().find((t) => t.groupId === id || t.groupId.startsWith(id) || t.name === id)
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
