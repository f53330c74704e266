// `proxyctl deploy -f compose.yml` without a service (issue 13, whole-stack deploys): a compose
// project with the proxy, `frontend` depending on `inventory` (both with VIRTUAL_HOST; named against
// the alphabet, so only depends_on puts inventory first) and `worker` without one, under load on both hosts.
import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { appServiceYaml, composeProject, proxyServiceYaml } from '../support/compose-project.ts'
import { docker, requireDocker } from '../support/docker.ts'
import { get } from '../support/http-client.ts'
import { TEST_APP_IMAGE, TEST_LABEL } from '../support/images.ts'
import { describeFailures, startLoad } from '../support/load.ts'
import { CLI } from '../support/proxy-process.ts'
import { waitFor } from '../support/wait.ts'

interface Run { code: number, stdout: string, stderr: string, startedAt: number, exitedAt: number }
interface Event { step: string, status: string, message: string, service?: string, [k: string]: unknown }
interface HistoryRecord { service: string, outcome: string, startedAt: string, finishedAt: string | null, error: string | null }

async function cli (dir: string, env: Record<string, string>, args: string[]): Promise<Run> {
  const startedAt = Date.now()
  const child = spawn(process.execPath, [CLI, ...args], { cwd: dir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (c: string) => { stdout += c })
  child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c })
  const code = await new Promise<number>((resolve) => { child.once('close', (c) => { resolve(c ?? 1) }) })
  return { code, stdout, stderr, startedAt, exitedAt: Date.now() }
}

const events = (r: Run): Event[] => r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Event)

const appService = (name: string, host: string, extra = ''): string => appServiceYaml(name, {
  VIRTUAL_HOST: host,
  APP_VERSION: `\${${name.toUpperCase()}_VERSION:-v1}`,
  HEALTHY: `\${${name.toUpperCase()}_HEALTHY:-true}`,
  RESPONSE_DELAY_MS: '50'
}) + extra

interface Stack {
  dir: string
  file: string
  name: string
  port: number
  deploy: (env: Record<string, string>, ...args: string[]) => Promise<Run>
  history: () => Promise<HistoryRecord[]>
  /** Running containers of a service: id and APP_VERSION. */
  containers: (service: string) => Promise<Array<{ id: string, version: string }>>
}

async function stack (t: Test): Promise<Stack> {
  const { dir, file, name, port, containers } = await composeProject(t, {
    prefix: 'pxt-stack-',
    name: `pxtstack${process.pid}`,
    yaml: (port) => `services:
${proxyServiceYaml({ port })}${appService('inventory', 'inventory.test')}${appService('frontend', 'frontend.test', `    depends_on:
      inventory:
        condition: service_started
`)}  worker:
    image: ${TEST_APP_IMAGE}
    environment:
      APP_VERSION: \${WORKER_VERSION:-v1}
    depends_on: [inventory]
    labels:
      ${TEST_LABEL}: "1"
`
  })
  // By id: another proxyctl container on this engine must not be picked.
  const proxy = async (): Promise<string> => await docker('ps', '-q', '--filter', `label=com.docker.compose.project=${name}`, '--filter', 'label=com.docker.compose.service=proxy')
  const s: Stack = {
    dir,
    file,
    name,
    port,
    deploy: async (env, ...args) => await cli(dir, env, ['deploy', '-f', file, '-p', name, '--proxy', await proxy(), ...args]),
    history: async () => {
      const r = await cli(dir, {}, ['history', '--json', '--proxy', await proxy()])
      if (r.code !== 0) throw new Error(`history: ${r.stderr}`)
      return JSON.parse(r.stdout) as HistoryRecord[]
    },
    containers: async (service) => (await containers(service)).map(({ id, version }) => ({ id, version }))
  }
  for (const host of ['inventory.test', 'frontend.test']) {
    await waitFor(async () => (await get(port, host).catch(() => undefined))?.status === 200, { timeoutMs: 30_000, what: `${host} through the proxy container` })
  }
  return s
}

if (requireDocker(t)) {
  t.test('whole-stack deploy under load: inventory before frontend, 0 failed, worker left to compose; a second run deploys nothing', async (t) => {
    const s = await stack(t)
    const workerBefore = await s.containers('worker')
    const historyBefore = (await s.history()).length
    // 12 + 12 keep-alive clients, GET and slow POST, bounded in time and count.
    const loads = ['inventory.test', 'frontend.test'].map((host) => ({ host, load: startLoad({ port: s.port, host, clients: 12, maxDurationMs: 120_000, maxRequests: 40_000 }) }))
    await waitFor(() => loads.every((l) => l.load.count() > 100), { what: 'load under way on both hosts' })
    const v2 = { INVENTORY_VERSION: 'v2', FRONTEND_VERSION: 'v2', WORKER_VERSION: 'v2' }
    const r = await s.deploy(v2, '--json')
    t.equal(r.code, 0, `deploy exit code (stderr: ${r.stderr})`)
    const counts = loads.map((l) => l.load.count())
    await waitFor(() => loads.every((l, i) => l.load.count() > counts[i]! + 50) && Date.now() > r.exitedAt + 1_000, { what: 'requests after the deploy' })
    for (const { host, load } of loads) {
      const result = await load.stop()
      t.equal(result.failures.length, 0, `${host}: failed requests: ${describeFailures(result)}`)
      const late = result.samples.filter((x) => x.startMs > r.exitedAt)
      t.same([...new Set(late.map((x) => x.version))], ['v2'], `${host}: every response after the deploy from v2 (${late.length} requests)`)
      t.comment(`${host}: ${result.total} requests, ${result.failures.length} failed, versions ${JSON.stringify(result.byVersion)}`)
    }

    const ev = events(r)
    t.comment(`stack deploy of 2 services: ${r.exitedAt - r.startedAt} ms`)
    const first = ev[0]!
    t.match(first, { step: 'stack', order: ['inventory', 'frontend'], unchanged: [], leftToCompose: ['proxy', 'worker'] }, 'the plan: inventory first, proxy and worker left to compose')
    t.match(first.message, /left to compose \(no VIRTUAL_HOST\): proxy, worker/)
    const serviceOrder = ev.filter((e) => e.service !== undefined).map((e) => e.service).filter((x, i, a) => a[i - 1] !== x)
    t.same(serviceOrder, ['inventory', 'frontend'], 'every inventory event before any frontend event')
    const doneOf = (svc: string): number => ev.findIndex((e) => e.service === svc && e.step === 'done')
    t.ok(doneOf('inventory') !== -1 && doneOf('inventory') < ev.findIndex((e) => e.service === 'frontend'), 'inventory done before frontend started')
    t.match(ev.at(-1), { step: 'stack', status: 'done', services: [{ service: 'inventory', outcome: 'deployed' }, { service: 'frontend', outcome: 'deployed' }, { service: 'proxy', outcome: 'left to compose' }, { service: 'worker', outcome: 'left to compose' }] })

    const history = (await s.history()).slice(0, (await s.history()).length - historyBefore).reverse()
    t.same(history.map((h) => [h.service, h.outcome]), [['inventory', 'succeeded'], ['frontend', 'succeeded']], 'one history record per service, in order')
    t.ok(history[0]!.finishedAt !== null && history[0]!.finishedAt <= history[1]!.startedAt, 'inventory\'s rollout finished before frontend\'s started')
    for (const svc of ['inventory', 'frontend']) t.same((await s.containers(svc)).map((c) => c.version), ['v2'], `${svc}: one container, v2`)
    t.same(await s.containers('worker'), workerBefore, 'worker untouched (its config changed too, but compose owns it)')

    // Same config again: nothing to deploy, nothing touched, no history.
    const ids = { inventory: await s.containers('inventory'), frontend: await s.containers('frontend') }
    const again = await s.deploy(v2, '--json')
    t.equal(again.code, 0, again.stderr)
    t.comment(`no-op stack deploy: ${again.exitedAt - again.startedAt} ms`)
    t.match(events(again)[0], { step: 'stack', order: [], unchanged: ['inventory', 'frontend'], leftToCompose: ['proxy', 'worker'] }, 'second run: both unchanged')
    t.notOk(events(again).some((e) => e.step === 'scale'), 'nothing scaled')
    t.same({ inventory: await s.containers('inventory'), frontend: await s.containers('frontend') }, ids, 'same containers')
    t.equal((await s.history()).length, historyBefore + 2, 'no history record for unchanged services')

    // A change to frontend alone, which never becomes healthy: inventory unchanged, frontend rolled back, exit 3.
    const sick = await s.deploy({ ...v2, FRONTEND_VERSION: 'v3', FRONTEND_HEALTHY: 'false' }, '--timeout', '5s')
    t.equal(sick.code, 3, `exit code of the failure (stderr: ${sick.stderr})`)
    t.comment(`human output of a failed stack deploy:\n${sick.stdout}${sick.stderr}`)
    t.match(sick.stdout, /stack +project \S+: deploying frontend in this order; unchanged: inventory/)
    t.match(sick.stdout, /✗ stack +frontend failed; deployed before it \(still serving\): none/)
    t.match(sick.stderr, /deploy of frontend failed after .*not ready within 5s/)
    t.same((await s.containers('frontend')).map((c) => c.id), ids.frontend.map((c) => c.id), 'frontend\'s v2 container still the one running')
    t.equal((await get(s.port, 'frontend.test')).headers['x-app-version'], 'v2')
    t.match((await s.history())[0], { service: 'frontend', outcome: 'failed', error: /not ready within 5s/ })
  })

  t.test('whole-stack deploy: the first failure stops the sequence, earlier services stay deployed', async (t) => {
    const s = await stack(t)
    const before = await s.containers('frontend')
    const r = await s.deploy({ INVENTORY_VERSION: 'v2', FRONTEND_VERSION: 'v2', FRONTEND_HEALTHY: 'false' }, '--json', '--timeout', '5s')
    t.equal(r.code, 3, 'exit code 3: new containers not ready')
    const ev = events(r)
    t.match(ev.find((e) => e.step === 'stack' && e.status === 'failed'), {
      services: [{ service: 'inventory', outcome: 'deployed' }, { service: 'frontend', outcome: 'failed', code: 'PROXY_ERR_DEPLOY_TIMEOUT' }]
    })
    t.match(ev.at(-1), { step: 'failed', status: 'failed', service: 'frontend', code: 'PROXY_ERR_DEPLOY_TIMEOUT' })
    t.same((await s.containers('inventory')).map((c) => c.version), ['v2'], 'inventory deployed')
    t.same((await s.containers('frontend')).map((c) => c.id), before.map((c) => c.id), 'frontend\'s old container untouched')
    t.equal((await get(s.port, 'inventory.test')).headers['x-app-version'], 'v2')
    t.equal((await get(s.port, 'frontend.test')).headers['x-app-version'], 'v1')
  })

  t.test('whole-stack deploy of invalid input: a clear error, exit 2, nothing started', async (t) => {
    const s = await stack(t)
    const all = async (): Promise<string> => await docker('ps', '-aq', '--filter', `label=com.docker.compose.project=${s.name}`)
    const before = await all()
    const cyclic = join(s.dir, 'cyclic.yml')
    writeFileSync(cyclic, `services:
${appService('inventory', 'inventory.test', '    depends_on: [frontend]\n')}${appService('frontend', 'frontend.test', '    depends_on: [inventory]\n')}`)
    const cycle = await cli(s.dir, { INVENTORY_VERSION: 'v9' }, ['deploy', '-f', cyclic, '-p', s.name])
    t.equal(cycle.code, 2, cycle.stderr)
    t.match(cycle.stderr, /cycle|circular|dependency/i, 'compose or proxyctl names the cycle')
    const missing = await cli(s.dir, {}, ['deploy', '-f', join(s.dir, 'nope.yml')])
    t.equal(missing.code, 2)
    t.match(missing.stderr, /compose file .*nope\.yml does not exist/)
    const named = join(s.dir, 'named.yml')
    writeFileSync(named, `services:\n${appService('inventory', 'inventory.test', '    container_name: fixed-inventory\n')}`)
    const fixed = await cli(s.dir, { INVENTORY_VERSION: 'v9' }, ['deploy', '-f', named, '-p', s.name])
    t.equal(fixed.code, 2, fixed.stderr)
    t.match(fixed.stderr, /container_name "fixed-inventory"/)
    t.equal(await all(), before, 'no container created, stopped or removed')
  })
}
