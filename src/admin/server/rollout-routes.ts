import type { Reconciler } from '../../routing/reconciler.js'
import type { RouteTable } from '../../routing/route-table.js'
import type { RouteTableStore } from '../../routing/route-table-store.js'
import type { Target } from '../../routing/target.js'
import { isNewTarget, newCookieName } from '../../traffic/canary.js'
import type { PolicySnapshot, PolicyStore } from '../../traffic/policy.js'
import { WINDOW_MS, type VersionStats } from '../../traffic/version-stats.js'
import type { AdminError, CanaryResponse, CanaryStatus, FiguresResponse, StandbyResponse } from '../api.js'
import { hostsOf } from './status.js'

// The admin endpoints verified deploys and canaries use (issue 13): live figures per container,
// and the standby state of a verified deploy's old version. The judging itself is the caller's
// (deploy/verify.ts), so CI systems and the status page read the same figures as the CLI.

type Body = Record<string, unknown>
interface Reply { status?: number, json?: unknown }
export type RouteAdder = (method: string, path: string, handler: (body: Body) => Reply | Promise<Reply>) => void

export interface RolloutRouteDeps {
  reconciler: Reconciler
  versions: VersionStats
  store: RouteTableStore
  /** Without it the canary routes are absent. */
  policy: PolicyStore | undefined
}

/** Status shows canary figures over this much recent time. */
export const CANARY_STATUS_WINDOW_MS = 60_000

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

  const policy = deps.policy
  if (policy === undefined) return
  const containersOf = (b: Body): string[] | undefined => {
    const c = b.containers
    return Array.isArray(c) && c.length > 0 && c.length <= MAX_FIGURES_CONTAINERS && c.every((x) => typeof x === 'string' && x !== '') ? c as string[] : undefined
  }
  route('POST', '/v1/canary', (b) => {
    const containers = containersOf(b)
    const share = b.share
    if (containers === undefined || typeof share !== 'number' || !Number.isFinite(share) || share < 0 || share > 1) {
      return error(400, 'PROXY_ERR_ADMIN', `containers (1 to ${MAX_FIGURES_CONTAINERS} strings) and share (0 to 1) are required`)
    }
    const targets = deps.reconciler.targets().filter((t) => containers.some((c) => t.isContainer(c)))
    const hosts = hostsOf(deps.store.current, containers)
    if (targets.length === 0 || hosts.length === 0) return error(404, 'PROXY_ERR_TARGET_NOT_FOUND', `no routed upstream for ${containers.join(', ')}`)
    // Full container ids: what the request path matches (isContainer) in every process.
    const newTargets = [...new Set(targets.map((t) => t.groupId))].sort()
    let cookie = ''
    for (const host of hosts) {
      policy.update(host, (p) => {
        // The same rollout keeps its cookie (its clients keep their side); a new one gets its own.
        const same = p.canary !== undefined && p.canary.newTargets.join() === newTargets.join()
        cookie = same ? p.canary!.cookie : (cookie === '' ? newCookieName() : cookie)
        return { ...p, canary: { newTargets, share, cookie } }
      })
    }
    return { json: { hosts, share, cookie } satisfies CanaryResponse }
  })
  route('POST', '/v1/canary/clear', (b) => {
    const containers = containersOf(b)
    if (containers === undefined) return error(400, 'PROXY_ERR_ADMIN', `containers (1 to ${MAX_FIGURES_CONTAINERS} strings) is required`)
    const hosts = Object.entries(policy.current.hosts)
      .filter(([, p]) => p.canary?.newTargets.some((id) => containers.some((c) => c !== '' && (id.startsWith(c) || c.startsWith(id)))) === true)
      .map(([host]) => host)
    for (const host of hosts) policy.update(host, (p) => ({ ...p, canary: undefined }))
    return { json: { hosts, share: 0, cookie: null } satisfies CanaryResponse }
  })
}

/** StatusReport.canary: per host with a split, the share and both sides' recent figures. */
export function canaryStatus (snapshot: PolicySnapshot, table: RouteTable, versions: VersionStats): Record<string, CanaryStatus> {
  const out: Record<string, CanaryStatus> = {}
  const since = Date.now() - CANARY_STATUS_WINDOW_MS
  for (const [host, p] of Object.entries(snapshot.hosts)) {
    const canary = p.canary
    if (canary === undefined) continue
    const targets = new Set<Target>()
    for (const h of table.hosts) if (h.host === host) for (const l of h.locations) for (const t of l.balancer.targets) targets.add(t)
    const fresh = [...new Set([...targets].filter((t) => isNewTarget(t, canary)).map((t) => t.name))]
    const old = [...new Set([...targets].filter((t) => !isNewTarget(t, canary)).map((t) => t.name))]
    out[host] = {
      share: canary.share,
      cookie: canary.cookie,
      newTargets: canary.newTargets,
      newUpstreams: fresh,
      oldUpstreams: old,
      new: versions.figures(fresh, since),
      old: versions.figures(old, since),
      windowMs: CANARY_STATUS_WINDOW_MS
    }
  }
  return out
}
