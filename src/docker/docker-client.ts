import { accessSync, constants, existsSync, readFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { DockerUnavailableError } from '../errors.js'
import { EngineApi } from './engine-api.js'

export const DEFAULT_SOCKET_PATHS = ['/var/run/docker.sock', '/tmp/docker.sock'] as const

/** Where the Docker engine is: a Unix socket, or DOCKER_HOST's tcp:// address. */
export type DockerTarget = { socketPath: string } | { host: string, port: number, protocol: 'http' | 'https' }

export interface DockerLocation {
  target: DockerTarget
  /** Human description for logs and errors: the socket path or DOCKER_HOST. */
  describe: string
}

/**
 * DOCKER_HOST if set, else /var/run/docker.sock, else /tmp/docker.sock (where nginx-proxy users
 * mount it), so an existing compose file works unchanged.
 */
export function locateDocker (env: NodeJS.ProcessEnv = process.env): DockerLocation {
  const dockerHost = env.DOCKER_HOST?.trim()
  if (dockerHost !== undefined && dockerHost !== '') {
    if (dockerHost.startsWith('unix://')) return fromSocket(dockerHost.slice('unix://'.length), [dockerHost])
    const url = new URL(dockerHost.replace(/^tcp:/, 'http:'))
    return { target: { host: url.hostname, port: Number(url.port || 2375), protocol: url.protocol === 'https:' ? 'https' : 'http' }, describe: dockerHost }
  }
  const found = DEFAULT_SOCKET_PATHS.find((p) => existsSync(p))
  if (found === undefined) {
    throw new DockerUnavailableError(`no Docker socket found: DOCKER_HOST is unset and neither ${DEFAULT_SOCKET_PATHS.join(' nor ')} exists (mount the socket, e.g. -v /var/run/docker.sock:/tmp/docker.sock:ro)`)
  }
  return fromSocket(found, [...DEFAULT_SOCKET_PATHS])
}

function fromSocket (path: string, tried: string[]): DockerLocation {
  try {
    accessSync(path, constants.R_OK | constants.W_OK)
  } catch (err) {
    throw new DockerUnavailableError(`Docker socket ${path} is not readable and writable by this user (tried ${tried.join(', ')})`, err)
  }
  return { target: { socketPath: path }, describe: path }
}

/** The proxy's client: the Engine API over undici (see engine-api.ts). */
export function connectEngine (env: NodeJS.ProcessEnv = process.env): { api: EngineApi, describe: string } {
  const { target, describe } = locateDocker(env)
  return { api: new EngineApi('socketPath' in target ? target : { origin: `${target.protocol}://${target.host}:${target.port}` }), describe }
}

/** One ping for either client: an engine that does not answer is a DockerUnavailableError naming it. */
export async function pingOrExplain (describe: string, ping: () => Promise<unknown>): Promise<void> {
  try {
    await ping()
  } catch (err) {
    throw new DockerUnavailableError(`Docker at ${describe} does not answer: ${(err as Error).message}`, err)
  }
}

export async function pingEngine (engine: { api: EngineApi, describe: string }): Promise<void> {
  await pingOrExplain(engine.describe, async () => { await engine.api.ping() })
}

/** When the proxy itself runs in a container: its id (from the env override, cgroup or hostname). */
export function ownContainerIdCandidates (env: NodeJS.ProcessEnv = process.env): string[] {
  if (env.PROXYCTL_CONTAINER_ID !== undefined && env.PROXYCTL_CONTAINER_ID !== '') return [env.PROXYCTL_CONTAINER_ID]
  if (!existsSync('/.dockerenv')) return []
  const candidates: string[] = []
  try {
    const m = /[0-9a-f]{64}/.exec(readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.includes('/containers/') && l.includes('/hostname')) ?? '')
    if (m !== null) candidates.push(m[0])
  } catch {}
  candidates.push(hostname())
  return candidates
}
