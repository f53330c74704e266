import type Docker from 'dockerode'
import { COMPOSE_ONEOFF_LABEL, COMPOSE_PROJECT_LABEL, COMPOSE_SERVICE_LABEL } from './compose.js'
import type { ServiceContainer } from './plan.js'

// The Docker calls a deploy makes, each small and named for what it does.

export async function listServiceContainers (docker: Docker, project: string, service: string): Promise<ServiceContainer[]> {
  const list = await docker.listContainers({
    all: true,
    filters: { label: [`${COMPOSE_PROJECT_LABEL}=${project}`, `${COMPOSE_SERVICE_LABEL}=${service}`] }
  })
  return list
    .filter((c) => c.Labels[COMPOSE_ONEOFF_LABEL] !== 'True')
    .map((c) => ({ id: c.Id, name: (c.Names[0] ?? c.Id).replace(/^\//, ''), running: c.State === 'running' }))
}

export async function removeContainer (docker: Docker, id: string): Promise<void> {
  try {
    await docker.getContainer(id).remove({ force: true })
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode !== 404) throw err
  }
}

/** `docker stop` (SIGTERM, then SIGKILL after the container's stop timeout), then remove. */
export async function stopAndRemove (docker: Docker, id: string): Promise<void> {
  try {
    await docker.getContainer(id).stop()
  } catch (err) {
    const code = (err as { statusCode?: number }).statusCode
    if (code !== 304 && code !== 404) throw err // 304: already stopped
  }
  await removeContainer(docker, id)
}

/** Docker's multiplexed log stream (8-byte frame headers) as text. */
function demuxLogs (buf: Buffer): string {
  const parts: Buffer[] = []
  let i = 0
  while (i + 8 <= buf.length && (buf[i] === 1 || buf[i] === 2) && buf[i + 1] === 0) {
    const len = buf.readUInt32BE(i + 4)
    parts.push(buf.subarray(i + 8, i + 8 + len))
    i += 8 + len
  }
  return i === 0 ? buf.toString('utf8') : Buffer.concat(parts).toString('utf8')
}

export async function logTail (docker: Docker, id: string, lines = 20): Promise<string> {
  try {
    const out = await docker.getContainer(id).logs({ stdout: true, stderr: true, tail: lines, follow: false })
    return demuxLogs(Buffer.isBuffer(out) ? out : Buffer.from(String(out)))
  } catch (err) {
    return `(logs unavailable: ${(err as Error).message})`
  }
}

export interface ContainerFacts {
  id: string
  name: string
  running: boolean
  exitCode: number
  proxied: boolean
  dockerHealth: string | undefined
}

export async function containerFacts (docker: Docker, id: string): Promise<ContainerFacts | undefined> {
  try {
    const i = await docker.getContainer(id).inspect()
    const env = i.Config?.Env ?? []
    const has = (k: string): boolean => env.some((e) => e.startsWith(`${k}=`) && e.length > k.length + 1)
    return {
      id: i.Id,
      name: i.Name.replace(/^\//, ''),
      running: i.State?.Running === true,
      exitCode: i.State?.ExitCode ?? 0,
      proxied: has('VIRTUAL_HOST') || has('VIRTUAL_HOST_MULTIPORTS'),
      dockerHealth: (i.State as { Health?: { Status?: string } } | undefined)?.Health?.Status
    }
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) return undefined
    throw err
  }
}
