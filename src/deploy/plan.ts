// Pure: which containers are old, what to remove first, how far to scale.

export interface ServiceContainer {
  id: string
  name: string
  running: boolean
  /**
   * Known to be routed by the proxy without asking Docker: a Swarm task, whose container may run
   * on another node (the local engine cannot inspect it).
   */
  proxied?: boolean
}

export interface DeployPlan {
  /** Running containers that the new ones replace. */
  old: ServiceContainer[]
  /** Exited containers: removed first, so compose replaces them instead of restarting them. */
  removeFirst: ServiceContainer[]
  /** `--scale SERVICE=N` for the scale-up: old + new side by side. */
  scaleTo: number
  /** Replicas the service ends with (what it started with; 1 for a first deploy). */
  replicas: number
}

export function planDeploy (containers: readonly ServiceContainer[]): DeployPlan {
  const old = containers.filter((c) => c.running).sort((a, b) => a.name.localeCompare(b.name))
  const removeFirst = containers.filter((c) => !c.running)
  const replicas = Math.max(old.length, 1)
  return { old, removeFirst, scaleTo: old.length + replicas, replicas }
}
