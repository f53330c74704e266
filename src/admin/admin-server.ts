import { chmod, mkdir, rm } from 'node:fs/promises'
import { dirname } from 'node:path'
import Fastify, { type FastifyInstance } from 'fastify'
import type { Logger } from '../logger.js'
import type { Reconciler } from '../routing/reconciler.js'
import type { RouteTableStore } from '../routing/route-table-store.js'
import { buildStatus } from './status.js'

export interface AdminServerDeps {
  store: RouteTableStore
  reconciler: Reconciler
  version: string
  drainTimeoutMs: number
  longLivedGraceMs: number
}

interface DrainBody { containerId?: unknown, timeoutMs?: unknown, graceMs?: unknown }

/**
 * Control plane, on a Unix socket only (never the public listener). Access is file permission:
 * mode 0600 for root, reached from the host through `docker exec` — whoever can use the Docker
 * socket can use it, nobody else.
 */
export function createAdminServer (deps: AdminServerDeps, log: Logger): FastifyInstance {
  // Fastify's own request logging stays off: admin calls are rare and logged where they act.
  const app = Fastify({ logger: false })

  app.get('/v1/health', async () => ({ ok: true }))

  app.get('/v1/status', async () => buildStatus(deps.store.current, deps.reconciler.targets(), deps.version))

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

  return app
}

export async function listenOnSocket (app: FastifyInstance, socketPath: string): Promise<void> {
  await mkdir(dirname(socketPath), { recursive: true, mode: 0o700 })
  await rm(socketPath, { force: true })
  await app.listen({ path: socketPath })
  await chmod(socketPath, 0o600)
}
