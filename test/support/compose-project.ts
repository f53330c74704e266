// A compose project for a Docker test: its own directory and compose.yml, a project name, a free
// loopback port for the proxy service to publish, `docker compose -f file -p name` bound to both,
// brought up at once and taken down (volumes and orphans too) when the test ends.
import { execFile } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { Test } from 'tap'
import { docker, dockerSocketGid } from './docker.ts'
import { PROXY_IMAGE, TEST_APP_IMAGE, TEST_LABEL } from './images.ts'
import { freePort } from './ports.ts'
import { findComposeBinary } from '../../src/deploy/compose.ts'

const execFileP = promisify(execFile)

export interface RunResult { code: number, stdout: string, stderr: string }

export interface ComposeProject {
  dir: string
  file: string
  name: string
  /** Free on 127.0.0.1 when the project was made; for a proxy service to publish. */
  port: number
  /** `docker compose -f file -p name ARGS` in dir; rejects with compose's stderr on a non-zero exit. */
  compose: (env: Record<string, string>, ...args: string[]) => Promise<string>
  /** A command in dir, its exit code and output (never rejects on a non-zero exit). */
  run: (cmd: string, args: string[], env: Record<string, string>) => Promise<RunResult>
  /** The running containers of one of its services: id, name and APP_VERSION. */
  containers: (service: string) => Promise<Array<{ id: string, name: string, version: string }>>
}

export interface ComposeProjectOptions {
  /** mkdtemp prefix of the project's directory, e.g. 'pxt-deploy-'. */
  prefix: string
  /** The compose project name (-p). */
  name: string
  /** The whole compose.yml, given the port the proxy service may publish. */
  yaml: (port: number) => string
}

/** Writes the project's compose.yml, registers its `down` on t and runs `up -d`. */
export async function composeProject (t: Test, opts: ComposeProjectOptions): Promise<ComposeProject> {
  const bin = await findComposeBinary()
  const dir = mkdtempSync(join(tmpdir(), opts.prefix))
  const file = join(dir, 'compose.yml')
  const port = await freePort()
  const { name } = opts
  writeFileSync(file, opts.yaml(port))
  const run = async (cmd: string, args: string[], env: Record<string, string>): Promise<RunResult> => {
    try {
      const { stdout, stderr } = await execFileP(cmd, args, { cwd: dir, env: { ...process.env, ...env }, maxBuffer: 16 * 1024 * 1024 })
      return { code: 0, stdout, stderr }
    } catch (err) {
      const e = err as { code?: number, stdout?: string, stderr?: string }
      return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' }
    }
  }
  const compose = async (env: Record<string, string>, ...args: string[]): Promise<string> => {
    const r = await run(bin[0]!, [...bin.slice(1), '-f', file, '-p', name, ...args], env)
    if (r.code !== 0) throw new Error(`compose ${args.join(' ')}: ${r.stderr}`)
    return r.stdout
  }
  t.teardown(async () => { await compose({}, 'down', '-v', '--remove-orphans').catch(() => {}) })
  await compose({}, 'up', '-d')
  const containers = async (service: string): Promise<Array<{ id: string, name: string, version: string }>> => {
    const ids = (await docker('ps', '-q', '--filter', `label=com.docker.compose.project=${name}`, '--filter', `label=com.docker.compose.service=${service}`)).split('\n').filter(Boolean)
    return await Promise.all(ids.map(async (id) => {
      const [cname, env] = (await docker('inspect', '-f', '{{.Name}}|{{json .Config.Env}}', id)).split('|')
      const version = (JSON.parse(env!) as string[]).find((e) => e.startsWith('APP_VERSION='))?.slice(12) ?? ''
      return { id, name: cname!.slice(1), version }
    }))
  }
  return { dir, file, name, port, compose, run, containers }
}

// Values as YAML: a bare number quoted (compose wants strings), anything else (a host, a
// ${VAR:-default}) as it is.
const environmentYaml = (env: Record<string, string>): string => Object.keys(env).length === 0
  ? ''
  : `    environment:\n${Object.entries(env).map(([k, v]) => `      ${k}: ${/^\d+$/.test(v) ? `"${v}"` : v}\n`).join('')}`

/**
 * The proxy image as the `proxy` service (two-space indented, under `services:`): port on
 * 127.0.0.1, the Docker socket read-only with its group, the test label; env as `environment:`.
 */
export function proxyServiceYaml ({ port, env = {} }: { port: number, env?: Record<string, string> }): string {
  return `  proxy:
    image: ${PROXY_IMAGE}
    ports:
      - "127.0.0.1:${port}:80"
${environmentYaml(env)}    volumes:
      - /var/run/docker.sock:/tmp/docker.sock:ro
    group_add: ["${dockerSocketGid()}"]
    labels:
      ${TEST_LABEL}: "1"
`
}

/** The test app as service `name` on port 3000 with the test label and a 500 ms health check on /hc. */
export function appServiceYaml (name: string, env: Record<string, string>): string {
  return `  ${name}:
    image: ${TEST_APP_IMAGE}
${environmentYaml(env)}    expose:
      - "3000"
    labels:
      ${TEST_LABEL}: "1"
      proxyctl.health.path: /hc
      proxyctl.health.interval: 500ms
`
}
