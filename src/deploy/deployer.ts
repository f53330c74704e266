import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import type Docker from 'dockerode'
import type { AdminClient } from '../admin/admin-client.js'
import type { UpstreamStatus } from '../admin/status.js'
import { DeployFailedError, DeployTimeoutError } from '../errors.js'
import { containerFacts, logTail, removeContainer, stopAndRemove } from './docker-ops.js'
import type { ServiceContainer } from './plan.js'
import type { Progress } from './progress.js'

// The deploy steps shared by compose services and plain containers. Each is a plain async
// function taking its dependencies, so tests and both deploy kinds call them one at a time.

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
const POLL_MS = 200

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
 * Waits until the proxy reports every upstream of every candidate `ready`. Fails fast when a
 * candidate exits; on timeout, the error carries the last check results and the logs' tail.
 */
export async function awaitAdmission (deps: DeployDeps, candidates: ServiceContainer[], timeoutMs: number): Promise<void> {
  const { docker, admin, progress } = deps
  progress.emit({ step: 'admit', status: 'start', message: `waiting for ${candidates.map((c) => c.name).join(', ')} to pass health checks (timeout ${timeoutMs / 1000}s)` })
  const deadline = Date.now() + timeoutMs
  const pending = new Map(candidates.map((c) => [c.id, c]))
  let last: UpstreamStatus[] = []
  while (pending.size > 0) {
    const status = await admin.status()
    last = status.upstreams
    for (const c of [...pending.values()]) {
      const skipped = status.skipped.find((s) => s.containerId === c.id)
      if (skipped !== undefined) {
        throw new DeployFailedError(`the proxy will not route new container ${c.name}: ${skipped.reason}`)
      }
      const facts = await containerFacts(docker, c.id)
      if (facts === undefined || !facts.running) {
        throw new DeployFailedError(`new container ${c.name} ${facts === undefined ? 'disappeared' : `exited with code ${facts.exitCode}`} before it became ready\n${await logTail(docker, c.id)}`)
      }
      const upstreams = last.filter((u) => u.containerId === c.id)
      const admitted = facts.proxied
        ? upstreams.length > 0 && upstreams.every((u) => u.state === 'ready')
        : facts.dockerHealth === undefined || facts.dockerHealth === 'healthy' // not routed: running (and Docker-healthy) is enough
      if (admitted) {
        pending.delete(c.id)
        progress.emit({ step: 'admit', status: 'info', message: `${c.name} is ready`, containerId: c.id })
      }
    }
    if (pending.size === 0) break
    if (Date.now() > deadline) {
      const reasons = await Promise.all([...pending.values()].map(async (c) => {
        const ups = last.filter((u) => u.containerId === c.id)
        const checks = ups.length === 0
          ? 'not in the proxy\'s table (no VIRTUAL_HOST, an invalid value, or no network shared with the proxy?)'
          : ups.map((u) => `${u.origin} ${u.state}${u.lastCheck !== null ? `, last check: ${u.lastCheck.detail}` : ', no check yet'}`).join('; ')
        return `${c.name}: ${checks}\n--- last log lines of ${c.name} ---\n${(await logTail(docker, c.id)).trimEnd()}`
      }))
      throw new DeployTimeoutError(`new containers not ready within ${timeoutMs / 1000}s\n${reasons.join('\n')}`)
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS))
  }
  progress.emit({ step: 'admit', status: 'done', message: 'all new containers ready' })
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

/** Drains every old container through the proxy, then stops and removes it. */
export async function drainAndRetire (deps: DeployDeps, old: ServiceContainer[], drainTimeoutMs: number): Promise<void> {
  if (old.length === 0) return
  const { admin, docker, progress } = deps
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
  progress.emit({ step: 'retire', status: 'start', message: `stopping and removing ${old.map((c) => c.name).join(', ')}` })
  await Promise.all(old.map(async (c) => { await stopAndRemove(docker, c.id) }))
  progress.emit({ step: 'retire', status: 'done', message: 'old containers removed' })
}
