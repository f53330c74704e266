import type { BalancingStrategy } from '../config/options.js'
import type { DesiredState, TargetSpec } from './desired-state.js'
import { LoadBalancer } from './load-balancer.js'
import { HostRoutes, RouteTable, type Location } from './route-table.js'
import type { Target } from './target.js'

// DesiredState -> RouteTable, given where each target's live object comes from. The one
// translation, shared by the Reconciler (which owns health-checked Targets) and a worker
// process's RoutingReplica (which mirrors the primary's target states): both build the same table.

export interface TableSettings {
  balancing: BalancingStrategy
  defaultHost: string | undefined
}

/** `targetFor(spec, hostHeader)`: the live Target for a spec (the caller dedupes by Target.keyOf). */
export function buildRouteTable (state: DesiredState, settings: TableSettings, targetFor: (spec: TargetSpec, hostHeader: string) => Target): RouteTable {
  // A health check's Host header: the first plain host a target serves.
  const hostHeaders = new Map<string, string>()
  for (const route of state.routes) {
    for (const spec of route.targets) {
      if (!hostHeaders.has(spec.id) && !route.host.startsWith('~') && !route.host.includes('*')) hostHeaders.set(spec.id, route.host)
    }
  }
  const locationsByHost = new Map<string, Location[]>()
  for (const route of state.routes) {
    const targets = route.targets.map((spec) => targetFor(spec, hostHeaders.get(spec.id) ?? spec.address))
    const balancer = new LoadBalancer(targets, route.balancing ?? settings.balancing)
    const locations = locationsByHost.get(route.host) ?? []
    locations.push({ host: route.host, path: route.path, dest: route.dest, internalOnly: route.internalOnly, tls: route.tls, maxBodyBytes: route.maxBodyBytes, balancer })
    locationsByHost.set(route.host, locations)
  }
  const portsByHost = new Map(state.routes.map((r) => [r.host, r.externalPorts]))
  const hosts = [...locationsByHost].map(([host, locations]) => new HostRoutes(host, locations, portsByHost.get(host)))
  return new RouteTable(hosts, settings.defaultHost)
}
