import { DeployFailedError } from '../errors.js'
import { composeUpScaled, findComposeBinary, projectName, resolveComposeFile, type ComposeProject } from './compose.js'
import { listServiceContainers, removeContainer } from './docker-ops.js'
import { planDeploy, type DeployPlan, type ServiceContainer } from './plan.js'
import type { RolloutOptions } from './rollout.js'
import { runDeploy, type DeployResult, type DeployStrategy, type StrategyPlan } from './sequencer.js'
import { retireOld, type DeployDeps, type Timeouts } from './steps.js'

export interface ComposeDeployRequest extends Timeouts {
  /** --verify / --canary (rollout.ts); undefined: a plain deploy. */
  rollout?: RolloutOptions | undefined
  service: string
  composeFile: string | undefined
  project: string | undefined
}

type ComposePlan = StrategyPlan & DeployPlan & { project: ComposeProject }

/**
 * The seed recipe, made safe: scale up beside the old containers with the compose file's current
 * config, admit the new ones on health, drain the old ones through the proxy, then remove them.
 * One compose invocation per deploy (`up`): the service name is checked by that same call.
 */
export function composeStrategy (req: ComposeDeployRequest, deps: DeployDeps): DeployStrategy<ComposePlan> {
  const { docker, progress } = deps
  const file = resolveComposeFile(req.composeFile)
  const name = projectName(file, req.project)
  const binary = findComposeBinary()
  binary.catch(() => {}) // awaited in plan(); a failure is reported there
  const newOnes = async (plan: ComposePlan): Promise<ServiceContainer[]> => {
    const oldIds = new Set(plan.old.map((c) => c.id))
    return (await listServiceContainers(docker, name, req.service)).filter((c) => !oldIds.has(c.id))
  }
  return {
    lockKey: `compose:${name}/${req.service}`,
    plan: async () => {
      const [bin, containers] = await Promise.all([binary, listServiceContainers(docker, name, req.service)])
      const plan = planDeploy(containers)
      for (const c of plan.removeFirst) {
        await removeContainer(docker, c.id)
        progress.emit({ step: 'plan', status: 'info', message: `removed exited container ${c.name} (replaced, not restarted)` })
      }
      return {
        ...plan,
        project: { binary: bin, file, project: name },
        message: plan.old.length === 0
          ? `first deploy of ${req.service} (project ${name}): starting 1 container`
          : `${req.service} (project ${name}): replacing ${plan.old.map((c) => c.name).join(', ')}`,
        startMessage: `${bin.join(' ')} up --no-recreate --scale ${req.service}=${plan.scaleTo}`
      }
    },
    startCandidates: async (plan) => {
      await composeUpScaled(plan.project, req.service, plan.scaleTo)
      const candidates = await newOnes(plan)
      if (candidates.length < plan.replicas) {
        throw new DeployFailedError(`compose started ${candidates.length} new container(s), expected ${plan.replicas}`)
      }
      return candidates
    },
    strayCandidates: newOnes,
    retire: async (plan, candidates) => {
      await retireOld(deps, plan.old)
      return {
        service: req.service,
        old: plan.old.map((c) => c.name),
        new: candidates.map((c) => c.name),
        message: `deployed ${req.service}: ${candidates.map((c) => c.name).join(', ')} serving`
      }
    }
  }
}

export async function deployComposeService (req: ComposeDeployRequest, deps: DeployDeps): Promise<DeployResult> {
  return await runDeploy(composeStrategy(req, deps), deps, req, req.rollout)
}
