import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import type Docker from 'dockerode'
import { parse as parseYaml } from 'yaml'
import { DeployFailedError, InvalidOptionError } from '../errors.js'
import { COMPOSE_ONEOFF_LABEL, COMPOSE_PROJECT_LABEL, COMPOSE_SERVICE_LABEL, findComposeBinary, projectName, resolveComposeFile, type ComposeProject } from './compose.js'
import type { DeployResult } from './sequencer.js'
import type { Progress } from './progress.js'
import { parseConfigHashes, planStack, servicesFromConfig, type StackPlan } from './stack-plan.js'

// `proxyctl deploy -f compose.yml` without a service: every proxied service whose config changed,
// one at a time, dependencies first, each through the one deploy sequencer.

const execFileP = promisify(execFile)

export const COMPOSE_CONFIG_HASH_LABEL = 'com.docker.compose.config-hash'

export interface StackRequest {
  composeFile: string | undefined
  project: string | undefined
}

export interface StackDeployPlan extends StackPlan {
  compose: ComposeProject
}

export type ServiceOutcome =
  | { service: string, outcome: 'deployed', reason: string, durationMs: number, old: string[], new: string[] }
  | { service: string, outcome: 'failed', reason: string, error: string, code: string | undefined }
  | { service: string, outcome: 'not started' | 'unchanged' | 'left to compose' | 'inactive', reason?: string }

export interface StackResult {
  services: ServiceOutcome[]
  /** The failure that stopped the sequence, if one did. */
  error: unknown
}

/**
 * Reads the stack through compose itself (`config` for the resolved file, `config --hash '*'` for
 * the hash it labels containers with) and compares it with the running containers' labels. In v1
 * both come from one function (checked on 1.29.2); v2 releases have had mismatches (env_file from
 * 2.22 until docker/compose#14002), which only make a service redeploy, never skip. Everything is
 * validated here, before anything starts.
 */
export async function planStackDeploy (req: StackRequest, docker: Docker): Promise<StackDeployPlan> {
  const file = resolveComposeFile(req.composeFile)
  const project = projectName(file, req.project)
  const binary = await findComposeBinary()
  const compose: ComposeProject = { binary, file, project }
  const [configText, hashText, running] = await Promise.all([
    runCompose(compose, ['config']),
    runCompose(compose, ['config', '--hash', '*']),
    runningHashes(docker, project)
  ])
  let doc: unknown
  try {
    doc = parseYaml(configText)
  } catch (err) {
    throw new DeployFailedError(`cannot read ${binary.join(' ')} config output: ${(err as Error).message}`, err)
  }
  const services = servicesFromConfig(doc)
  let hashes = parseConfigHashes(hashText)
  if (hashes.size === 0) {
    // Compose v2.23.0 prints nothing for `--hash '*'` (docker/compose#11145); naming the services works.
    const named = services.filter((s) => s.profiles.length === 0).map((s) => s.name)
    if (named.length > 0) hashes = parseConfigHashes(await runCompose(compose, ['config', '--hash', named.join(',')]))
  }
  return { ...planStack(services, hashes, running), compose }
}

/**
 * Deploys `plan.deploy` in order with `deployOne`; the first failure stops the sequence and the
 * services before it stay deployed. Never throws for a service's failure: it is in the result.
 */
export async function runStackDeploy (plan: StackDeployPlan, progress: Progress, deployOne: (service: string, progress: Progress) => Promise<DeployResult>): Promise<StackResult> {
  const outcomes = new Map<string, ServiceOutcome>()
  for (const service of plan.unchanged) outcomes.set(service, { service, outcome: 'unchanged', reason: 'running containers carry the file\'s config hash' })
  for (const service of plan.leftToCompose) outcomes.set(service, { service, outcome: 'left to compose', reason: 'no VIRTUAL_HOST' })
  for (const service of plan.inactive) outcomes.set(service, { service, outcome: 'inactive', reason: 'not in an active profile' })
  const list = (names: string[]): string => names.length === 0 ? 'none' : names.join(', ')
  progress.emit({
    step: 'stack',
    status: 'info',
    message: `project ${plan.compose.project}: ${plan.deploy.length === 0 ? 'nothing to deploy' : `deploying ${plan.deploy.map((d) => d.service).join(', ')} in this order`}; unchanged: ${list(plan.unchanged)}; left to compose (no VIRTUAL_HOST): ${list(plan.leftToCompose)}${plan.inactive.length > 0 ? `; not in an active profile: ${list(plan.inactive)}` : ''}`,
    order: plan.deploy.map((d) => d.service),
    unchanged: plan.unchanged,
    leftToCompose: plan.leftToCompose,
    inactive: plan.inactive
  })
  let error: unknown
  for (const [i, { service, reason }] of plan.deploy.entries()) {
    if (error !== undefined) {
      outcomes.set(service, { service, outcome: 'not started', reason: 'an earlier service failed' })
      continue
    }
    progress.emit({ step: 'stack', status: 'start', message: `${service} (${i + 1}/${plan.deploy.length}): ${reason}`, service })
    try {
      const r = await deployOne(service, progress.child({ service }))
      outcomes.set(service, { service, outcome: 'deployed', reason, durationMs: r.durationMs, old: r.old, new: r.new })
    } catch (err) {
      error = err
      const e = err as { message?: string, code?: unknown }
      outcomes.set(service, { service, outcome: 'failed', reason, error: e.message ?? String(err), code: typeof e.code === 'string' ? e.code : undefined })
    }
  }
  const services = [...plan.deploy.map((d) => d.service), ...plan.unchanged, ...plan.leftToCompose, ...plan.inactive].map((s) => outcomes.get(s)!)
  const by = (o: ServiceOutcome['outcome']): string[] => services.filter((s) => s.outcome === o).map((s) => s.service)
  const deployed = by('deployed')
  progress.emit({
    step: 'stack',
    status: error === undefined ? 'done' : 'failed',
    message: error === undefined
      ? `${deployed.length === 0 ? 'nothing deployed' : `deployed ${deployed.join(', ')}`}; unchanged: ${list(plan.unchanged)}; left to compose: ${list(plan.leftToCompose)}`
      : `${by('failed').join(', ')} failed; deployed before it (still serving): ${list(deployed)}; not started: ${list(by('not started'))}`,
    services
  })
  return { services, error }
}

async function runCompose (p: ComposeProject, args: string[]): Promise<string> {
  try {
    const { stdout } = await execFileP(p.binary[0]!, [...p.binary.slice(1), '-f', p.file, '-p', p.project, ...args], { maxBuffer: 16 * 1024 * 1024, timeout: 60_000 })
    return stdout
  } catch (err) {
    const said = ((err as { stderr?: string }).stderr ?? (err as Error).message).trim()
    // Compose reads nothing but the file here: whatever it refuses is the file's fault.
    throw new InvalidOptionError(`${p.binary.join(' ')} ${args.join(' ')} rejected ${p.file}: ${said.split('\n').slice(-3).join(' ')}`)
  }
}

/** Each running container's config-hash label, by compose service (one-off `run` containers excluded). */
async function runningHashes (docker: Docker, project: string): Promise<Map<string, string[]>> {
  const list = await docker.listContainers({ filters: { label: [`${COMPOSE_PROJECT_LABEL}=${project}`], status: ['running'] } })
  const hashes = new Map<string, string[]>()
  for (const c of list) {
    const service = c.Labels[COMPOSE_SERVICE_LABEL]
    if (service === undefined || c.Labels[COMPOSE_ONEOFF_LABEL] === 'True') continue
    hashes.set(service, [...(hashes.get(service) ?? []), c.Labels[COMPOSE_CONFIG_HASH_LABEL] ?? ''])
  }
  return hashes
}
