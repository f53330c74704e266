import type { HostTraffic, SkippedContainer, StatusReport, UpstreamStatus } from '../api.js'
import type { RouteTable } from '../../routing/route-table.js'
import type { Target } from '../../routing/target.js'

// The admin view of the table: the wire types of ../api.ts built from the live targets.

/** `elsewhere`: the target's requests held by worker processes (--workers), added to its own. */
export function upstreamStatus (t: Target, elsewhere?: { inflight: number, longLived: number }): UpstreamStatus {
  return {
    id: t.id,
    containerId: t.groupId,
    name: t.name,
    origin: t.origin,
    state: t.state,
    reason: t.stateReason,
    inflight: t.inflight + (elsewhere?.inflight ?? 0),
    longLived: t.longLivedCount + (elsewhere?.longLived ?? 0),
    lastCheck: t.lastCheck ?? null,
    ...(t.spec.node !== undefined ? { node: t.spec.node } : {})
  }
}

export function buildStatus (table: RouteTable, targets: readonly Target[], version: string, skipped: SkippedContainer[] = [], traffic: Record<string, HostTraffic> = {}, elsewhere?: (targetKey: string) => { inflight: number, longLived: number } | undefined): StatusReport {
  const status = (t: Target): UpstreamStatus => upstreamStatus(t, elsewhere?.(t.key))
  return {
    version,
    pid: process.pid,
    defaultHost: table.defaultHost ?? null,
    hosts: table.hosts.map((h) => ({
      host: h.host,
      locations: h.locations.map((l) => ({
        path: l.path, dest: l.dest, internalOnly: l.internalOnly, upstreams: l.balancer.targets.map(status)
      }))
    })),
    upstreams: targets.map(status).sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id)),
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
