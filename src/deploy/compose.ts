import { execFile } from 'node:child_process'
import { constants, existsSync } from 'node:fs'
import { access } from 'node:fs/promises'
import { basename, delimiter, dirname, join, resolve } from 'node:path'
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

let found: Promise<string[]> | undefined

/**
 * `docker compose` where present, else `docker-compose`; found once per process. The plugin is
 * asked (a Go binary: fast); docker-compose v1 is only looked up on PATH, since starting its
 * Python costs a second or more on a busy host and `up` reports a broken install anyway.
 */
export async function findComposeBinary (env: NodeJS.ProcessEnv = process.env): Promise<string[]> {
  found ??= (async () => {
    try {
      await execFileP('docker', ['compose', 'version', '--short'], { timeout: 15_000 })
      return ['docker', 'compose']
    } catch {}
    if (await onPath('docker-compose', env)) return ['docker-compose']
    throw new DeployFailedError('neither "docker compose" nor "docker-compose" is installed')
  })()
  found.catch(() => { found = undefined })
  return await found
}

async function onPath (command: string, env: NodeJS.ProcessEnv): Promise<boolean> {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue
    try {
      await access(join(dir, command), constants.X_OK)
      return true
    } catch {}
  }
  return false
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

/**
 * `up --scale`: compose parses and validates the file here too, so a service the file does not
 * define (or a file compose cannot read) is bad input, exit code 2, not a failed deploy.
 */
export async function composeUpScaled (p: ComposeProject, service: string, replicas: number): Promise<void> {
  const args = [...p.binary.slice(1), '-f', p.file, '-p', p.project, 'up', '-d', '--no-deps', '--no-recreate', '--scale', `${service}=${replicas}`, service]
  try {
    await execFileP(p.binary[0]!, args, { maxBuffer: 16 * 1024 * 1024, timeout: 10 * 60_000 })
  } catch (err) {
    const e = err as { stderr?: string, message: string }
    const said = (e.stderr ?? e.message).trim()
    if (/no such service/i.test(said)) throw new InvalidOptionError(`service "${service}" is not defined in ${p.file}`)
    if (NOT_A_COMPOSE_FILE.test(said)) throw new InvalidOptionError(`compose file ${p.file} is not valid: ${said.split('\n').slice(-3).join(' ')}`)
    throw new DeployFailedError(`${p.binary.join(' ')} up failed: ${said.split('\n').slice(-5).join('\n')}`, err)
  }
}

/** What compose v1 and v2 say about a file they cannot use (before they create anything). */
const NOT_A_COMPOSE_FILE = /yaml|is invalid|validating .*compose|unsupported config option|additional properties? .*not allowed|services must be a mapping/i
