import type Docker from 'dockerode'
import type { ExternalHealth } from '../routing/desired-state.js'

// The one place raw Docker payloads are read; everything downstream sees ContainerInfo.

export interface NetworkAttachment {
  name: string
  id: string
  ipAddress: string
  /** GlobalIPv6Address on this network; '' when none (nginx-proxy's PREFER_IPV6_NETWORK picks it). */
  ipv6Address?: string
  /** The network's gateway as this container sees it (the host's address on it); '' when none. */
  gateway?: string
}

export interface ContainerInfo {
  id: string
  name: string
  running: boolean
  env: Record<string, string>
  labels: Record<string, string>
  /** TCP ports from EXPOSE / --expose, ascending. */
  exposedPorts: number[]
  networks: NetworkAttachment[]
  networkMode: string
  health: ExternalHealth
  /** The Swarm node a task runs on (its hostname); unset for a plain container. */
  node?: string
}

/** What the Engine API's container inspect returns (dockerode's type of it; a type only). */
export type ContainerInspect = Docker.ContainerInspectInfo

export function fromInspect (raw: ContainerInspect): ContainerInfo {
  const env: Record<string, string> = {}
  for (const entry of raw.Config?.Env ?? []) {
    const eq = entry.indexOf('=')
    if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1)
  }
  const exposedPorts = Object.keys(raw.Config?.ExposedPorts ?? {})
    .filter((k) => k.endsWith('/tcp'))
    .map((k) => Number(k.slice(0, -4)))
    .filter((n) => Number.isInteger(n))
    .sort((a, b) => a - b)
  const networks = Object.entries(raw.NetworkSettings?.Networks ?? {})
    .map(([name, n]) => ({ name, id: n.NetworkID ?? '', ipAddress: n.IPAddress ?? '', ipv6Address: n.GlobalIPv6Address ?? '', gateway: n.Gateway ?? '' }))
    .sort((a, b) => a.name.localeCompare(b.name))
  const healthStatus = (raw.State as { Health?: { Status?: string } } | undefined)?.Health?.Status
  const node = (raw as { Node?: { Name?: unknown } }).Node?.Name
  return {
    id: raw.Id,
    name: raw.Name.replace(/^\//, ''),
    running: raw.State?.Running === true && raw.State?.Paused !== true,
    env,
    labels: raw.Config?.Labels ?? {},
    exposedPorts,
    networks,
    networkMode: raw.HostConfig?.NetworkMode ?? 'default',
    health: toExternalHealth(healthStatus),
    ...(typeof node === 'string' && node !== '' ? { node } : {})
  }
}

function toExternalHealth (status: string | undefined): ExternalHealth {
  switch (status) {
    case 'starting': return 'starting'
    case 'healthy': return 'healthy'
    case 'unhealthy': return 'unhealthy'
    default: return 'none'
  }
}
