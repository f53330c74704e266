import { connectAdmin } from '../../admin/client/admin-client.js'
import { deployComposeService } from '../../deploy/compose-deploy.js'
import { Progress } from '../../deploy/progress.js'
import { planStackDeploy, runStackDeploy, type StackDeployPlan } from '../../deploy/stack-deploy.js'
import { withDeployLock } from '../../deploy/steps.js'
import { connectDocker, pingDocker } from '../../docker/dockerode-client.js'
import type { DeployCommand } from '../args.js'
import { exitCodeFor } from '../exit-codes.js'
import { reportToHistory } from './deploy.js'

/** `proxyctl deploy -f FILE` without a service: the whole stack, service by service. */
export async function deployStack (cmd: DeployCommand): Promise<number> {
  const progress = new Progress(cmd.json)
  const endpoint = connectDocker()
  await pingDocker(endpoint)
  const docker = endpoint.docker
  let plan: StackDeployPlan
  try {
    plan = await planStackDeploy({ composeFile: cmd.composeFile, project: cmd.project }, docker)
  } catch (err) {
    return failed(cmd, progress, err, undefined)
  }
  if (plan.deploy.length === 0) {
    // Nothing to roll out: the proxy is not needed, so a stack without one can be checked too.
    await runStackDeploy(plan, progress, async () => { throw new Error('nothing to deploy') })
    return 0
  }
  const admin = await connectAdmin({ adminSocket: cmd.adminSocket, proxy: cmd.proxy, docker: () => docker })
  try {
    // --verify / --canary apply to each service in turn: the next starts only once this one is promoted.
    const timeouts = { timeoutMs: cmd.timeoutMs, drainTimeoutMs: cmd.drainTimeoutMs, rollout: cmd.rollout }
    // One stack deploy per project at a time; each service also takes its own lease, as `deploy SERVICE` does.
    const result = await withDeployLock(admin, `compose:${plan.compose.project}/*`, async () => await runStackDeploy(plan, progress, async (service, child) => {
      const history = await reportToHistory(admin, child, service)
      try {
        const r = await deployComposeService({ service, composeFile: plan.compose.file, project: plan.compose.project, ...timeouts }, { docker, admin, progress: child })
        await history.finished('succeeded')
        return r
      } catch (err) {
        await history.finished('failed', (err as Error).message)
        throw err
      }
    }))
    if (result.error !== undefined) {
      const failedService = result.services.find((s) => s.outcome === 'failed')?.service
      return failed(cmd, progress, result.error, failedService)
    }
    return 0
  } catch (err) {
    return failed(cmd, progress, err, undefined)
  } finally {
    await admin.close()
  }
}

function failed (cmd: DeployCommand, progress: Progress, err: unknown, service: string | undefined): number {
  const e = err as { code?: string, message?: string }
  const what = service === undefined ? 'stack deploy' : `deploy of ${service}`
  if (cmd.json) progress.emit({ step: 'failed', status: 'failed', message: e.message ?? String(err), code: e.code, ...(service === undefined ? {} : { service }) })
  else process.stderr.write(`proxyctl: ${what} failed after ${(progress.elapsedMs / 1000).toFixed(1)}s: ${e.message ?? String(err)}${e.code !== undefined ? ` [${e.code}]` : ''}\n`)
  return exitCodeFor(err)
}
