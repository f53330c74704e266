import type { DesiredState, RouteSpec, TargetSpec } from '../routing/desired-state.js'
import type { ContainerInfo } from './container-info.js'
import { KEEPALIVE_LABEL, LOADBALANCE_LABEL, firstLabelValue, parseKeepalive, parseLoadbalance } from './upstream-labels.js'
import { parseContainer, type ExternalPorts } from './virtual-host.js'

export interface BuildContext {
  /** The proxy's own container id, when it runs in Docker. */
  selfId?: string | undefined
  /** Network ids the proxy container is attached to; undefined when the proxy runs on the host (or in its network). */
  selfNetworkIds?: ReadonlySet<string> | undefined
  /** Gateways of the proxy container's networks, by network name: how it reaches apps in the host network. */
  selfGateways?: readonly string[] | undefined
  /** PREFER_IPV6_NETWORK: a container with both addresses on its network is reached at the IPv6 one. */
  preferIpv6Network?: boolean | undefined
}

export interface BuildProblem {
  containerId: string
  containerName: string
  level: 'warn' | 'error'
  message: string
}

export interface BuildResult {
  state: DesiredState
  problems: BuildProblem[]
}

/** Containers in, desired routing out (pure; traefik's DynConfBuilder.build). */
export function buildDesiredState (containers: readonly ContainerInfo[], ctx: BuildContext = {}): BuildResult {
  const problems: BuildProblem[] = []
  const routes = new Map<string, RouteSpec>()
  const hostPorts = new Map<string, { ports: ExternalPorts, from: string }>()
  // Per host+path: the upstream labels its containers set (nginx-proxy applies one per location).
  const upstreamLabels = new Map<string, { loadbalance: string[], keepalive: string[], first: ContainerInfo }>()
  const sorted = [...containers].sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id))
  for (const c of sorted) {
    if (!c.running || c.id === ctx.selfId) continue
    const parsed = parseContainer(c)
    if (parsed.kind === 'skip') continue
    const report = (level: BuildProblem['level'], message: string): void => {
      problems.push({ containerId: c.id, containerName: c.name, level, message })
    }
    if (parsed.kind === 'invalid') {
      report('error', `${parsed.reason}; container not routed`)
      continue
    }
    for (const w of parsed.routes.warnings) report('warn', w)
    if (c.networkMode === 'host' && (c.env.VIRTUAL_PORT ?? '').trim() === '' && (c.env.VIRTUAL_HOST_MULTIPORTS ?? '').trim() === '') {
      report('warn', `uses the host network without VIRTUAL_PORT; port ${parsed.routes.entries[0]?.port ?? 80} assumed`)
    }
    // An unreachable container keeps its hosts configured, with no upstream: 502, as nginx-proxy's
    // `server 127.0.0.1 down` fallback (a `docker network disconnect` must not unroute the host).
    const address = pickAddress(c, ctx)
    if ('error' in address) report('error', `${address.error}; not routed (its hosts answer 502 while no container of theirs is reachable)`)
    const { protocol, internalOnly, health, tls } = parsed.routes
    for (const entry of parsed.routes.entries) {
      if (entry.externalPorts !== undefined) {
        // nginx-proxy: the first container that sets them, VIRTUAL_HOST_MULTIPORTS before EXTERNAL_*_PORT.
        const known = hostPorts.get(entry.host)
        const mine = entry.externalPorts
        if (known === undefined || (mine.fromMultiports === true && known.ports.fromMultiports !== true)) {
          hostPorts.set(entry.host, { ports: mine, from: c.name })
        } else if ((known.ports.http !== mine.http || known.ports.https !== mine.https) && known.ports.fromMultiports === mine.fromMultiports) {
          report('warn', `external ports of ${entry.host} disagree with ${known.from}'s; using theirs`)
        }
      }
      const existing = routes.get(`${entry.host}\u0000${entry.path}`)
      const labels = upstreamLabels.get(`${entry.host}\u0000${entry.path}`) ?? { loadbalance: [], keepalive: [], first: c }
      if (c.labels[LOADBALANCE_LABEL] !== undefined) labels.loadbalance.push(c.labels[LOADBALANCE_LABEL])
      if (c.labels[KEEPALIVE_LABEL] !== undefined) labels.keepalive.push(c.labels[KEEPALIVE_LABEL])
      upstreamLabels.set(`${entry.host}\u0000${entry.path}`, labels)
      if ('error' in address) {
        if (existing === undefined) routes.set(`${entry.host}\u0000${entry.path}`, { host: entry.host, path: entry.path, dest: entry.dest, internalOnly, tls, maxBodyBytes: entry.maxBodyBytes, targets: [] })
        continue
      }
      const target: TargetSpec = {
        id: `${c.id}:${entry.port}:${protocol}`,
        groupId: c.id,
        name: c.name,
        address: address.ip,
        port: entry.port,
        protocol,
        health,
        externalHealth: c.health,
        ...(c.node !== undefined ? { node: c.node } : {})
      }
      if (existing === undefined) {
        routes.set(`${entry.host}\u0000${entry.path}`, { host: entry.host, path: entry.path, dest: entry.dest, internalOnly, tls, maxBodyBytes: entry.maxBodyBytes, targets: [target] })
        continue
      }
      if (existing.maxBodyBytes !== entry.maxBodyBytes) {
        // Replicas of one host/path that disagree on proxyctl.max-body-size get the smallest limit
        // (undefined is no limit): one replica's limit must not be bypassed by landing on another.
        const limits = [existing.maxBodyBytes, entry.maxBodyBytes].filter((n) => n !== undefined)
        existing.maxBodyBytes = Math.min(...limits)
        report('warn', `proxyctl.max-body-size for ${entry.host}${entry.path} disagrees with ${existing.targets.map((t) => t.name).join(', ')}; using the smallest, ${existing.maxBodyBytes} bytes`)
      }
      if (existing.dest !== entry.dest || existing.internalOnly !== internalOnly || JSON.stringify(existing.tls) !== JSON.stringify(tls)) {
        report('warn', `settings for ${entry.host}${entry.path} disagree with ${existing.targets.map((t) => t.name).join(', ')} (VIRTUAL_DEST/NETWORK_ACCESS/HTTPS_METHOD/HSTS/CERT_NAME); using theirs`)
      }
      if (!existing.targets.some((t) => t.id === target.id)) existing.targets.push(target)
    }
  }
  for (const route of routes.values()) {
    const ports = hostPorts.get(route.host)?.ports
    if (ports !== undefined) route.externalPorts = { http: ports.http, https: ports.https }
    const labels = upstreamLabels.get(`${route.host}\u0000${route.path}`)
    if (labels !== undefined) applyUpstreamLabels(route, labels, problems)
  }
  return { state: { routes: [...routes.values()] }, problems }
}

/** nginx-proxy's loadbalance and keepalive labels for one location (see upstream-labels.ts). */
function applyUpstreamLabels (route: RouteSpec, labels: { loadbalance: string[], keepalive: string[], first: ContainerInfo }, problems: BuildProblem[]): void {
  const warn = (message: string): void => { problems.push({ containerId: labels.first.id, containerName: labels.first.name, level: 'warn', message }) }
  const where = `${route.host}${route.path}`
  const lb = firstLabelValue(labels.loadbalance)
  if (lb !== undefined) {
    if (lb.conflict.length > 0) warn(`label ${LOADBALANCE_LABEL} differs between the containers of ${where}; using ${JSON.stringify(lb.value)} (the first in sort order, as nginx-proxy)`)
    const parsed = parseLoadbalance(lb.value)
    if ('warning' in parsed) warn(parsed.warning)
    else if (parsed.balancing !== undefined) route.balancing = parsed.balancing
  }
  const ka = firstLabelValue(labels.keepalive)
  if (ka !== undefined) {
    if (ka.conflict.length > 0) warn(`label ${KEEPALIVE_LABEL} differs between the containers of ${where}; using ${JSON.stringify(ka.value)} (the first in sort order, as nginx-proxy)`)
    const parsed = parseKeepalive(ka.value)
    if ('warning' in parsed) warn(parsed.warning)
    // Its own identity: a pool is built once per target, so a changed setting is a new target.
    else if (!parsed.keepAlive) route.targets = route.targets.map((t) => ({ ...t, id: `${t.id}:close`, keepAlive: false }))
  }
}

function pickAddress (c: ContainerInfo, ctx: BuildContext): { ip: string } | { error: string } {
  if (c.networkMode === 'host') {
    // nginx-proxy's container_ip: the host's loopback when the proxy shares the host network (or
    // runs on the host), else the gateway of the proxy's first network that has one.
    if (ctx.selfNetworkIds === undefined) return { ip: '127.0.0.1' }
    const gateway = ctx.selfGateways?.find((g) => g !== '')
    return gateway === undefined ? { error: 'uses the host network and no network of the proxy has a gateway to it' } : { ip: gateway }
  }
  // nginx-proxy's container_ip: one network only (never both stacks, which would double the
  // container's round-robin weight), the first by name the proxy shares; its IPv4 address unless
  // PREFER_IPV6_NETWORK and it has an IPv6 one (IPv6-only networks: the IPv6 address).
  const usable = c.networks.filter((n) => n.ipAddress !== '' || (n.ipv6Address ?? '') !== '')
  const pick = (n: ContainerInfo['networks'][number]): { ip: string } => {
    const v6 = n.ipv6Address ?? ''
    return { ip: v6 !== '' && (ctx.preferIpv6Network === true || n.ipAddress === '') ? v6 : n.ipAddress }
  }
  if (ctx.selfNetworkIds !== undefined) {
    const shared = usable.find((n) => ctx.selfNetworkIds?.has(n.id) === true)
    if (shared === undefined) {
      return { error: `shares no network with the proxy (container networks: ${c.networks.map((n) => n.name).join(', ') || 'none'})` }
    }
    return pick(shared)
  }
  const first = usable[0]
  if (first === undefined) return { error: 'has no IP address on any network' }
  return pick(first)
}
