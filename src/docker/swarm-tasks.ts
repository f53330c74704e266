import { isIPv4, isIPv6 } from 'node:net'
import type { ContainerInspect } from './container-info.js'

// Swarm services and tasks (GET /services, GET /tasks on a manager) read into what the container
// provider reads from a container: one container inspect per task that may take traffic, so the
// one builder (desired-state-builder.ts) sees tasks and containers alike. Pure; everything from the
// engine is hostile input, checked here before anything downstream sees it.

/** A task presented as a container: its container's id (the id `kill` events carry) and its view. */
export interface SwarmTaskContainer {
  /** The task's container id (64 hex digits): the target's group, as for a container. */
  id: string
  taskId: string
  serviceId: string
  serviceName: string
  /** `service.slot.task` (replicated) or `service.node.task` (global): the name Docker gives the task's container. */
  name: string
  nodeId: string
  /** The node's hostname ('' when unknown). */
  nodeName: string
  inspect: ContainerInspect
}

export interface SwarmProblem {
  /** The service (or task) the problem is about. */
  subject: string
  message: string
}

export interface SwarmTasksView {
  /** Tasks that may take traffic: desired and current state running (healthy, when they have a HEALTHCHECK). */
  containers: SwarmTaskContainer[]
  problems: SwarmProblem[]
}

/** Label a task's container carries (Docker sets it): such a container is routed as its task, never as a container. */
export const SWARM_TASK_LABEL = 'com.docker.swarm.task.id'

const ID_RE = /^[a-z0-9]{1,64}$/
const CONTAINER_ID_RE = /^[0-9a-f]{64}$/
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/
const LABEL_KEY_RE = /^[A-Za-z0-9][A-Za-z0-9_.\-/]{0,255}$/
const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_.-]{0,255}$/
const HOSTNAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,252}$/
const MAX_ENTRIES = 1_000
const MAX_VALUE_LENGTH = 64 * 1024
/** The env keys that make a container (here, a task) a proxied one (virtual-host.ts). */
const CONTRACT_KEYS = ['VIRTUAL_HOST', 'VIRTUAL_HOST_MULTIPORTS']

interface ServiceFacts { id: string, name: string, labels: Record<string, string> }

/** Services and tasks in, task containers out (tasks of services without the env contract are left out); `nodes`: hostnames by node id. */
export function swarmTaskContainers (services: unknown, tasks: unknown, nodes: ReadonlyMap<string, string> = new Map()): SwarmTasksView {
  const problems: SwarmProblem[] = []
  const byId = new Map<string, ServiceFacts>()
  for (const raw of Array.isArray(services) ? services : []) {
    const s = readService(raw)
    if (s !== undefined) byId.set(s.id, s)
  }
  const containers: SwarmTaskContainer[] = []
  const seen = new Set<string>()
  for (const raw of Array.isArray(tasks) ? tasks : []) {
    if (!isObject(raw)) continue
    const serviceId = str(raw.ServiceID)
    const service = serviceId === undefined ? undefined : byId.get(serviceId)
    if (service === undefined) continue // removed meanwhile, or not readable: no traffic
    const spec = isObject(raw.Spec) && isObject(raw.Spec.ContainerSpec) ? raw.Spec.ContainerSpec : {}
    const env = readEnv(spec.Env)
    if (!CONTRACT_KEYS.some((k) => (env[k] ?? '').trim() !== '')) continue
    // Admission: Swarm reports `running` only once a HEALTHCHECK passed; anything else is not yet, or no longer.
    if (str(raw.DesiredState) !== 'running') continue
    const status = isObject(raw.Status) ? raw.Status : {}
    if (str(status.State) !== 'running') continue
    const taskId = str(raw.ID)
    const nodeId = str(raw.NodeID) ?? ''
    const containerId = isObject(status.ContainerStatus) ? str(status.ContainerStatus.ContainerID) : undefined
    if (taskId === undefined || !ID_RE.test(taskId) || (nodeId !== '' && !ID_RE.test(nodeId))) {
      problems.push({ subject: service.name, message: 'a task with an invalid id or node id was ignored' })
      continue
    }
    if (containerId === undefined || !CONTAINER_ID_RE.test(containerId)) {
      problems.push({ subject: service.name, message: `task ${taskId} reports no valid container id; not routed` })
      continue
    }
    if (seen.has(containerId)) continue
    seen.add(containerId)
    const nodeName = nodes.get(nodeId) ?? ''
    const slot = raw.Slot
    const name = `${service.name}.${typeof slot === 'number' && Number.isInteger(slot) && slot > 0 ? slot : nodeId}.${taskId}`
    const labels = { ...service.labels, ...readLabels(spec.Labels) }
    const networks = readAttachments(raw.NetworksAttachments)
    if (Object.keys(networks).length === 0) problems.push({ subject: service.name, message: `task ${name} has no address on an overlay network; not routed (attach the service to a network the proxy shares)` })
    if ((env.VIRTUAL_PORT ?? '').trim() === '' && (env.VIRTUAL_HOST_MULTIPORTS ?? '').trim() === '') {
      problems.push({ subject: service.name, message: 'sets no VIRTUAL_PORT: port 80 assumed (an image\'s EXPOSE is not in the task list; set VIRTUAL_PORT in the service\'s env)' })
    }
    const inspect = {
      Id: containerId,
      Name: `/${name}`,
      State: { Running: true, Paused: false },
      Config: { Env: Object.entries(env).map(([k, v]) => `${k}=${v}`), Labels: labels, ExposedPorts: {} },
      NetworkSettings: { Networks: networks },
      HostConfig: { NetworkMode: 'default' },
      // Where it runs, as classic Swarm's container inspect said it (fromInspect reads Node.Name).
      ...(nodeName !== '' ? { Node: { ID: nodeId, Name: nodeName } } : {})
    } as unknown as ContainerInspect
    containers.push({ id: containerId, taskId, serviceId: service.id, serviceName: service.name, name, nodeId, nodeName, inspect })
  }
  containers.sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id))
  return { containers, problems: dedupe(problems) }
}

/** GET /nodes read into hostnames by node id (hostile input: invalid ids and names are left out). */
export function swarmNodeNames (nodes: unknown): Map<string, string> {
  const names = new Map<string, string>()
  for (const n of Array.isArray(nodes) ? nodes.slice(0, MAX_ENTRIES) : []) {
    if (!isObject(n) || !isObject(n.Description)) continue
    const id = str(n.ID)
    const hostname = str(n.Description.Hostname)
    if (id !== undefined && ID_RE.test(id) && hostname !== undefined && HOSTNAME_RE.test(hostname)) names.set(id, hostname)
  }
  return names
}

/** What GET /info says about this engine's part in a swarm. */
export function swarmRole (info: unknown): 'manager' | 'worker' | 'none' {
  const swarm = isObject(info) && isObject(info.Swarm) ? info.Swarm : {}
  if (swarm.LocalNodeState !== 'active') return 'none'
  return swarm.ControlAvailable === true ? 'manager' : 'worker'
}

/**
 * A container's inspect with the env contract taken out when it is a Swarm task's container: on a
 * manager its task is routed from the task list (task state, task address), never the container itself.
 */
export function withoutContract (inspect: ContainerInspect): ContainerInspect {
  const env = inspect.Config?.Env ?? []
  const kept = env.filter((e) => !CONTRACT_KEYS.some((k) => e.startsWith(`${k}=`)))
  if (kept.length === env.length) return inspect
  return { ...inspect, Config: { ...inspect.Config, Env: kept } }
}

export function isTaskContainer (labels: unknown): boolean {
  return isObject(labels) && typeof labels[SWARM_TASK_LABEL] === 'string'
}

// Private

function readService (raw: unknown): ServiceFacts | undefined {
  if (!isObject(raw) || !isObject(raw.Spec)) return undefined
  const id = str(raw.ID)
  const name = str(raw.Spec.Name)
  if (id === undefined || !ID_RE.test(id) || name === undefined || !NAME_RE.test(name)) return undefined
  return { id, name, labels: readLabels(raw.Spec.Labels) }
}

function readEnv (raw: unknown): Record<string, string> {
  const env: Record<string, string> = {}
  if (!Array.isArray(raw)) return env
  for (const entry of raw.slice(0, MAX_ENTRIES)) {
    if (typeof entry !== 'string' || entry.length > MAX_VALUE_LENGTH) continue
    const eq = entry.indexOf('=')
    const key = entry.slice(0, eq)
    if (eq > 0 && ENV_NAME_RE.test(key)) env[key] = entry.slice(eq + 1)
  }
  return env
}

function readLabels (raw: unknown): Record<string, string> {
  const labels: Record<string, string> = {}
  if (!isObject(raw)) return labels
  for (const [k, v] of Object.entries(raw).slice(0, MAX_ENTRIES)) {
    if (typeof v === 'string' && v.length <= MAX_VALUE_LENGTH && LABEL_KEY_RE.test(k)) labels[k] = v
  }
  return labels
}

/** Overlay attachments as container networks: name -> id and address (the ingress network is left out). */
function readAttachments (raw: unknown): Record<string, { NetworkID: string, IPAddress: string, GlobalIPv6Address: string, Gateway: string }> {
  const networks: Record<string, { NetworkID: string, IPAddress: string, GlobalIPv6Address: string, Gateway: string }> = {}
  if (!Array.isArray(raw)) return networks
  for (const a of raw.slice(0, MAX_ENTRIES)) {
    if (!isObject(a) || !isObject(a.Network)) continue
    const id = str(a.Network.ID)
    const spec = isObject(a.Network.Spec) ? a.Network.Spec : {}
    const name = str(spec.Name)
    if (id === undefined || !ID_RE.test(id) || name === undefined || !NAME_RE.test(name) || spec.Ingress === true) continue
    let v4 = ''
    let v6 = ''
    for (const cidr of Array.isArray(a.Addresses) ? a.Addresses.slice(0, 16) : []) {
      if (typeof cidr !== 'string') continue
      const ip = cidr.split('/')[0] ?? ''
      if (v4 === '' && isIPv4(ip)) v4 = ip
      else if (v6 === '' && isIPv6(ip) && !ip.includes('%')) v6 = ip // a zone (fe80::1%eth0) is never an overlay address
    }
    if (v4 !== '' || v6 !== '') networks[name] = { NetworkID: id, IPAddress: v4, GlobalIPv6Address: v6, Gateway: '' }
  }
  return networks
}

function dedupe (problems: SwarmProblem[]): SwarmProblem[] {
  const seen = new Set<string>()
  return problems.filter((p) => {
    const key = `${p.subject}\u0000${p.message}`
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
}

function str (v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined
}

function isObject (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}
