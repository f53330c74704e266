import type { HostTraffic } from '../metrics/traffic-stats.js'
import type { RouteTable } from '../routing/route-table.js'
import type { CheckResult, Target } from '../routing/target.js'

// The admin view of the table: plain JSON, shared by the API, `proxyctl status` and tests.

export interface UpstreamStatus {
  id: string
  containerId: string
  name: string
  origin: string
  state: Target['state']
  reason: string
  inflight: number
  longLived: number
  lastCheck: CheckResult | null
}

export interface LocationStatus {
  path: string
  dest: string
  internalOnly: boolean
  upstreams: UpstreamStatus[]
}

export interface HostStatus {
  host: string
  locations: LocationStatus[]
}

export interface SkippedContainer {
  containerId: string
  name: string
  reason: string
}

export interface StatusReport {
  version: string
  pid: number
  defaultHost: string | null
  hosts: HostStatus[]
  upstreams: UpstreamStatus[]
  /** Containers the provider could not route, with the reason (invalid VIRTUAL_* values...). */
  skipped: SkippedContainer[]
  /** Requests and errors per route host since the proxy started. */
  traffic: Record<string, HostTraffic>
}

export function upstreamStatus (t: Target): UpstreamStatus {
  return {
    id: t.id,
    containerId: t.groupId,
    name: t.name,
    origin: t.origin,
    state: t.state,
    reason: t.stateReason,
    inflight: t.inflight,
    longLived: t.longLivedCount,
    lastCheck: t.lastCheck ?? null
  }
}

export function buildStatus (table: RouteTable, targets: readonly Target[], version: string, skipped: SkippedContainer[] = [], traffic: Record<string, HostTraffic> = {}): StatusReport {
  return {
    version,
    pid: process.pid,
    defaultHost: table.defaultHost ?? null,
    hosts: table.hosts.map((h) => ({
      host: h.host,
      locations: h.locations.map((l) => ({
        path: l.path, dest: l.dest, internalOnly: l.internalOnly, upstreams: l.balancer.targets.map(upstreamStatus)
      }))
    })),
    upstreams: targets.map(upstreamStatus).sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id)),
    skipped,
    traffic
  }
}

/** Hosts routed to any of these containers (by id, id prefix or name). */
export function hostsOf (table: RouteTable, containers: readonly string[]): string[] {
  const hosts: string[] = []
  for (const h of table.hosts) {
    const hit = h.locations.some((l) => l.balancer.targets.some((t) => containers.some((c) => t.isContainer(c))))
    if (hit) hosts.push(h.host)
  }
  return hosts
}
