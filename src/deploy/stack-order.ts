import { InvalidOptionError } from '../errors.js'

// Pure: the order a whole-stack deploy rolls services out in, from `depends_on`.

export interface StackService {
  name: string
  /** Services this one depends on (`depends_on`, short or long syntax), as compose resolved them. */
  dependsOn: string[]
  /** Has a VIRTUAL_HOST (or VIRTUAL_HOST_MULTIPORTS): the proxy routes it, so proxyctl rolls it out. */
  proxied: boolean
  /** A fixed `container_name`: two containers of it cannot run side by side. */
  containerName: string | undefined
  /** `profiles`: compose runs the service only when one of them is active. */
  profiles: string[]
}

/**
 * Every service, dependencies first: Kahn's algorithm a level at a time (all services whose
 * dependencies are done), each level by name, so the order is stable.
 * Non-proxied services take part too: `web → worker → api` still puts api before web.
 * A dependency on an undefined service or a cycle is bad input, found before anything starts.
 */
export function stackOrder (services: readonly StackService[]): string[] {
  const byName = new Map(services.map((s) => [s.name, s]))
  for (const s of services) {
    for (const d of s.dependsOn) {
      if (!byName.has(d)) throw new InvalidOptionError(`service "${s.name}" depends on "${d}", which the compose file does not define`)
    }
  }
  const waitingOn = new Map(services.map((s) => [s.name, new Set(s.dependsOn)]))
  const order: string[] = []
  for (;;) {
    const ready = [...waitingOn].filter(([, deps]) => deps.size === 0).map(([name]) => name).sort()
    if (ready.length === 0) break
    for (const name of ready) {
      order.push(name)
      waitingOn.delete(name)
      for (const deps of waitingOn.values()) deps.delete(name)
    }
  }
  if (waitingOn.size > 0) {
    throw new InvalidOptionError(`depends_on has a cycle: ${findCycle(waitingOn).join(' -> ')}; nothing was deployed`)
  }
  return order
}

/** One cycle among services that never became ready (each still waits on another of them). */
function findCycle (waitingOn: Map<string, Set<string>>): string[] {
  const start = [...waitingOn.keys()].sort()[0]!
  const path: string[] = []
  let at = start
  while (!path.includes(at)) {
    path.push(at)
    at = [...(waitingOn.get(at) ?? [])].sort()[0]!
  }
  return [...path.slice(path.indexOf(at)), at]
}
