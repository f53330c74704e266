import type { Reconciler } from '../../routing/reconciler.js'
import type { Target } from '../../routing/target.js'
import { WINDOW_MS, type VersionStats } from '../../traffic/version-stats.js'
import type { AdminError, FiguresResponse, StandbyResponse } from '../api.js'

// The admin endpoints verified deploys and canaries use (issue 13): live figures per container,
// and the standby state of a verified deploy's old version. The judging itself is the caller's
// (deploy/verify.ts), so CI systems and the status page read the same figures as the CLI.

type Body = Record<string, unknown>
interface Reply { status?: number, json?: unknown }
export type RouteAdder = (method: string, path: string, handler: (body: Body) => Reply | Promise<Reply>) => void

export interface RolloutRouteDeps {
  reconciler: Reconciler
  versions: VersionStats
}

/** Containers one figures request may name. */
export const MAX_FIGURES_CONTAINERS = 256

const error = (status: number, code: string, message: string): Reply => ({ status, json: { code, message } satisfies AdminError })

export function addRolloutRoutes (route: RouteAdder, deps: RolloutRouteDeps): void {
  route('POST', '/v1/figures', (b) => {
    const containers = b.containers
    if (!Array.isArray(containers) || containers.length > MAX_FIGURES_CONTAINERS || !containers.every((c) => typeof c === 'string' && c !== '')) {
      return error(400, 'PROXY_ERR_ADMIN', `containers (up to ${MAX_FIGURES_CONTAINERS} non-empty strings) is required`)
    }
    const lastMs = b.lastMs === undefined ? WINDOW_MS : b.lastMs
    if (typeof lastMs !== 'number' || !Number.isFinite(lastMs) || lastMs < 0) return error(400, 'PROXY_ERR_ADMIN', 'lastMs must be a number >= 0')
    const upstreams = [...new Set(deps.reconciler.targets().filter((t) => (containers as string[]).some((c) => t.isContainer(c))).map((t) => t.name))]
    const figures = deps.versions.figures(upstreams, Date.now() - Math.min(lastMs, WINDOW_MS))
    return { json: { figures, windowMs: WINDOW_MS, upstreams } satisfies FiguresResponse }
  })

  const setState = (verb: 'standby' | 'reinstate') => (b: Body): Reply => {
    const id = b.containerId
    if (typeof id !== 'string' || id === '') return error(400, 'PROXY_ERR_ADMIN', 'containerId (string) is required')
    const match: Target | undefined = deps.reconciler.targets().find((t) => t.isContainer(id))
    if (match === undefined) return error(404, 'PROXY_ERR_TARGET_NOT_FOUND', `no upstream for container ${id}`)
    const changed = verb === 'standby'
      ? deps.reconciler.standby(match.groupId, 'verified deploy: kept running until the new version is judged')
      : deps.reconciler.reinstate(match.groupId, 'verified deploy: the new version failed, back in rotation')
    if (!changed) {
      return error(409, 'PROXY_ERR_ADMIN', verb === 'standby'
        ? `${match.name} is ${match.state}: only a drained container can be put in standby`
        : `${match.name} is ${match.state}, not in standby`)
    }
    return { json: { containerId: match.groupId, name: match.name, state: match.state } satisfies StandbyResponse }
  }
  route('POST', '/v1/standby', setState('standby'))
  route('POST', '/v1/reinstate', setState('reinstate'))
}
