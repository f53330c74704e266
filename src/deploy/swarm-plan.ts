import type { ServiceContainer } from './plan.js'

// Pure: a Swarm service and its tasks (Docker API answers, hostile input) read into what
// `proxyctl deploy --swarm` decides on: the tasks it replaces, the spec it sends, and which old
// task a new one replaces (same slot; same node for a global service).

export interface SwarmTask {
  id: string
  /** `service.slot.task` or `service.node.task`: the task container's name, as the proxy names its target. */
  name: string
  slot: number | undefined
  nodeId: string
  image: string
  desiredState: string
  state: string
  /** Swarm's error for a failed task ('' when none). */
  err: string
  containerId: string | undefined
}

export interface SwarmService {
  id: string
  name: string
  version: number
  mode: 'replicated' | 'global'
  replicas: number | undefined
  image: string
  proxied: boolean
  /** UpdateStatus.StartedAt and State: an update of ours is one whose StartedAt differs from before it. */
  updateStartedAt: string
  updateState: string
  updateMessage: string
  /** The spec as Docker returned it, sent back with the changes of an update. */
  spec: Record<string, unknown>
}

export interface SwarmUpdatePlan {
  service: SwarmService
  /** Running tasks the update replaces, one at a time. */
  oldTasks: SwarmTask[]
  old: ServiceContainer[]
  /** The spec `docker service update --image IMAGE --update-order start-first --update-parallelism 1` sends. */
  nextSpec: Record<string, unknown>
}

const ID_RE = /^[a-z0-9]{1,64}$/
const CONTAINER_ID_RE = /^[0-9a-f]{64}$/
const CONTRACT_KEYS = ['VIRTUAL_HOST', 'VIRTUAL_HOST_MULTIPORTS']

export function readService (raw: unknown): SwarmService | undefined {
  if (!isObject(raw) || !isObject(raw.Spec) || !isObject(raw.Version)) return undefined
  const id = str(raw.ID)
  const name = str(raw.Spec.Name)
  const version = raw.Version.Index
  if (id === undefined || !ID_RE.test(id) || name === undefined || typeof version !== 'number') return undefined
  const mode = isObject(raw.Spec.Mode) ? raw.Spec.Mode : {}
  const task = isObject(raw.Spec.TaskTemplate) ? raw.Spec.TaskTemplate : {}
  const container = isObject(task.ContainerSpec) ? task.ContainerSpec : {}
  const env = Array.isArray(container.Env) ? container.Env.filter((e): e is string => typeof e === 'string') : []
  const update = isObject(raw.UpdateStatus) ? raw.UpdateStatus : {}
  const replicated = isObject(mode.Replicated) ? mode.Replicated : undefined
  return {
    id,
    name,
    version,
    mode: replicated !== undefined ? 'replicated' : isObject(mode.Global) ? 'global' : 'replicated',
    replicas: replicated !== undefined && typeof replicated.Replicas === 'number' ? replicated.Replicas : undefined,
    image: str(container.Image) ?? '',
    proxied: env.some((e) => CONTRACT_KEYS.some((k) => e.startsWith(`${k}=`) && e.trim().length > k.length + 1)),
    updateStartedAt: str(update.StartedAt) ?? '',
    updateState: str(update.State) ?? '',
    updateMessage: str(update.Message) ?? '',
    spec: raw.Spec
  }
}

/** Mode other than replicated or global (jobs): not something a rolling update applies to. */
export function serviceModeProblem (raw: unknown): string | undefined {
  const mode = isObject(raw) && isObject(raw.Spec) && isObject(raw.Spec.Mode) ? raw.Spec.Mode : {}
  if (isObject(mode.Replicated) || isObject(mode.Global) || Object.keys(mode).length === 0) return undefined
  return `mode ${Object.keys(mode).join(', ')} (a job) is not rolled out`
}

export function readTasks (raw: unknown, serviceName: string): SwarmTask[] {
  const tasks: SwarmTask[] = []
  for (const t of Array.isArray(raw) ? raw : []) {
    if (!isObject(t)) continue
    const id = str(t.ID)
    if (id === undefined || !ID_RE.test(id)) continue
    const nodeId = str(t.NodeID) ?? ''
    const slot = typeof t.Slot === 'number' && Number.isInteger(t.Slot) && t.Slot > 0 ? t.Slot : undefined
    const status = isObject(t.Status) ? t.Status : {}
    const spec = isObject(t.Spec) && isObject(t.Spec.ContainerSpec) ? t.Spec.ContainerSpec : {}
    const containerId = isObject(status.ContainerStatus) ? str(status.ContainerStatus.ContainerID) : undefined
    tasks.push({
      id,
      name: `${serviceName}.${slot ?? (ID_RE.test(nodeId) ? nodeId : '?')}.${id}`,
      slot,
      nodeId: ID_RE.test(nodeId) ? nodeId : '',
      image: str(spec.Image) ?? '',
      desiredState: str(t.DesiredState) ?? '',
      state: str(status.State) ?? '',
      err: (str(status.Err) ?? '').slice(0, 500),
      containerId: containerId !== undefined && CONTAINER_ID_RE.test(containerId) ? containerId : undefined
    })
  }
  return tasks.sort((a, b) => a.name.localeCompare(b.name))
}

/**
 * The running tasks to replace, and the next spec: the new image, start-first one task at a time
 * (so an old task stops only once its replacement runs, and at most one is draining), Swarm
 * pausing on a failed task (proxyctl decides the rollback), and a rollback that also starts first.
 */
export function planSwarmUpdate (service: SwarmService, tasks: readonly SwarmTask[], image: string): SwarmUpdatePlan {
  const oldTasks = tasks.filter((t) => t.desiredState === 'running' && t.state === 'running' && t.containerId !== undefined)
  const update = isObject(service.spec.UpdateConfig) ? service.spec.UpdateConfig : {}
  const rollback = isObject(service.spec.RollbackConfig) ? service.spec.RollbackConfig : {}
  const template = isObject(service.spec.TaskTemplate) ? service.spec.TaskTemplate : {}
  const container = isObject(template.ContainerSpec) ? template.ContainerSpec : {}
  const nextSpec = {
    ...service.spec,
    // The same image: replace the tasks anyway (`--force`), as a compose deploy replaces its containers.
    TaskTemplate: { ...template, ContainerSpec: { ...container, Image: image }, ...(service.image === image ? { ForceUpdate: (typeof template.ForceUpdate === 'number' ? template.ForceUpdate : 0) + 1 } : {}) },
    UpdateConfig: { ...update, Parallelism: 1, Order: 'start-first', FailureAction: 'pause' },
    RollbackConfig: { ...rollback, Parallelism: 1, Order: 'start-first', FailureAction: 'pause' }
  }
  return { service, oldTasks, old: oldTasks.map(toContainer), nextSpec }
}

/** The old tasks Swarm stops once `task` runs: its slot's (replicated) or its node's (global). */
export function replacedBy (task: SwarmTask, oldTasks: readonly SwarmTask[]): SwarmTask[] {
  return oldTasks.filter((o) => o.id !== task.id && (task.slot !== undefined ? o.slot === task.slot : o.nodeId === task.nodeId))
}

/** Tasks of the new spec that Swarm wants running (not the old ones, not the ones it gave up on). */
export function newTasks (tasks: readonly SwarmTask[], oldTasks: readonly SwarmTask[], image: string): SwarmTask[] {
  const oldIds = new Set(oldTasks.map((t) => t.id))
  return tasks.filter((t) => !oldIds.has(t.id) && t.desiredState === 'running' && t.image === image)
}

export function toContainer (t: SwarmTask): ServiceContainer {
  return { id: t.containerId ?? t.id, name: t.name, running: t.state === 'running', proxied: true }
}

function str (v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined
}

function isObject (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}
