// `proxyctl deploy` end to end: a compose project with the proxy image and an app, continuous
// load through the published port, the CLI finding the proxy container by its label.
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { appServiceYaml, composeProject, proxyServiceYaml } from '../support/compose-project.ts'
import { docker, requireDocker } from '../support/docker.ts'
import { get } from '../support/http-client.ts'
import { describeFailures, startLoad } from '../support/load.ts'
import { CLI } from '../support/proxy-process.ts'
import { waitFor } from '../support/wait.ts'

interface Deployed {
  code: number
  stdout: string
  stderr: string
  /** From the `done` line reaching stdout to the process's exit; undefined without one. */
  doneToExitMs: number | undefined
  startedAt: number
  exitedAt: number
}

/** `proxyctl deploy` as a user runs it, timing its output: the `done` line and the exit. */
async function runDeploy (dir: string, env: Record<string, string>, args: string[]): Promise<Deployed> {
  const startedAt = Date.now()
  const child = spawn(process.execPath, [CLI, 'deploy', ...args], { cwd: dir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  let doneAt: number | undefined
  child.stdout.setEncoding('utf8').on('data', (c: string) => {
    stdout += c
    if (doneAt === undefined && /"step":"done"|✓ done/.test(stdout)) doneAt = Date.now()
  })
  child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c })
  const code = await new Promise<number>((resolve) => { child.once('close', (c) => { resolve(c ?? 1) }) })
  const exitedAt = Date.now()
  return { code, stdout, stderr, doneToExitMs: doneAt === undefined ? undefined : exitedAt - doneAt, startedAt, exitedAt }
}

/** The `docker exec` calls made in the proxy container between two times (its HEALTHCHECK excluded). */
async function adminExecs (container: string, since: number, until: number): Promise<string[]> {
  const out = await docker('events', '--since', String(since / 1000), '--until', String(until / 1000 + 1), '--filter', `container=${container}`, '--filter', 'event=exec_create', '--format', '{{.Action}}')
  return out.split('\n').map((l) => l.trim()).filter((l) => l.includes('admin-request'))
}

interface Project {
  dir: string
  file: string
  name: string
  port: number
  compose (env: Record<string, string>, ...args: string[]): Promise<string>
  deploy (env: Record<string, string>, ...args: string[]): Promise<Deployed>
  serviceContainers (): Promise<Array<{ id: string, name: string, version: string }>>
}

async function project (t: Test, label: string): Promise<Project> {
  const { dir, file, name, port, compose, containers } = await composeProject(t, {
    prefix: 'pxt-deploy-',
    name: `pxt${label}${process.pid}`,
    yaml: (port) => `services:
${proxyServiceYaml({ port })}${appServiceYaml('app', { VIRTUAL_HOST: 'deploy.test', APP_VERSION: '${APP_VERSION:-v1}', RESPONSE_DELAY_MS: '50', ON_SIGTERM: '${ON_SIGTERM:-exit}', HEALTHY: '${HEALTHY:-true}', VIRTUAL_PORT: '${VIRTUAL_PORT:-3000}', STARTUP_DELAY_MS: '${STARTUP_DELAY_MS:-0}' })}`
  })
  const p: Project = {
    dir,
    file,
    name,
    port,
    compose,
    deploy: async (env, ...args) => await runDeploy(dir, env, args),
    serviceContainers: async () => await containers('app')
  }
  await waitFor(async () => {
    const r = await get(port, 'deploy.test').catch(() => undefined)
    return r?.status === 200
  }, { timeoutMs: 30_000, what: 'v1 through the proxy container' })
  return p
}

if (requireDocker(t)) {
  t.test('proxyctl deploy of an app that exits at once on SIGTERM: 0 failed requests, only v2 afterwards', async (t) => {
    const p = await project(t, 'exit')
    const before = await p.serviceContainers()
    t.equal(before.length, 1)
    const load = startLoad({ port: p.port, host: 'deploy.test' })
    await waitFor(() => load.count() > 200, { what: 'load under way' })
    const r = await p.deploy({ APP_VERSION: 'v2' }, 'app', '-f', p.file, '-p', p.name, '--json')
    const doneAt = r.exitedAt
    t.equal(r.code, 0, `deploy exit code (stderr: ${r.stderr})`)
    const countAtDone = load.count()
    await waitFor(() => load.count() > countAtDone + 50 && Date.now() > doneAt + 1_000, { what: 'requests after the deploy' })
    const result = await load.stop()
    t.equal(result.failures.length, 0, `failed requests: ${describeFailures(result)}`)
    t.ok(result.total > 500, `${result.total} requests during the rollout`)
    const late = result.samples.filter((s) => s.startMs > doneAt)
    t.ok(late.length >= 50, `${late.length} requests started after the deploy exited`)
    t.same([...new Set(late.map((s) => s.version))], ['v2'], 'every response after the deploy comes from v2')
    // The process ends with the work: no socket, timer or child left holding it (it took ~3.7 s).
    t.ok(r.doneToExitMs !== undefined && r.doneToExitMs < 1_000, `exit ${r.doneToExitMs} ms after "done"`)
    // The CLI reached the proxy through one exec for the whole deploy (it was one per request, ~5 a second while admitting).
    const proxyId = await docker('ps', '-q', '--filter', `label=com.docker.compose.project=${p.name}`, '--filter', 'label=com.docker.compose.service=proxy')
    t.same(await adminExecs(proxyId, r.startedAt, r.exitedAt), ['exec_create: proxyctl admin-request --stdio'], 'one admin exec per deploy')
    const after = await p.serviceContainers()
    t.equal(after.length, 1, 'same replica count')
    t.equal(after[0]?.version, 'v2')
    t.not(after[0]?.id, before[0]?.id, 'old container removed')
    const steps = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { step: string, status: string })
    t.same([...new Set(steps.map((s) => s.step))], ['plan', 'scale', 'admit', 'drain', 'retire', 'done'])
    t.same(steps.filter((s) => s.step === 'admit' && s.status === 'info').map((s) => (s as { message?: string }).message), [`${after[0]?.name ?? '?'} is ready`], 'the new container admitted by name')
    t.comment(`deploy: ${result.total} requests, ${result.failures.length} failed, versions ${JSON.stringify(result.byVersion)}`)
  })

  t.test('deploy of a version that never becomes healthy: non-zero exit, 0 failures, old version still serving', async (t) => {
    const p = await project(t, 'sick')
    const before = await p.serviceContainers()
    const load = startLoad({ port: p.port, host: 'deploy.test' })
    await waitFor(() => load.count() > 100, { what: 'load under way' })
    const r = await p.deploy({ APP_VERSION: 'v2', HEALTHY: 'false' }, 'app', '-f', p.file, '-p', p.name, '--timeout', '5s')
    await waitFor(() => load.count() > 0)
    const result = await load.stop()
    t.equal(r.code, 3, 'exit code 3: new containers not ready')
    t.match(r.stderr, /not ready within 5s/)
    t.match(r.stderr, /last check: GET \/hc -> 500/, 'the last health check result is in the reason')
    t.match(r.stderr, /test-app v2/, 'the tail of the new container\'s logs is in the reason')
    t.equal(result.failures.length, 0, `failed requests: ${describeFailures(result)}`)
    t.same(Object.keys(result.byVersion), ['v1'])
    const after = await p.serviceContainers()
    t.same(after.map((c) => c.id), before.map((c) => c.id), 'new container removed, old one untouched')
    t.equal((await get(p.port, 'deploy.test')).headers['x-app-version'], 'v1')
  })

  t.test('bad input: a clear message, a non-zero exit, nothing stopped', async (t) => {
    const p = await project(t, 'bad')
    const before = await p.serviceContainers()
    const missing = await p.deploy({}, 'app', '-f', join(p.dir, 'nope.yml'))
    t.equal(missing.code, 2)
    t.match(missing.stderr, /compose file .*nope\.yml does not exist/)
    const unknown = await p.deploy({}, 'nosuch', '-f', p.file, '-p', p.name)
    t.equal(unknown.code, 2)
    t.match(unknown.stderr, /service "nosuch" is not defined/)
    const invalid = await p.deploy({ VIRTUAL_PORT: 'eighty' }, 'app', '-f', p.file, '-p', p.name, '--timeout', '20s')
    t.equal(invalid.code, 1, 'exit code 1: deploy failed')
    t.match(invalid.stderr, /will not route new container .*VIRTUAL_PORT "eighty"/)
    t.ok(invalid.exitedAt - invalid.startedAt < 15_000, `failed fast, without waiting for the 20 s timeout (${invalid.exitedAt - invalid.startedAt} ms)`)
    const noProxy = await p.deploy({}, 'app', '-f', p.file, '-p', p.name, '--proxy', 'no-such-proxy')
    t.equal(noProxy.code, 5)
    t.match(noProxy.stderr, /proxy container "no-such-proxy" not found/)
    const after = await p.serviceContainers()
    t.same(after.map((c) => c.id), before.map((c) => c.id), 'the running app was not touched')
    t.equal((await get(p.port, 'deploy.test')).status, 200)
  })

  t.test('two deploys of one service at once: the second fails clearly, the first completes', async (t) => {
    const p = await project(t, 'lock')
    const first = p.deploy({ APP_VERSION: 'v2', STARTUP_DELAY_MS: '15000' }, 'app', '-f', p.file, '-p', p.name)
    await waitFor(async () => (await p.serviceContainers()).length === 2, { timeoutMs: 30_000, what: 'the first deploy scaling up' })
    const second = await p.deploy({ APP_VERSION: 'v3' }, 'app', '-f', p.file, '-p', p.name)
    t.equal(second.code, 4, 'exit code 4: another deploy in progress')
    t.match(second.stderr, /compose:.*\/app is being deployed by/)
    const r = await first
    t.equal(r.code, 0, r.stderr)
    t.same((await p.serviceContainers()).map((c) => c.version), ['v2'])
  })

  t.test('proxy container restarted while apps run: its first answer is a 200, not a 503 (README: no 503 at boot for healthy apps)', async (t) => {
    const p = await project(t, 'restart')
    const proxyId = await docker('ps', '-q', '--filter', `label=com.docker.compose.project=${p.name}`, '--filter', 'label=com.docker.compose.service=proxy')
    const startedBefore = await docker('inspect', '-f', '{{.State.StartedAt}}', proxyId)
    // `docker restart` returns once the new process has started: every answer after it comes from
    // the restarted proxy, which must have checked the app before it opened its listener.
    await docker('restart', '-t', '10', proxyId)
    const startedAfter = await docker('inspect', '-f', '{{.State.StartedAt}}', proxyId)
    t.not(startedAfter, startedBefore, 'the proxy process was restarted')
    const answers: number[] = []
    let refused = 0
    await waitFor(async () => {
      try {
        answers.push((await get(p.port, 'deploy.test')).status)
      } catch {
        refused++ // not listening yet
      }
      return answers.length >= 20
    }, { timeoutMs: 60_000, intervalMs: 20, what: '20 answers from the restarted proxy' })
    t.equal(answers[0], 200, `the restarted proxy's first answer (after ${refused} refused connections)`)
    t.same([...new Set(answers)], [200], 'and every answer after it')
  })
}
