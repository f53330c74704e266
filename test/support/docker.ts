import { execFile, spawnSync } from 'node:child_process'
import { statSync } from 'node:fs'
import { promisify } from 'node:util'
import type { Test } from 'tap'
import { PROXY_IMAGE, TEST_APP_IMAGE, TEST_LABEL } from './images.ts'

const execFileP = promisify(execFile)

export async function docker (...args: string[]): Promise<string> {
  const { stdout } = await execFileP('docker', args, { maxBuffer: 16 * 1024 * 1024 })
  return stdout.trim()
}

export function dockerAvailable (): boolean {
  return spawnSync('docker', ['info'], { stdio: 'ignore', timeout: 20_000 }).status === 0
}

/** Docker tests run for real: skipped without an engine locally, a failure in CI. */
export function requireDocker (t: Test): boolean {
  if (dockerAvailable()) return true
  if (process.env.CI === 'true' || process.env.CI === '1') t.fail('CI=true but no Docker engine answers')
  else t.plan(0, 'no Docker engine (set PROXYCTL_START_DOCKER=1 or run .ci/run)')
  return false
}

export const DOCKER_SOCKET = '/var/run/docker.sock'

/** The Docker socket's group: the proxy image runs as node (uid 1000) and reads the socket through it (--group-add). */
export function dockerSocketGid (): string {
  return String(statSync(DOCKER_SOCKET).gid)
}

export interface AppOptions {
  name: string
  image?: string
  env?: Record<string, string>
  labels?: Record<string, string>
  network?: string
  expose?: number[]
  /** Remove on teardown of this test (default true). */
  cleanup?: boolean
}

let counter = 0
/** A unique, recognisable container name for this test run. */
export function uniqueName (prefix: string): string {
  return `pxt-${prefix}-${process.pid}-${++counter}`
}

export async function runApp (t: Test, o: AppOptions): Promise<string> {
  const args = ['run', '-d', '--name', o.name, '--label', `${TEST_LABEL}=1`]
  for (const [k, v] of Object.entries(o.env ?? {})) args.push('-e', `${k}=${v}`)
  for (const [k, v] of Object.entries(o.labels ?? {})) args.push('--label', `${k}=${v}`)
  for (const p of o.expose ?? []) args.push('--expose', String(p))
  if (o.network !== undefined) args.push('--network', o.network)
  args.push(o.image ?? TEST_APP_IMAGE)
  const id = await docker(...args)
  if (o.cleanup !== false) t.teardown(async () => { await docker('rm', '-f', id).catch(() => {}) })
  return id
}

export async function createNetwork (t: Test, name: string): Promise<string> {
  const id = await docker('network', 'create', '--label', `${TEST_LABEL}=1`, name)
  t.teardown(async () => { await docker('network', 'rm', name).catch(() => {}) })
  return id
}

export interface ProxyImageOptions {
  /** A network to join, or 'host' for the host's network. */
  network?: string
  /** Host port -> container port, published on 127.0.0.1. */
  publish?: Record<number, number>
  /** Host path -> container path, mounted read-only (beside the Docker socket at /tmp/docker.sock, as nginx-proxy users mount it). */
  mounts?: Record<string, string>
  env?: Record<string, string>
  /** Extra `docker run` arguments (e.g. --user). */
  args?: string[]
}

/** The proxy image run as nginx-proxy users run theirs; removed in teardown. Returns its name. */
export async function runProxyImage (t: Test, o: ProxyImageOptions = {}): Promise<string> {
  const name = uniqueName('edge')
  const args = ['run', '-d', '--name', name, '--label', `${TEST_LABEL}=1`, ...(o.network !== undefined ? ['--network', o.network] : []), ...(o.args ?? [])]
  for (const [host, container] of Object.entries(o.publish ?? {})) args.push('-p', `127.0.0.1:${host}:${container}`)
  args.push('-v', `${DOCKER_SOCKET}:/tmp/docker.sock:ro`)
  for (const [host, container] of Object.entries(o.mounts ?? {})) args.push('-v', `${host}:${container}:ro`)
  for (const [k, v] of Object.entries(o.env ?? {})) args.push('-e', `${k}=${v}`)
  await docker(...args, PROXY_IMAGE)
  t.teardown(async () => { await docker('rm', '-f', name).catch(() => {}) })
  return name
}
