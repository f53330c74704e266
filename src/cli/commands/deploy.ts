import type Docker from 'dockerode'
import { connectAdmin, type AdminClient } from '../../admin/client/admin-client.js'
import { deployComposeService } from '../../deploy/compose-deploy.js'
import { deployContainer } from '../../deploy/container-deploy.js'
import { Progress } from '../../deploy/progress.js'
import { deploySwarmService } from '../../deploy/swarm-deploy.js'
import { connectDocker, pingDocker } from '../../docker/dockerode-client.js'
import type { DeployCommand } from '../args.js'
import { exitCodeFor } from '../exit-codes.js'

export async function deploy (cmd: DeployCommand): Promise<number> {
  if (cmd.service === undefined && cmd.container === undefined) return await (await import('./deploy-stack.js')).deployStack(cmd)
  const progress = new Progress(cmd.json)
  const endpoint = connectDocker()
  await pingDocker(endpoint)
  const docker: Docker = endpoint.docker
  const admin = await connectAdmin({ adminSocket: cmd.adminSocket, proxy: cmd.proxy, docker: () => docker })
  const history = await reportToHistory(admin, progress, cmd.service ?? cmd.container ?? '?')
  try {
    const timeouts = { timeoutMs: cmd.timeoutMs, drainTimeoutMs: cmd.drainTimeoutMs, rollout: cmd.rollout }
    if (cmd.swarm) {
      await deploySwarmService({ service: cmd.service ?? '', image: cmd.image, stackFile: cmd.composeFile, stack: cmd.project, ...timeouts }, { docker, admin, progress })
    } else if (cmd.container !== undefined && cmd.image !== undefined) {
      await deployContainer({ container: cmd.container, image: cmd.image, ...timeouts }, { docker, admin, progress })
    } else {
      await deployComposeService({ service: cmd.service ?? '', composeFile: cmd.composeFile, project: cmd.project, ...timeouts }, { docker, admin, progress })
    }
    await history.finished('succeeded')
    return 0
  } catch (err) {
    const e = err as { code?: string, message?: string }
    await history.finished('failed', e.message)
    if (cmd.json) progress.emit({ step: 'failed', status: 'failed', message: e.message ?? String(err), code: e.code })
    else process.stderr.write(`proxyctl: deploy failed after ${(progress.elapsedMs / 1000).toFixed(1)}s: ${e.message ?? String(err)}${e.code !== undefined ? ` [${e.code}]` : ''}\n`)
    return exitCodeFor(err)
  } finally {
    await admin.close()
  }
}

/** The proxy keeps the rollout history: forward every step to it, in order, never failing the deploy. */
export async function reportToHistory (admin: AdminClient, progress: Progress, service: string): Promise<{ finished: (outcome: 'succeeded' | 'failed', error?: string) => Promise<void> }> {
  const record = await admin.deployStarted(service).catch(() => undefined)
  if (record === undefined) return { finished: async () => {} }
  let chain = Promise.resolve()
  let closed = false
  progress.onEvent((e) => {
    // After finished() (--json's `failed` line): the admin client is closing, and a request now
    // would open a new exec session that nothing closes, holding the CLI's exit.
    if (closed) return
    const names = (v: unknown): string[] | undefined => Array.isArray(v) ? v.map(String) : undefined
    chain = chain.then(async () => {
      await admin.deployStepped(record.id, { step: e.step, status: e.status, message: e.message, old: names(e.old), new: names(e.new) })
    }).catch(() => {})
  })
  return {
    finished: async (outcome, error) => {
      closed = true
      await chain
      await admin.deployFinished(record.id, outcome, error).catch(() => {})
    }
  }
}
