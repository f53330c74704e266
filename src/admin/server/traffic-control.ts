import type { Logger } from '../../logger.js'
import { PLAIN_HOST_RE } from '../../config/host-name.js'
import type { RouteTable } from '../../routing/route-table.js'
import type { Target } from '../../routing/target.js'
import { MAX_ALLOW_ENTRIES, MAX_MAINTENANCE_PAGE_BYTES, parseAllowEntry } from '../../traffic/maintenance.js'
import type { PolicySnapshot, PolicyStore } from '../../traffic/policy.js'
import {
  DEFAULT_PAUSE_MAX_HOLD_MS, DEFAULT_PAUSE_MAX_QUEUED, MAX_PAUSE_HOLD_MS, MAX_PAUSE_QUEUED, MAX_TRAFFIC_TARGET_CONTAINERS,
  type AdminError, type HostTrafficControl, type TrafficControlResponse
} from '../api.js'

// POST /v1/pause, /v1/resume, /v1/maintenance/on, /v1/maintenance/off: the only writers of pause
// and maintenance in the PolicyStore. A target is a route host (a VIRTUAL_HOST entry), else a
// container (name or id) or the containers the CLI found for a compose service, resolved to the
// hosts they serve now; the policy is kept per host, so containers that replace them later (a
// deploy) are paused or in maintenance too.

export interface TrafficControlDeps {
  policy: PolicyStore
  table: () => RouteTable
  targets: () => readonly Target[]
  /** Requests held now for a host (this process's hold queue). */
  held: (host: string) => number
  /** Whether maintenance is kept in a state file (survives a restart). */
  persisted: boolean
}

type Body = Record<string, unknown>
interface Reply { status?: number, json: unknown }
export interface TrafficRoute { method: string, path: string, handler: (body: Body) => Reply }

const error = (status: number, code: string, message: string): Reply => ({ status, json: { code, message } satisfies AdminError })

export function trafficControlRoutes (deps: TrafficControlDeps, log: Logger): TrafficRoute[] {
  /** Hosts of the request's target, or an error reply. `policyHosts`: hosts with the state to undo count too. */
  const resolve = (b: Body, policyHosts: (host: string) => boolean): { hosts: string[], unrouted: boolean } | Reply => {
    const target = b.target
    if (typeof target !== 'string' || target === '' || target.length > 253) return error(400, 'PROXY_ERR_ADMIN', 'target (a host, service or container name, 1 to 253 characters) is required')
    const containers = b.containers ?? []
    if (!Array.isArray(containers) || containers.length > MAX_TRAFFIC_TARGET_CONTAINERS || !containers.every((c) => typeof c === 'string' && c !== '' && c.length <= 128)) {
      return error(400, 'PROXY_ERR_ADMIN', `containers must be at most ${MAX_TRAFFIC_TARGET_CONTAINERS} container ids or names`)
    }
    const host = target.toLowerCase().replace(/\.$/, '')
    const table = deps.table()
    if (table.hosts.some((h) => h.host === host) || policyHosts(host)) return { hosts: [host], unrouted: false }
    const refs = [target, ...containers as string[]]
    const hosts = hostsServedBy(table, deps.targets(), refs)
    if (hosts.length > 0) return { hosts, unrouted: false }
    // A host name no container serves right now (its app is down for the migration): kept for when it is.
    if (host.includes('.') && PLAIN_HOST_RE.test(host)) return { hosts: [host], unrouted: true }
    return error(404, 'PROXY_ERR_TARGET_NOT_FOUND', `"${target}" is neither a routed host nor a container or service serving one`)
  }
  const reply = (hosts: string[], changed: string[], unrouted: boolean): Reply => ({
    json: { hosts, changed, unrouted, persisted: deps.persisted, trafficControl: trafficControlStatus(deps.policy.current, deps.held) } satisfies TrafficControlResponse
  })

  return [
    {
      method: 'POST',
      path: '/v1/pause',
      handler: (b) => {
        const maxHoldMs = b.maxHoldMs ?? DEFAULT_PAUSE_MAX_HOLD_MS
        const maxQueued = b.maxQueued ?? DEFAULT_PAUSE_MAX_QUEUED
        if (typeof maxHoldMs !== 'number' || !Number.isInteger(maxHoldMs) || maxHoldMs < 1 || maxHoldMs > MAX_PAUSE_HOLD_MS) return error(400, 'PROXY_ERR_ADMIN', `maxHoldMs must be an integer from 1 to ${MAX_PAUSE_HOLD_MS}`)
        if (typeof maxQueued !== 'number' || !Number.isInteger(maxQueued) || maxQueued < 1 || maxQueued > MAX_PAUSE_QUEUED) return error(400, 'PROXY_ERR_ADMIN', `maxQueued must be an integer from 1 to ${MAX_PAUSE_QUEUED}`)
        const r = resolve(b, (h) => deps.policy.forHost(h)?.pause !== undefined)
        if (!('hosts' in r)) return r
        const since = Date.now()
        for (const host of r.hosts) {
          // Paused again: the new bounds, the first pause's start.
          deps.policy.update(host, (p) => ({ ...p, pause: { since: p.pause?.since ?? since, maxHoldMs, maxQueued } }))
        }
        log.info({ hosts: r.hosts, maxHoldMs, maxQueued }, 'Paused')
        return reply(r.hosts, r.hosts, r.unrouted)
      }
    },
    {
      method: 'POST',
      path: '/v1/resume',
      handler: (b) => {
        const r = resolve(b, (h) => deps.policy.forHost(h)?.pause !== undefined)
        if (!('hosts' in r)) return r
        const changed = r.hosts.filter((h) => deps.policy.forHost(h)?.pause !== undefined)
        const held = changed.map((h) => deps.held(h))
        for (const host of changed) deps.policy.update(host, (p) => ({ ...p, pause: undefined }))
        if (changed.length > 0) log.info({ hosts: changed, released: held.reduce((a, n) => a + n, 0) }, 'Resumed')
        return reply(r.hosts, changed, r.unrouted)
      }
    },
    {
      method: 'POST',
      path: '/v1/maintenance/on',
      handler: (b) => {
        const page = b.page
        if (page !== undefined && (typeof page !== 'string' || Buffer.byteLength(page) > MAX_MAINTENANCE_PAGE_BYTES)) {
          return error(400, 'PROXY_ERR_ADMIN', `page must be an HTML text of at most ${MAX_MAINTENANCE_PAGE_BYTES} bytes`)
        }
        const given = b.allow ?? []
        if (!Array.isArray(given) || given.length > MAX_ALLOW_ENTRIES || !given.every((a) => typeof a === 'string')) {
          return error(400, 'PROXY_ERR_ADMIN', `allow must be at most ${MAX_ALLOW_ENTRIES} addresses or CIDRs`)
        }
        const allow: string[] = []
        for (const a of given as string[]) {
          const parsed = parseAllowEntry(a)
          if ('error' in parsed) return error(400, 'PROXY_ERR_ADMIN', `allow: ${parsed.error}`)
          if (!allow.includes(parsed.cidr)) allow.push(parsed.cidr)
        }
        const r = resolve(b, (h) => deps.policy.forHost(h)?.maintenance !== undefined)
        if (!('hosts' in r)) return r
        const since = Date.now()
        for (const host of r.hosts) {
          deps.policy.update(host, (p) => ({ ...p, maintenance: { page: page as string | undefined, allow, since: p.maintenance?.since ?? since } }))
        }
        log.info({ hosts: r.hosts, allow, customPage: page !== undefined }, 'Maintenance on')
        return reply(r.hosts, r.hosts, r.unrouted)
      }
    },
    {
      method: 'POST',
      path: '/v1/maintenance/off',
      handler: (b) => {
        const r = resolve(b, (h) => deps.policy.forHost(h)?.maintenance !== undefined)
        if (!('hosts' in r)) return r
        const changed = r.hosts.filter((h) => deps.policy.forHost(h)?.maintenance !== undefined)
        for (const host of changed) deps.policy.update(host, (p) => ({ ...p, maintenance: undefined }))
        if (changed.length > 0) log.info({ hosts: changed }, 'Maintenance off')
        return reply(r.hosts, changed, r.unrouted)
      }
    }
  ]
}

/** Pause and maintenance per host for `status` (the page itself is left out: only whether it is the user's). */
export function trafficControlStatus (snapshot: PolicySnapshot, held: (host: string) => number): Record<string, HostTrafficControl> {
  const out: Record<string, HostTrafficControl> = {}
  for (const [host, p] of Object.entries(snapshot.hosts)) {
    if (p.pause === undefined && p.maintenance === undefined) continue
    out[host] = {
      ...(p.pause !== undefined ? { pause: { since: new Date(p.pause.since).toISOString(), maxHoldMs: p.pause.maxHoldMs, maxQueued: p.pause.maxQueued, held: held(host) } } : {}),
      ...(p.maintenance !== undefined ? { maintenance: { since: new Date(p.maintenance.since).toISOString(), allow: p.maintenance.allow, customPage: p.maintenance.page !== undefined } } : {})
    }
  }
  return out
}

/** Hosts served by containers named (exactly) or by id (a prefix of 12 or more hex digits, or whole). */
function hostsServedBy (table: RouteTable, targets: readonly Target[], refs: string[]): string[] {
  const matches = (t: Target): boolean => refs.some((r) => t.name === r || (/^[0-9a-f]{12,64}$/.test(r) && t.groupId.startsWith(r)))
  const ids = new Set(targets.filter(matches).map((t) => t.key))
  const hosts: string[] = []
  for (const h of table.hosts) {
    if (h.locations.some((l) => l.balancer.targets.some((t) => ids.has(t.key) || matches(t)))) hosts.push(h.host)
  }
  return hosts
}
