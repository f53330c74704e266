import { readFileSync } from 'node:fs'
import type Docker from 'dockerode'
import { parse as parseYaml } from 'yaml'
import { DeployFailedError, DeployTimeoutError, InvalidOptionError } from '../errors.js'
import type { ServiceContainer } from './plan.js'
import { runDeploy, type DeployResult, type DeployStrategy, type StrategyPlan } from './sequencer.js'
import type { DeployDeps, Timeouts } from './steps.js'
import {
  newTasks, planSwarmUpdate, readService, readTasks, replacedBy, serviceModeProblem, toContainer,
  type SwarmService, type SwarmTask, type SwarmUpdatePlan
} from './swarm-plan.js'

// `proxyctl deploy --swarm SERVICE --image IMAGE`: Swarm runs the rolling update (start-first, one
// task at a time) and proxyctl gates it: each new task must be admitted by the proxy, and the old
// task of its slot is drained through the proxy as soon as its replacement is admitted. Swarm
// stops the old task itself once the new one runs: its agent withdraws the task's service binding
// and waits ~2 s (gossip convergence) before SIGTERM, and the proxy has withdrawn the task from its
// task list read by then, so an app that exits at once on SIGTERM loses nothing that finishes in
// that window. New tasks not ready within --timeout (or a task Swarm gives up on, which pauses the
// update): `docker service rollback`, and the deploy fails.

export interface SwarmDeployRequest extends Timeouts {
  service: string
  image: string | undefined
  /** A stack file (`docker stack deploy -c FILE STACK`): the service is STACK_SERVICE, its image the file's. */
  stackFile: string | undefined
  stack: string | undefined
}

type SwarmPlan = StrategyPlan & SwarmUpdatePlan & { image: string }

const POLL_MS = 200
/** The agent's wait between withdrawing a task's service binding and SIGTERM (moby's defaultGossipConvergeDelay). */
const GOSSIP_DELAY_MS = 2_000
const ROLLBACK_TIMEOUT_MS = 120_000
const STACK_LABEL = 'com.docker.stack.namespace'

export function swarmStrategy (req: SwarmDeployRequest, deps: DeployDeps): DeployStrategy<SwarmPlan> {
  const { docker, progress } = deps
  let updated = false
  let service: SwarmService | undefined
  return {
    lockKey: `swarm:${req.stack !== undefined ? `${req.stack}_${req.service}` : req.service}`,
    plan: async () => {
      const { name, image } = await resolveTarget(docker, req)
      const raw = await inspectService(docker, name)
      const problem = serviceModeProblem(raw)
      service = readService(raw)
      if (service === undefined || problem !== undefined) throw new InvalidOptionError(`service "${name}": ${problem ?? 'unreadable inspect'}`)
      if (!service.proxied) throw new InvalidOptionError(`service "${name}" sets no VIRTUAL_HOST in its env: the proxy does not route it (use docker service update)`)
      const plan = planSwarmUpdate(service, readTasks(await docker.listTasks({ filters: { service: [service.id] } }), service.name), image)
      return {
        ...plan,
        image,
        message: `${service.name}: ${service.image.replace(/@sha256:.*$/, '')} -> ${image}, replacing ${plan.old.length === 0 ? 'no running task' : plan.old.map((c) => c.name).join(', ')}`,
        startMessage: `docker service update --image ${image} --update-order start-first --update-parallelism 1 --update-failure-action pause ${service.name}`
      }
    },
    startCandidates: async (plan, gates) => {
      const deadline = Date.now() + req.timeoutMs
      await updateService(docker, plan.service, plan.nextSpec)
      updated = true
      const admitted = new Map<string, ServiceContainer>()
      const drained = new Set<string>()
      const drains: Array<Promise<void>> = []
      for (;;) {
        const [now, tasks] = await readState(docker, plan.service)
        const ours = now.updateStartedAt !== plan.service.updateStartedAt
        // Paused: a new task failed (unhealthy, exited) before it ran; not ready, as a timeout is (exit code 3).
        if (ours && now.updateState === 'paused') throw new DeployTimeoutError(`new tasks not ready: Swarm paused the update: ${now.updateMessage}${failures(tasks, plan.image)}`)
        if (ours && now.updateState.startsWith('rollback')) throw new DeployFailedError(`Swarm reports ${now.updateState} (someone else rolled it back?): ${now.updateMessage}`)
        const fresh = newTasks(tasks, plan.oldTasks, plan.image)
        const ready = fresh.filter((t) => t.state === 'running' && t.containerId !== undefined && !admitted.has(t.id))
        for (const task of ready) {
          const candidate = toContainer(task)
          await gates.admit([candidate], Math.max(0, Math.ceil((deadline - Date.now()) / 1000) * 1000))
          admitted.set(task.id, candidate)
          // Swarm marks the old task of this slot for shutdown as the new one runs; the drain
          // tells every request still on it that it has until the agent's SIGTERM.
          const replaced = replacedBy(task, plan.oldTasks).filter((o) => !drained.has(o.id))
          for (const o of replaced) drained.add(o.id)
          if (replaced.length > 0) drains.push(gates.drain(replaced.map(toContainer)))
        }
        if (ready.length > 0) continue
        const done = ours && now.updateState === 'completed' && fresh.every((t) => admitted.has(t.id))
        if (done) break
        if (Date.now() >= deadline) {
          const pending = fresh.filter((t) => !admitted.has(t.id))
          throw new DeployTimeoutError(`new tasks not ready within ${req.timeoutMs / 1000}s (Swarm: update ${now.updateState || 'not started'})${pending.map((t) => `\n${t.name}: ${t.state}${t.err !== '' ? `: ${t.err}` : ''}`).join('')}${failures(tasks, plan.image)}`)
        }
        await sleep(POLL_MS)
      }
      await Promise.all(drains)
      return [...admitted.values()]
    },
    strayCandidates: async () => [],
    rollback: async (plan) => {
      if (!updated) return
      progress.emit({ step: 'rollback', status: 'start', message: `docker service rollback ${plan.service.name}: back to ${plan.service.image.replace(/@sha256:.*$/, '')}; old tasks keep serving` })
      const raw = await inspectService(docker, plan.service.name)
      const current = readService(raw)
      if (current === undefined) throw new DeployFailedError(`rollback of ${plan.service.name}: service unreadable`)
      await updateService(docker, current, current.spec, true)
      const deadline = Date.now() + Math.max(ROLLBACK_TIMEOUT_MS, req.timeoutMs)
      for (;;) {
        const [now, tasks] = await readState(docker, plan.service)
        const wanted = tasks.filter((t) => t.desiredState === 'running')
        const back = now.updateState === 'rollback_completed' && wanted.length > 0 && wanted.every((t) => t.image === plan.service.image && t.state === 'running')
        if (back) {
          progress.emit({ step: 'rollback', status: 'done', message: `rolled back: ${wanted.map((t) => t.name).join(', ')} running ${plan.service.image.replace(/@sha256:.*$/, '')}` })
          return
        }
        if (now.updateState === 'rollback_paused' || Date.now() >= deadline) {
          throw new DeployFailedError(`docker service rollback of ${plan.service.name} did not complete (Swarm: ${now.updateState}: ${now.updateMessage})${failures(tasks, plan.image)}`)
        }
        await sleep(POLL_MS)
      }
    },
    retire: async (plan, candidates) => {
      // Swarm stops the old tasks itself (after its gossip delay): wait for that, so `done` means done.
      if (plan.oldTasks.length > 0) {
        progress.emit({ step: 'retire', status: 'start', message: `Swarm stops ${plan.old.map((c) => c.name).join(', ')}` })
        const grace = stopGraceMs(plan.service.spec)
        const deadline = Date.now() + GOSSIP_DELAY_MS + grace + 30_000
        const oldIds = new Set(plan.oldTasks.map((t) => t.id))
        for (;;) {
          const [, tasks] = await readState(docker, plan.service)
          const left = tasks.filter((t) => oldIds.has(t.id) && (t.state === 'running' || t.desiredState === 'running'))
          if (left.length === 0) break
          if (Date.now() >= deadline) {
            progress.emit({ step: 'retire', status: 'info', message: `${left.map((t) => t.name).join(', ')} still ${left.map((t) => t.state).join(', ')}; Swarm keeps stopping them` })
            break
          }
          await sleep(POLL_MS)
        }
        progress.emit({ step: 'retire', status: 'done', message: 'old tasks shut down' })
      }
      return {
        service: plan.service.name,
        old: plan.old.map((c) => c.name),
        new: candidates.map((c) => c.name),
        message: `deployed ${plan.service.name} with ${plan.image}: ${candidates.map((c) => c.name).join(', ')} serving`
      }
    }
  }
}

export async function deploySwarmService (req: SwarmDeployRequest, deps: DeployDeps): Promise<DeployResult> {
  return await runDeploy(swarmStrategy(req, deps), deps, req)
}

/** The service's name and the image to roll out: as given, or from the stack file. */
async function resolveTarget (docker: Docker, req: SwarmDeployRequest): Promise<{ name: string, image: string }> {
  if (req.stackFile === undefined) {
    if (req.image === undefined) throw new InvalidOptionError('deploy --swarm: --image IMAGE (or -f STACK_FILE) is required')
    return { name: req.service, image: req.image }
  }
  let doc: unknown
  try {
    doc = parseYaml(readFileSync(req.stackFile, 'utf8'))
  } catch (err) {
    throw new InvalidOptionError(`stack file ${req.stackFile}: ${(err as Error).message.split('\n')[0] ?? ''}`)
  }
  const services = isObject(doc) && isObject(doc.services) ? doc.services : {}
  const entry = services[req.service]
  if (!isObject(entry)) throw new InvalidOptionError(`service "${req.service}" is not defined in ${req.stackFile}`)
  const image = req.image ?? (typeof entry.image === 'string' ? interpolate(entry.image, req.stackFile) : undefined)
  if (image === undefined || image === '') throw new InvalidOptionError(`service "${req.service}" in ${req.stackFile} has no image (pass --image)`)
  const stack = req.stack ?? await findStack(docker, req.service)
  return { name: `${stack}_${req.service}`, image }
}

/** The one stack (label com.docker.stack.namespace) that has a service STACK_SERVICE; -p names it otherwise. */
async function findStack (docker: Docker, service: string): Promise<string> {
  const list = await docker.listServices({ filters: { label: [STACK_LABEL] } }) as unknown[]
  const stacks = list.flatMap((s) => {
    const spec = isObject(s) && isObject(s.Spec) ? s.Spec : {}
    const ns = isObject(spec.Labels) ? spec.Labels[STACK_LABEL] : undefined
    return typeof ns === 'string' && spec.Name === `${ns}_${service}` ? [ns] : []
  })
  if (stacks.length === 1) return stacks[0]!
  throw new InvalidOptionError(stacks.length === 0
    ? `no deployed stack has a service "${service}" (docker stack deploy first, or pass -p STACK)`
    : `several stacks have a service "${service}" (${stacks.join(', ')}): pick one with -p STACK`)
}

/** `${VAR}` and `${VAR:-default}` from the environment, as `docker stack deploy` reads the file. */
function interpolate (value: string, file: string): string {
  return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}/g, (_m, name: string, dflt: string | undefined) => {
    const v = process.env[name]
    if (v !== undefined && v !== '') return v
    if (dflt !== undefined) return dflt
    throw new InvalidOptionError(`${file}: \${${name}} is not set`)
  })
}

async function inspectService (docker: Docker, name: string): Promise<unknown> {
  try {
    return await docker.getService(name).inspect()
  } catch (err) {
    const code = (err as { statusCode?: number }).statusCode
    if (code === 404) throw new InvalidOptionError(`Swarm service "${name}" not found`)
    if (code === 503) throw new InvalidOptionError(`this Docker engine is not a Swarm manager (${(err as Error).message}); run on a manager or point DOCKER_HOST at one`)
    throw err
  }
}

/** POST /services/ID/update with the spec; `rollback`: the daemon's own rollback to the previous spec. */
async function updateService (docker: Docker, service: SwarmService, spec: Record<string, unknown>, rollback = false): Promise<void> {
  try {
    const query = { version: service.version, ...(rollback ? { rollback: 'previous' } : {}) }
    await docker.getService(service.id).update({ _query: query, _body: spec } as unknown as Record<string, unknown>)
  } catch (err) {
    throw new DeployFailedError(`${rollback ? 'docker service rollback' : 'docker service update'} of ${service.name} failed: ${(err as Error).message}`, err)
  }
}

async function readState (docker: Docker, service: SwarmService): Promise<[SwarmService, SwarmTask[]]> {
  const [raw, tasks] = await Promise.all([
    docker.getService(service.id).inspect(),
    docker.listTasks({ filters: { service: [service.id] } })
  ])
  const now = readService(raw)
  if (now === undefined) throw new DeployFailedError(`service ${service.name} became unreadable`)
  return [now, readTasks(tasks, service.name)]
}

/** Tasks of the new image that failed: what Swarm said about them. */
function failures (tasks: readonly SwarmTask[], image: string): string {
  const failed = tasks.filter((t) => t.image === image && ['failed', 'rejected'].includes(t.state)).slice(0, 5)
  return failed.map((t) => `\n${t.name}: ${t.state}${t.err !== '' ? `: ${t.err}` : ''}`).join('')
}

function stopGraceMs (spec: Record<string, unknown>): number {
  const template = isObject(spec.TaskTemplate) ? spec.TaskTemplate : {}
  const container = isObject(template.ContainerSpec) ? template.ContainerSpec : {}
  return typeof container.StopGracePeriod === 'number' ? container.StopGracePeriod / 1e6 : 10_000
}

async function sleep (ms: number): Promise<void> { await new Promise((resolve) => setTimeout(resolve, ms)) }

function isObject (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}
