import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import type Docker from 'dockerode'
import type { AdminClient } from '../admin/client/admin-client.js'
import { DeployFailedError, DeployTimeoutError } from '../errors.js'
import { containerFacts, logTail, removeContainer, stopAndRemove, type ContainerFacts } from './docker-ops.js'
import type { ServiceContainer } from './plan.js'
import type { Progress } from './progress.js'

// The steps every deploy strategy shares, in the order sequencer.ts runs them. Each is a plain
// async function taking its dependencies.

export interface DeployDeps {
  docker: Docker
  admin: AdminClient
  progress: Progress
}

export interface Timeouts {
  timeoutMs: number
  drainTimeoutMs: number
}

const LOCK_TTL_MS = 30_000
const DOCKER_HEALTH_POLL_MS = 1_000

/** Runs `fn` holding the proxy's deploy lease for `key`, renewed while it runs. */
export async function withDeployLock<T> (admin: AdminClient, key: string, fn: () => Promise<T>): Promise<T> {
  const holder = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`
  await admin.acquireLock(key, holder, LOCK_TTL_MS)
  const renew = setInterval(() => { admin.acquireLock(key, holder, LOCK_TTL_MS).catch(() => {}) }, LOCK_TTL_MS / 3)
  try {
    return await fn()
  } finally {
    clearInterval(renew)
    await admin.releaseLock(key, holder).catch(() => {})
  }
}

/**
 * Waits until the proxy reports every upstream of every candidate `ready`: one request held by
 * the proxy (POST /v1/admission) instead of polling it. Fails fast when the proxy will not route
 * a candidate or Docker reports it stopped; on timeout, the error carries the last check results
 * and the logs' tail. A candidate the proxy does not route (no VIRTUAL_HOST) needs only to run
 * and, if it has a Docker health check, to be healthy.
 */
export async function awaitAdmission (deps: DeployDeps, candidates: ServiceContainer[], timeoutMs: number): Promise<void> {
  const { docker, admin, progress } = deps
  progress.emit({ step: 'admit', status: 'start', message: `waiting for ${candidates.map((c) => c.name).join(', ')} to pass health checks (timeout ${timeoutMs / 1000}s)` })
  const deadline = Date.now() + timeoutMs
  const routed: ServiceContainer[] = []
  const unrouted: ServiceContainer[] = []
  for (const c of candidates) {
    const proxied = c.proxied ?? (await runningFacts(docker, c)).proxied
    ;(proxied ? routed : unrouted).push(c)
  }
  let pending = routed
  while (pending.length > 0) {
    const answer = await admin.admission(pending.map((c) => c.id), Math.max(0, deadline - Date.now()))
    const byId = new Map(answer.containers.map((a) => [a.containerId, a]))
    for (const c of pending) {
      const a = byId.get(c.id)
      if (a?.state === 'skipped') throw new DeployFailedError(`the proxy will not route new container ${c.name}: ${a.reason}`)
      if (a?.state === 'stopped') await runningFacts(docker, c) // throws with the exit code and the logs
    }
    for (const c of pending) {
      if (byId.get(c.id)?.state === 'ready') progress.emit({ step: 'admit', status: 'info', message: `${c.name} is ready`, containerId: c.id })
    }
    pending = pending.filter((c) => byId.get(c.id)?.state !== 'ready')
    if (pending.length > 0 && Date.now() >= deadline) {
      const reasons = await Promise.all(pending.map(async (c) => {
        const ups = byId.get(c.id)?.upstreams ?? []
        const checks = ups.length === 0
          ? 'not in the proxy\'s table (no VIRTUAL_HOST, an invalid value, or no network shared with the proxy?)'
          : ups.map((u) => `${u.origin} ${u.state}${u.lastCheck !== null ? `, last check: ${u.lastCheck.detail}` : ', no check yet'}`).join('; ')
        return `${c.name}: ${checks}\n--- last log lines of ${c.name} ---\n${(await logTail(docker, c.id)).trimEnd()}`
      }))
      throw new DeployTimeoutError(`new containers not ready within ${timeoutMs / 1000}s\n${reasons.join('\n')}`)
    }
  }
  for (const c of unrouted) await awaitDockerHealth(deps, c, deadline, timeoutMs)
  progress.emit({ step: 'admit', status: 'done', message: 'all new containers ready' })
}

/** The candidate's facts; throws when it has exited or is gone. */
async function runningFacts (docker: Docker, c: ServiceContainer): Promise<ContainerFacts> {
  const facts = await containerFacts(docker, c.id)
  if (facts === undefined || !facts.running) {
    throw new DeployFailedError(`new container ${c.name} ${facts === undefined ? 'disappeared' : `exited with code ${facts.exitCode}`} before it became ready\n${await logTail(docker, c.id)}`)
  }
  return facts
}

/** Not routed: running, and Docker-healthy when it has a health check. Polls Docker (rare: no VIRTUAL_HOST). */
async function awaitDockerHealth (deps: DeployDeps, c: ServiceContainer, deadline: number, timeoutMs: number): Promise<void> {
  for (;;) {
    const facts = await runningFacts(deps.docker, c)
    if (facts.dockerHealth === undefined || facts.dockerHealth === 'healthy') break
    if (Date.now() >= deadline) throw new DeployTimeoutError(`new container ${c.name} not healthy within ${timeoutMs / 1000}s (Docker reports ${facts.dockerHealth})`)
    await new Promise((resolve) => setTimeout(resolve, DOCKER_HEALTH_POLL_MS))
  }
  deps.progress.emit({ step: 'admit', status: 'info', message: `${c.name} is ready (not routed by the proxy)`, containerId: c.id })
}

/** Removes candidates that will not be promoted; the old containers keep serving. */
export async function rollback (deps: DeployDeps, candidates: ServiceContainer[]): Promise<void> {
  deps.progress.emit({ step: 'rollback', status: 'start', message: `removing ${candidates.map((c) => c.name).join(', ')}; old containers keep serving` })
  for (const c of candidates) {
    await deps.admin.drain(c.id, 5_000).catch(() => undefined) // may have been admitted already
    await removeContainer(deps.docker, c.id)
  }
  deps.progress.emit({ step: 'rollback', status: 'done', message: 'new containers removed' })
}

/** Drains every old container through the proxy (resolves when idle or timed out). */
export async function drainOld (deps: DeployDeps, old: ServiceContainer[], drainTimeoutMs: number): Promise<void> {
  if (old.length === 0) return
  const { admin, progress } = deps
  progress.emit({ step: 'drain', status: 'start', message: `draining ${old.map((c) => c.name).join(', ')} (timeout ${drainTimeoutMs / 1000}s)` })
  await Promise.all(old.map(async (c) => {
    try {
      const r = await admin.drain(c.id, drainTimeoutMs)
      progress.emit({
        step: 'drain',
        status: 'info',
        message: r.drained ? `${c.name} drained in ${r.durationMs} ms` : `${c.name}: ${r.inflightLeft} requests still in flight after ${drainTimeoutMs / 1000}s`,
        ...r
      })
    } catch (err) {
      // Not routed (no VIRTUAL_HOST): nothing to drain.
      progress.emit({ step: 'drain', status: 'info', message: `${c.name}: ${(err as Error).message}`, containerId: c.id })
    }
  }))
  progress.emit({ step: 'drain', status: 'done', message: 'old containers drained' })
}

/** `docker stop` (the app's own SIGTERM handling) and remove, for every drained old container. */
export async function retireOld (deps: DeployDeps, old: ServiceContainer[]): Promise<void> {
  if (old.length === 0) return
  const { docker, progress } = deps
  progress.emit({ step: 'retire', status: 'start', message: `stopping and removing ${old.map((c) => c.name).join(', ')}` })
  await Promise.all(old.map(async (c) => { await stopAndRemove(docker, c.id) }))
  progress.emit({ step: 'retire', status: 'done', message: 'old containers removed' })
}
