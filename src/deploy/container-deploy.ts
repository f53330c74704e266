import type Docker from 'dockerode'
import { DeployFailedError, InvalidOptionError } from '../errors.js'
import { removeContainer } from './docker-ops.js'
import type { ServiceContainer } from './plan.js'
import type { RolloutOptions } from './rollout.js'
import { runDeploy, type DeployResult, type DeployStrategy, type StrategyPlan } from './sequencer.js'
import { retireOld, type DeployDeps, type Timeouts } from './steps.js'

export interface ContainerDeployRequest extends Timeouts {
  /** --verify / --canary (rollout.ts); undefined: a plain deploy. */
  rollout?: RolloutOptions | undefined
  container: string
  image: string
}

type ContainerPlan = StrategyPlan & { newName: string }

/**
 * For a container compose does not manage: the same config with a new image, then the same
 * steps; the new container takes the old one's name at the end. Checks its input before the
 * lease (the old container, its published ports, the image).
 */
export async function containerStrategy (req: ContainerDeployRequest, deps: DeployDeps): Promise<DeployStrategy<ContainerPlan>> {
  const { docker } = deps
  let old: Docker.ContainerInspectInfo
  try {
    old = await docker.getContainer(req.container).inspect()
  } catch (err) {
    throw new InvalidOptionError(`container "${req.container}" not found${(err as { statusCode?: number }).statusCode === 404 ? '' : `: ${(err as Error).message}`}`)
  }
  const oldName = old.Name.replace(/^\//, '')
  if (Object.values(old.HostConfig?.PortBindings ?? {}).some((b) => Array.isArray(b) && b.length > 0)) {
    throw new InvalidOptionError(`${oldName} publishes host ports: a second copy cannot run beside it (let the proxy publish ports instead)`)
  }
  try {
    await docker.getImage(req.image).inspect()
  } catch {
    throw new InvalidOptionError(`image "${req.image}" is not present on this Docker host (build or pull it first)`)
  }
  const running = old.State?.Running === true
  const previous: ServiceContainer = { id: old.Id, name: oldName, running }
  let created: ServiceContainer | undefined

  return {
    lockKey: `container:${oldName}`,
    plan: async () => {
      const newName = `${oldName}-${Date.now().toString(36)}`
      return {
        old: running ? [previous] : [],
        newName,
        message: `${oldName}: ${old.Config.Image} -> ${req.image}${running ? '' : ' (old container is not running)'}`,
        startMessage: `starting ${newName} from ${req.image}`
      }
    },
    startCandidates: async (plan) => {
      try {
        const container = await docker.createContainer(await copyConfig(docker, old, plan.newName, req.image))
        created = { id: container.id, name: plan.newName, running: true }
        const [, ...otherNets] = Object.entries(old.NetworkSettings?.Networks ?? {})
        for (const [name, n] of otherNets) await docker.getNetwork(name).connect({ Container: container.id, EndpointConfig: { Aliases: n.Aliases ?? undefined } })
        await container.start()
        return [created]
      } catch (err) {
        throw new DeployFailedError(`starting ${plan.newName} failed: ${(err as Error).message}`, err)
      }
    },
    strayCandidates: async () => created === undefined ? [] : [created],
    retire: async (plan, candidates) => {
      await retireOld(deps, plan.old)
      if (!running) await removeContainer(docker, old.Id)
      await docker.getContainer(candidates[0]!.id).rename({ name: oldName })
      return { service: oldName, old: [oldName], new: [oldName], message: `deployed ${oldName} with ${req.image}` }
    }
  }
}

/** The old container's config on a new image; Cmd/Entrypoint/WorkingDir/User only where the user overrode the old image's. */
async function copyConfig (docker: Docker, old: Docker.ContainerInspectInfo, name: string, image: string): Promise<Docker.ContainerCreateOptions> {
  const oldImage = await docker.getImage(old.Image).inspect().catch(() => undefined)
  const same = (a: unknown, b: unknown): boolean => JSON.stringify(a ?? null) === JSON.stringify(b ?? null)
  const [firstNet] = Object.entries(old.NetworkSettings?.Networks ?? {})
  return {
    name,
    Image: image,
    Env: old.Config.Env,
    Labels: old.Config.Labels,
    ExposedPorts: old.Config.ExposedPorts,
    ...(same(old.Config.Cmd, oldImage?.Config?.Cmd) ? {} : { Cmd: old.Config.Cmd }),
    ...(same(old.Config.Entrypoint, oldImage?.Config?.Entrypoint) ? {} : { Entrypoint: old.Config.Entrypoint as string[] }),
    WorkingDir: same(old.Config.WorkingDir, oldImage?.Config?.WorkingDir) ? undefined : old.Config.WorkingDir,
    User: same(old.Config.User, oldImage?.Config?.User) ? undefined : old.Config.User,
    HostConfig: { ...old.HostConfig, PortBindings: {} },
    NetworkingConfig: firstNet === undefined ? undefined : { EndpointsConfig: { [firstNet[0]]: { Aliases: firstNet[1].Aliases ?? undefined } } }
  }
}

export async function deployContainer (req: ContainerDeployRequest, deps: DeployDeps): Promise<DeployResult> {
  return await runDeploy(await containerStrategy(req, deps), deps, req, req.rollout)
}
