import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { basename, dirname, resolve } from 'node:path'
import { promisify } from 'node:util'
import { DeployFailedError, InvalidOptionError } from '../errors.js'

const execFileP = promisify(execFile)

/** Compose labels on containers it creates (v1 and v2 alike). */
export const COMPOSE_PROJECT_LABEL = 'com.docker.compose.project'
export const COMPOSE_SERVICE_LABEL = 'com.docker.compose.service'
export const COMPOSE_ONEOFF_LABEL = 'com.docker.compose.oneoff'

const DEFAULT_FILES = ['compose.yaml', 'compose.yml', 'docker-compose.yaml', 'docker-compose.yml']

export interface ComposeProject {
  binary: string[]
  file: string
  project: string
}

/** `docker compose` where present, else `docker-compose`. */
export async function findComposeBinary (): Promise<string[]> {
  try {
    await execFileP('docker', ['compose', 'version'], { timeout: 15_000 })
    return ['docker', 'compose']
  } catch {}
  try {
    await execFileP('docker-compose', ['version'], { timeout: 15_000 })
    return ['docker-compose']
  } catch {}
  throw new DeployFailedError('neither "docker compose" nor "docker-compose" is installed')
}

export function resolveComposeFile (file: string | undefined, cwd: string = process.cwd()): string {
  if (file !== undefined) {
    const abs = resolve(cwd, file)
    if (!existsSync(abs)) throw new InvalidOptionError(`compose file ${abs} does not exist`)
    return abs
  }
  const found = DEFAULT_FILES.map((f) => resolve(cwd, f)).find((f) => existsSync(f))
  if (found === undefined) throw new InvalidOptionError(`no compose file given (-f) and none of ${DEFAULT_FILES.join(', ')} in ${cwd}`)
  return found
}

/** Compose's own rule: -p, else COMPOSE_PROJECT_NAME, else the compose file's directory name. */
export function projectName (file: string, explicit: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const raw = explicit ?? (env.COMPOSE_PROJECT_NAME !== undefined && env.COMPOSE_PROJECT_NAME !== '' ? env.COMPOSE_PROJECT_NAME : basename(dirname(file)))
  const name = raw.toLowerCase().replace(/[^a-z0-9_-]/g, '')
  if (name === '') throw new InvalidOptionError(`cannot derive a compose project name from "${raw}"; pass -p`)
  return name
}

export async function composeUpScaled (p: ComposeProject, service: string, replicas: number): Promise<void> {
  const args = [...p.binary.slice(1), '-f', p.file, '-p', p.project, 'up', '-d', '--no-deps', '--no-recreate', '--scale', `${service}=${replicas}`, service]
  try {
    await execFileP(p.binary[0]!, args, { maxBuffer: 16 * 1024 * 1024, timeout: 10 * 60_000 })
  } catch (err) {
    const e = err as { stderr?: string, message: string }
    throw new DeployFailedError(`${p.binary.join(' ')} up failed: ${(e.stderr ?? e.message).trim().split('\n').slice(-5).join('\n')}`, err)
  }
}

/** Validates the file and that it defines `service` (compose's own parser, so every syntax works). */
export async function composeServices (p: ComposeProject): Promise<string[]> {
  try {
    const { stdout } = await execFileP(p.binary[0]!, [...p.binary.slice(1), '-f', p.file, '-p', p.project, 'config', '--services'], { timeout: 60_000 })
    return stdout.split('\n').map((s) => s.trim()).filter((s) => s !== '')
  } catch (err) {
    const e = err as { stderr?: string, message: string }
    throw new InvalidOptionError(`compose file ${p.file} is not valid: ${(e.stderr ?? e.message).trim().split('\n').slice(-3).join(' ')}`)
  }
}
