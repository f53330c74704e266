import type { DesiredState, RouteSpec, TargetSpec } from '../routing/desired-state.js'
import type { ContainerInfo } from './container-info.js'
import { parseContainer } from './virtual-host.js'

export interface BuildContext {
  /** The proxy's own container id, when it runs in Docker. */
  selfId?: string | undefined
  /** Network ids the proxy container is attached to; undefined when the proxy runs on the host. */
  selfNetworkIds?: ReadonlySet<string> | undefined
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
    const address = pickAddress(c, ctx)
    if ('error' in address) {
      report('error', `${address.error}; container not routed`)
      continue
    }
    const { protocol, internalOnly, health, tls } = parsed.routes
    for (const entry of parsed.routes.entries) {
      const target: TargetSpec = {
        id: `${c.id}:${entry.port}:${protocol}`,
        groupId: c.id,
        name: c.name,
        address: address.ip,
        port: entry.port,
        protocol,
        health,
        externalHealth: c.health
      }
      const key = `${entry.host}\u0000${entry.path}`
      const existing = routes.get(key)
      if (existing === undefined) {
        routes.set(key, { host: entry.host, path: entry.path, dest: entry.dest, internalOnly, tls, maxBodyBytes: entry.maxBodyBytes, targets: [target] })
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
  return { state: { routes: [...routes.values()] }, problems }
}

function pickAddress (c: ContainerInfo, ctx: BuildContext): { ip: string } | { error: string } {
  if (c.networkMode === 'host') return { error: 'uses the host network (not supported)' }
  const usable = c.networks.filter((n) => n.ipAddress !== '')
  if (ctx.selfNetworkIds !== undefined) {
    const shared = usable.find((n) => ctx.selfNetworkIds?.has(n.id) === true)
    if (shared === undefined) {
      return { error: `shares no network with the proxy (container networks: ${c.networks.map((n) => n.name).join(', ') || 'none'})` }
    }
    return { ip: shared.ipAddress }
  }
  const first = usable[0]
  if (first === undefined) return { error: 'has no IP address on any network' }
  return { ip: first.ipAddress }
}
