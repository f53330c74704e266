import type Docker from 'dockerode'
import { DeployFailedError, InvalidOptionError } from '../errors.js'
import type { DeployResult } from './compose-deploy.js'
import { awaitAdmission, drainAndRetire, rollback, withDeployLock, type DeployDeps, type Timeouts } from './deployer.js'
import { removeContainer } from './docker-ops.js'

export interface ContainerDeployRequest extends Timeouts {
  container: string
  image: string
}

/** For a container compose does not manage: the same config with a new image, then the same steps. */
export async function deployContainer (req: ContainerDeployRequest, deps: DeployDeps): Promise<DeployResult> {
  const started = Date.now()
  const { docker, progress } = deps
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
  return await withDeployLock(deps.admin, `container:${oldName}`, async () => {
    const running = old.State?.Running === true
    const newName = `${oldName}-${Date.now().toString(36)}`
    progress.emit({ step: 'plan', status: 'done', message: `${oldName}: ${old.Config.Image} -> ${req.image}${running ? '' : ' (old container is not running)'}`, old: [oldName] })
    const oldImage = await docker.getImage(old.Image).inspect().catch(() => undefined)
    // Keep Cmd/Entrypoint only where the user overrode the old image's defaults.
    const same = (a: unknown, b: unknown): boolean => JSON.stringify(a ?? null) === JSON.stringify(b ?? null)
    const networks = Object.entries(old.NetworkSettings?.Networks ?? {})
    const [firstNet, ...otherNets] = networks
    progress.emit({ step: 'scale', status: 'start', message: `starting ${newName} from ${req.image}` })
    let created: Docker.Container | undefined
    try {
      created = await docker.createContainer({
        name: newName,
        Image: req.image,
        Env: old.Config.Env,
        Labels: old.Config.Labels,
        ExposedPorts: old.Config.ExposedPorts,
        ...(same(old.Config.Cmd, oldImage?.Config?.Cmd) ? {} : { Cmd: old.Config.Cmd }),
        ...(same(old.Config.Entrypoint, oldImage?.Config?.Entrypoint) ? {} : { Entrypoint: old.Config.Entrypoint as string[] }),
        WorkingDir: same(old.Config.WorkingDir, oldImage?.Config?.WorkingDir) ? undefined : old.Config.WorkingDir,
        User: same(old.Config.User, oldImage?.Config?.User) ? undefined : old.Config.User,
        HostConfig: { ...old.HostConfig, PortBindings: {} },
        NetworkingConfig: firstNet === undefined ? undefined : { EndpointsConfig: { [firstNet[0]]: { Aliases: firstNet[1].Aliases ?? undefined } } }
      })
      for (const [name, n] of otherNets) await docker.getNetwork(name).connect({ Container: created.id, EndpointConfig: { Aliases: n.Aliases ?? undefined } })
      await created.start()
      progress.emit({ step: 'scale', status: 'done', message: `started ${newName}`, new: [newName] })
      await awaitAdmission(deps, [{ id: created.id, name: newName, running: true }], req.timeoutMs)
    } catch (err) {
      if (created !== undefined) await rollback(deps, [{ id: created.id, name: newName, running: true }])
      if (err instanceof Error && 'code' in err) throw err
      throw new DeployFailedError(`starting ${newName} failed: ${(err as Error).message}`, err)
    }
    await drainAndRetire(deps, running ? [{ id: old.Id, name: oldName, running }] : [], req.drainTimeoutMs)
    if (!running) await removeContainer(docker, old.Id)
    await created.rename({ name: oldName })
    const durationMs = Date.now() - started
    progress.emit({ step: 'done', status: 'done', message: `deployed ${oldName} with ${req.image}`, durationMs })
    return { service: oldName, old: [oldName], new: [oldName], durationMs }
  })
}
