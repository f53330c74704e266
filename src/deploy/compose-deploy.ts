import { InvalidOptionError, DeployFailedError } from '../errors.js'
import {
  composeServices, composeUpScaled, findComposeBinary, projectName, resolveComposeFile, type ComposeProject
} from './compose.js'
import { awaitAdmission, drainAndRetire, rollback, withDeployLock, type DeployDeps, type Timeouts } from './deployer.js'
import { listServiceContainers, removeContainer } from './docker-ops.js'
import { planDeploy, type ServiceContainer } from './plan.js'

export interface ComposeDeployRequest extends Timeouts {
  service: string
  composeFile: string | undefined
  project: string | undefined
}

export interface DeployResult {
  service: string
  old: string[]
  new: string[]
  durationMs: number
}

/**
 * The seed recipe, made safe: scale up beside the old containers with the compose file's current
 * config, admit the new ones on health, drain the old ones through the proxy, then remove them.
 */
export async function deployComposeService (req: ComposeDeployRequest, deps: DeployDeps): Promise<DeployResult> {
  const started = Date.now()
  const { progress, docker } = deps
  const file = resolveComposeFile(req.composeFile)
  const name = projectName(file, req.project)
  // Take the lease first: a second deploy of the same service fails at once, before compose runs.
  return await withDeployLock(deps.admin, `compose:${name}/${req.service}`, async () => {
    const project: ComposeProject = { binary: await findComposeBinary(), file, project: name }
    const services = await composeServices(project)
    if (!services.includes(req.service)) {
      throw new InvalidOptionError(`service "${req.service}" is not defined in ${file} (services: ${services.join(', ') || 'none'})`)
    }
    const plan = planDeploy(await listServiceContainers(docker, project.project, req.service))
    progress.emit({
      step: 'plan',
      status: 'done',
      message: plan.old.length === 0
        ? `first deploy of ${req.service} (project ${project.project}): starting 1 container`
        : `${req.service} (project ${project.project}): replacing ${plan.old.map((c) => c.name).join(', ')}`,
      old: plan.old.map((c) => c.name)
    })
    for (const c of plan.removeFirst) {
      await removeContainer(docker, c.id)
      progress.emit({ step: 'plan', status: 'info', message: `removed exited container ${c.name} (replaced, not restarted)` })
    }

    progress.emit({ step: 'scale', status: 'start', message: `${project.binary.join(' ')} up --no-recreate --scale ${req.service}=${plan.scaleTo}` })
    const oldIds = new Set(plan.old.map((c) => c.id))
    let candidates: ServiceContainer[] = []
    try {
      await composeUpScaled(project, req.service, plan.scaleTo)
      candidates = (await listServiceContainers(docker, project.project, req.service)).filter((c) => !oldIds.has(c.id))
      if (candidates.length < plan.replicas) {
        throw new DeployFailedError(`compose started ${candidates.length} new container(s), expected ${plan.replicas}`)
      }
      progress.emit({ step: 'scale', status: 'done', message: `started ${candidates.map((c) => c.name).join(', ')}`, new: candidates.map((c) => c.name) })
      await awaitAdmission(deps, candidates, req.timeoutMs)
    } catch (err) {
      if (candidates.length === 0) candidates = (await listServiceContainers(docker, project.project, req.service)).filter((c) => !oldIds.has(c.id))
      if (candidates.length > 0) await rollback(deps, candidates)
      throw err
    }

    await drainAndRetire(deps, plan.old, req.drainTimeoutMs)
    const durationMs = Date.now() - started
    progress.emit({ step: 'done', status: 'done', message: `deployed ${req.service}: ${candidates.map((c) => c.name).join(', ')} serving`, durationMs })
    return { service: req.service, old: plan.old.map((c) => c.name), new: candidates.map((c) => c.name), durationMs }
  })
}
