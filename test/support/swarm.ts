import { execFile, spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import type { Test } from 'tap'
import { TEST_APP_IMAGE } from './images.ts'

const execFileP = promisify(execFile)
const root = fileURLToPath(new URL('../..', import.meta.url))

/** A swarm manager from scripts/swarm.sh: a Docker engine of its own, in a container on the test engine. */
export interface SwarmNode {
  /** DOCKER_HOST of the node's engine. */
  host: string
  /** The node's port 8080, published on 127.0.0.1 of this machine. */
  port: number
  /** The node container's address on this machine's docker0 bridge: its other published ports are reached there. */
  address: string
  /** `docker` against the node's engine. */
  docker: (...args: string[]) => Promise<string>
}

/** Test app image tags with APP_VERSION baked in (a service update changes the image, not the env). */
export const SWARM_APP_V1 = 'proxyctl-test-app:swarm-v1'
export const SWARM_APP_V2 = 'proxyctl-test-app:swarm-v2'

/**
 * `scripts/swarm.sh init`, and `leave` in teardown (also when init failed half-way; one fixed node
 * name, so init also removes what a killed run left). A swarm that
 * cannot be initialised fails the test in CI and skips it elsewhere. Run under the Docker flock.
 */
export async function startSwarm (t: Test, nodeName = 'pxt-swarm-test'): Promise<SwarmNode | undefined> {
  t.teardown(() => { spawnSync('bash', [`${root}/scripts/swarm.sh`, 'leave', nodeName], { stdio: 'ignore', timeout: 120_000 }) })
  const r = spawnSync('bash', [`${root}/scripts/swarm.sh`, 'init', nodeName], { encoding: 'utf8', timeout: 180_000 })
  if (r.status !== 0) {
    const why = `scripts/swarm.sh init failed (${r.status ?? r.signal}): ${(r.stderr ?? '').trim().split('\n').slice(-5).join(' | ')}`
    if (process.env.CI === 'true' || process.env.CI === '1') t.fail(why)
    else t.plan(0, why)
    return undefined
  }
  const out = Object.fromEntries(r.stdout.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]))
  const host = out.host ?? ''
  const docker = async (...args: string[]): Promise<string> => {
    const { stdout } = await execFileP('docker', args, { env: { ...process.env, DOCKER_HOST: host }, maxBuffer: 16 * 1024 * 1024 })
    return stdout.trim()
  }
  await buildAppTags(host)
  return { host, port: Number(out.port), address: out.address ?? '', docker }
}

/**
 * `scripts/swarm.sh join`: a second node (a worker, named `nodeName`, which is also its
 * `node.hostname`) in the swarm of `managerName`, with the test images; removed in teardown.
 */
export async function joinSwarm (t: Test, managerName = 'pxt-swarm-test', nodeName = 'pxt-swarm-test-w'): Promise<SwarmNode & { hostname: string }> {
  t.teardown(() => { spawnSync('bash', [`${root}/scripts/swarm.sh`, 'leave', nodeName], { stdio: 'ignore', timeout: 120_000 }) })
  const { stdout } = await execFileP('bash', [`${root}/scripts/swarm.sh`, 'join', nodeName, managerName], { timeout: 180_000 })
  const out = Object.fromEntries(stdout.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]))
  const host = out.host ?? ''
  await buildAppTags(host)
  const docker = async (...args: string[]): Promise<string> => {
    const { stdout } = await execFileP('docker', args, { env: { ...process.env, DOCKER_HOST: host }, maxBuffer: 16 * 1024 * 1024 })
    return stdout.trim()
  }
  return { host, port: NaN, address: out.address ?? '', docker, hostname: out.hostname ?? nodeName }
}

async function buildAppTags (host: string): Promise<void> {
  for (const [tag, version] of [[SWARM_APP_V1, 'v1'], [SWARM_APP_V2, 'v2']] as const) {
    await execFileP('sh', ['-c', `printf 'FROM ${TEST_APP_IMAGE}\\nENV APP_VERSION=${version}\\n' | docker build -q -t ${tag} -`], { env: { ...process.env, DOCKER_HOST: host } })
  }
}

const HEALTH_CMD = 'node -e "fetch(\'http://127.0.0.1:3000/hc\').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"'

/**
 * `docker service create` arguments for a test-app service on `network`: the app contract in its
 * env (VIRTUAL_HOST `host` unless env names another), a HEALTHCHECK, start-first updates one task at a time.
 */
export function appServiceArgs (network: string, host: string) {
  return (name: string, image: string, env: Record<string, string>, replicas: number, extra: string[] = []): string[] => [
    'service', 'create', '-d', '--name', name, '--network', network, '--replicas', String(replicas), '--no-resolve-image',
    '--health-cmd', HEALTH_CMD, '--health-interval', '1s', '--health-timeout', '2s', '--health-retries', '2',
    '--update-order', 'start-first', '--update-parallelism', '1', '--update-delay', '0s', '--stop-grace-period', '10s',
    ...Object.entries({ VIRTUAL_HOST: host, VIRTUAL_PORT: '3000', ...env }).flatMap(([k, v]) => ['-e', `${k}=${v}`]),
    ...extra, image
  ]
}
