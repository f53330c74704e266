import { accessSync, constants, existsSync, readFileSync } from 'node:fs'
import { homedir, hostname } from 'node:os'
import { join } from 'node:path'
import { DockerUnavailableError, InvalidOptionError } from '../errors.js'
import { EngineApi, type EngineApiOptions } from './engine-api.js'

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

/** The proxy's client: the Engine API over undici (see engine-api.ts). `warnings` are for the start log. */
export function connectEngine (env: NodeJS.ProcessEnv = process.env): { api: EngineApi, describe: string, warnings: string[] } {
  const { target, describe } = locateDocker(env)
  const warnings: string[] = []
  const options: EngineApiOptions = { containerFilters: parseContainerFilters(env.DOCKER_CONTAINER_FILTERS) }
  let origin = 'socketPath' in target ? undefined : `${target.protocol}://${target.host}:${target.port}`
  if (tlsVerify(env)) {
    if (origin === undefined) {
      warnings.push(`DOCKER_TLS_VERIFY is for a tcp:// DOCKER_HOST; ${describe} is a Unix socket, used as it is`)
    } else {
      const tls = dockerTlsFiles(env)
      const missing = tls.missing
      if (missing !== undefined) {
        warnings.push(`DOCKER_TLS_VERIFY is set but ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} missing; connecting to ${describe} over TLS without ${missing.length === 1 ? 'it' : 'them'}`)
      }
      options.tls = tls.options
      origin = origin.replace(/^http:/, 'https:')
    }
  }
  return { api: new EngineApi(origin === undefined ? target as { socketPath: string } : { origin }, options), describe, warnings }
}

/**
 * docker-gen's DOCKER_CONTAINER_FILTERS: comma-separated `key=value` filters (Docker's
 * `ps --filter` keys); one key given twice keeps both values, as its -container-filter flag.
 */
export function parseContainerFilters (text: string | undefined): Record<string, string[]> | undefined {
  if (text === undefined || text.trim() === '') return undefined
  const filters: Record<string, string[]> = {}
  for (const raw of text.split(',')) {
    const item = raw.trim()
    if (item === '') continue
    const eq = item.indexOf('=')
    if (eq <= 0) throw new InvalidOptionError(`DOCKER_CONTAINER_FILTERS: ${JSON.stringify(item)} is not key=value`)
    ;(filters[item.slice(0, eq)] ??= []).push(item.slice(eq + 1))
  }
  return filters
}

/** The Docker CLI's rule: any non-empty DOCKER_TLS_VERIFY turns verification on ("0"/"false" too, there); here those two mean off. */
function tlsVerify (env: NodeJS.ProcessEnv): boolean {
  const v = env.DOCKER_TLS_VERIFY?.trim().toLowerCase() ?? ''
  return v !== '' && v !== '0' && v !== 'false'
}

/**
 * ca.pem, cert.pem and key.pem from DOCKER_CERT_PATH (default ~/.docker), as the Docker CLI and
 * docker-gen read them, as undici connect options. The server is verified against ca.pem (else
 * the system CAs); `missing` names the files that could not be read.
 */
export function dockerTlsFiles (env: NodeJS.ProcessEnv): { options: NonNullable<EngineApiOptions['tls']>, missing?: string[] } {
  const dir = env.DOCKER_CERT_PATH?.trim() || join(homedir(), '.docker')
  const options: NonNullable<EngineApiOptions['tls']> = {}
  const missing: string[] = []
  for (const [file, key] of [['ca.pem', 'ca'], ['cert.pem', 'cert'], ['key.pem', 'key']] as const) {
    try {
      options[key] = readFileSync(join(dir, file))
    } catch {
      missing.push(join(dir, file))
    }
  }
  return missing.length === 0 ? { options } : { options, missing }
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
