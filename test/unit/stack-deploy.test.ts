import { PassThrough } from 'node:stream'
import t from 'tap'
import { parse as parseYaml } from 'yaml'
import { parseCommand } from '../../src/cli/args.ts'
import { Progress, type ProgressEvent } from '../../src/deploy/progress.ts'
import { runStackDeploy, type StackDeployPlan } from '../../src/deploy/stack-deploy.ts'
import { stackOrder, type StackService } from '../../src/deploy/stack-order.ts'
import { parseConfigHashes, planStack, servicesFromConfig } from '../../src/deploy/stack-plan.ts'
import { DeployTimeoutError } from '../../src/errors.ts'

const svc = (name: string, dependsOn: string[] = [], proxied = true, containerName?: string, profiles: string[] = []): StackService => ({ name, dependsOn, proxied, containerName, profiles })

t.test('stackOrder: dependencies first, ties by name', async (t) => {
  const cases = [
    { desc: 'no dependencies: by name', in: [svc('web'), svc('api'), svc('db')], want: ['api', 'db', 'web'] },
    { desc: 'web after api', in: [svc('web', ['api']), svc('api')], want: ['api', 'web'] },
    { desc: 'a chain against the alphabet', in: [svc('a', ['b']), svc('b', ['c']), svc('c')], want: ['c', 'b', 'a'] },
    { desc: 'a diamond', in: [svc('web', ['api', 'auth']), svc('api', ['db']), svc('auth', ['db']), svc('db')], want: ['db', 'api', 'auth', 'web'] },
    {
      desc: 'through a service without VIRTUAL_HOST',
      in: [svc('a', ['worker']), svc('worker', ['z'], false), svc('z')],
      want: ['z', 'worker', 'a']
    }
  ]
  for (const k of cases) t.same(stackOrder(k.in), k.want, k.desc)
})

t.test('stackOrder: cycles and unknown services are bad input, with the cycle named', async (t) => {
  t.throws(() => stackOrder([svc('api', ['web']), svc('web', ['api'])]), { code: 'PROXY_ERR_INVALID_OPTION', message: /cycle: api -> web -> api/ })
  t.throws(() => stackOrder([svc('x'), svc('a', ['b']), svc('b', ['c']), svc('c', ['b'])]), { message: /cycle: b -> c -> b/ }, 'the cycle, not the path into it')
  t.throws(() => stackOrder([svc('web', ['nope'])]), { code: 'PROXY_ERR_INVALID_OPTION', message: /"web" depends on "nope", which the compose file does not define/ })
})

// What `docker-compose config` (1.29.2) printed for a file using short syntax, long syntax,
// list-form environment, env_file and a variable left unset.
const V1_CONFIG = `services:
  api:
    depends_on:
      db:
        condition: service_started
    environment:
      VIRTUAL_HOST: api.test
    image: app
  db:
    image: app
  web:
    depends_on:
      api:
        condition: service_started
    environment:
      FOO: null
      VIRTUAL_HOST: web.test
      X: '1'
    image: app
version: '3.9'
`

t.test('servicesFromConfig: compose config output in, services out', async (t) => {
  t.same(servicesFromConfig(parseYaml(V1_CONFIG)), [
    svc('api', ['db']),
    svc('db', [], false),
    svc('web', ['api'])
  ], 'docker-compose v1 output')
  const doc = {
    services: {
      web: { depends_on: ['api', 'api'], environment: ['VIRTUAL_HOST=web.test', 'OTHER'], container_name: 'fixed' },
      api: { depends_on: { cache: { condition: 'service_healthy', required: true }, gone: { condition: 'service_started', required: false } }, environment: { VIRTUAL_HOST_MULTIPORTS: 'api.test: {}' } },
      cache: { environment: { VIRTUAL_HOST: '  ' } },
      worker: { environment: ['VIRTUAL_HOST'], profiles: ['jobs'] },
      bare: null
    }
  }
  t.same(servicesFromConfig(doc), [
    svc('web', ['api'], true, 'fixed'),
    svc('api', ['cache']),
    svc('cache', [], false),
    svc('worker', [], false, undefined, ['jobs']),
    svc('bare', [], false)
  ], 'short syntax deduplicated, required: false dropped, blank and unset VIRTUAL_HOST not proxied')
  t.throws(() => servicesFromConfig({}), { code: 'PROXY_ERR_INVALID_OPTION', message: /defines no services/ })
  t.throws(() => servicesFromConfig({ services: { 'we b': {} } }), { code: 'PROXY_ERR_INVALID_OPTION', message: /invalid service name "we b"/ })
  t.throws(() => servicesFromConfig({ services: { web: { depends_on: 'api' } } }), { message: /depends_on must be a list or a mapping/ })
  t.throws(() => servicesFromConfig({ services: { web: { depends_on: ['web'] } } }), { message: /cycle: web -> web/ })
  t.throws(() => servicesFromConfig({ services: { web: { depends_on: [{ x: 1 }] } } }), { message: /invalid depends_on entry/ })
})

const H = (c: string): string => c.repeat(64)

t.test('parseConfigHashes', async (t) => {
  t.same(parseConfigHashes(`db ${H('a')}\napi ${H('b')}\n\n`), new Map([['db', H('a')], ['api', H('b')]]))
  t.throws(() => parseConfigHashes('WARNING: something'), { code: 'PROXY_ERR_INVALID_OPTION', message: /unexpected line/ })
  t.throws(() => parseConfigHashes(`api ${H('b')} extra`), { message: /unexpected line/ })
})

t.test('planStack: what changed, in order; the rest listed', async (t) => {
  const services = [svc('web', ['api']), svc('api', ['db']), svc('db', [], false), svc('static')]
  const expected = new Map([['web', H('1')], ['api', H('2')], ['db', H('3')], ['static', H('4')]])
  const cases = [
    {
      desc: 'nothing running: everything proxied, by depth in the graph (db and static first), then by name',
      running: new Map<string, string[]>(),
      want: { deploy: [{ service: 'static', reason: 'not running' }, { service: 'api', reason: 'not running' }, { service: 'web', reason: 'not running' }], unchanged: [], leftToCompose: ['db'], inactive: [] }
    },
    {
      desc: 'all hashes equal: nothing to deploy (db\'s hash is not looked at)',
      running: new Map([['web', [H('1')]], ['api', [H('2'), H('2')]], ['db', [H('f')]], ['static', [H('4')]]]),
      want: { deploy: [], unchanged: ['static', 'api', 'web'], leftToCompose: ['db'], inactive: [] }
    },
    {
      desc: 'one replica of api on the old config: api changed',
      running: new Map([['web', [H('1')]], ['api', [H('2'), H('0')]], ['static', [H('4')]]]),
      want: { deploy: [{ service: 'api', reason: 'config changed' }], unchanged: ['static', 'web'], leftToCompose: ['db'], inactive: [] }
    },
    {
      desc: 'a container without the label counts as changed',
      running: new Map([['web', ['']], ['api', [H('2')]], ['static', [H('4')]]]),
      want: { deploy: [{ service: 'web', reason: 'config changed' }], unchanged: ['static', 'api'], leftToCompose: ['db'], inactive: [] }
    }
  ]
  for (const k of cases) t.same(planStack(services, expected, k.running), k.want, k.desc)
  t.throws(() => planStack([svc('web')], new Map(), new Map()), { message: /no config hash for service "web"/ })
  t.same(planStack([svc('web'), svc('debug', [], true, undefined, ['debug'])], new Map([['web', H('1')]]), new Map()), { deploy: [{ service: 'web', reason: 'not running' }], unchanged: [], leftToCompose: [], inactive: ['debug'] }, 'a service of an inactive profile (v1 prints it, but hashes only active ones)')
  t.throws(() => planStack([svc('web', [], true, 'fixed')], new Map([['web', H('1')]]), new Map()), { code: 'PROXY_ERR_INVALID_OPTION', message: /container_name "fixed"/ })
  t.same(planStack([svc('web', [], true, 'fixed')], new Map([['web', H('1')]]), new Map([['web', [H('1')]]])).unchanged, ['web'], 'container_name is fine while nothing changes')
})

function plan (deploy: string[], unchanged: string[] = [], leftToCompose: string[] = []): StackDeployPlan {
  return { deploy: deploy.map((service) => ({ service, reason: 'config changed' as const })), unchanged, leftToCompose, inactive: ['debug'], compose: { binary: ['docker-compose'], file: '/x/compose.yml', project: 'x' } }
}

function captured (): { progress: Progress, events: ProgressEvent[], text: () => string } {
  const out = new PassThrough()
  let text = ''
  out.setEncoding('utf8').on('data', (c: string) => { text += c })
  const progress = new Progress(false, out)
  const events: ProgressEvent[] = []
  progress.onEvent((e) => events.push(e))
  return { progress, events, text: () => text }
}

t.test('runStackDeploy: one service at a time, in order, each with its own progress', async (t) => {
  const { progress, events, text } = captured()
  const calls: string[] = []
  const perService = new Map<string, string[]>()
  const r = await runStackDeploy(plan(['api', 'web'], ['static'], ['db']), progress, async (service, child) => {
    calls.push(`start ${service}`)
    perService.set(service, [])
    child.onEvent((e) => perService.get(service)!.push(e.step))
    child.emit({ step: 'plan', status: 'done', message: `plan of ${service}` })
    await new Promise((resolve) => setImmediate(resolve))
    calls.push(`end ${service}`)
    return { service, old: [`${service}-1`], new: [`${service}-2`], durationMs: 5 }
  })
  t.same(calls, ['start api', 'end api', 'start web', 'end web'], 'never two at once')
  t.equal(r.error, undefined)
  t.same(r.services.map((s) => [s.service, s.outcome]), [['api', 'deployed'], ['web', 'deployed'], ['static', 'unchanged'], ['db', 'left to compose'], ['debug', 'inactive']])
  t.same(perService, new Map([['api', ['plan']], ['web', ['plan']]]), 'a service\'s listeners hear only its own events')
  t.same(events.filter((e) => e.step === 'plan').map((e) => e.service), ['api', 'web'], 'the stack\'s listeners hear every event, with its service')
  t.match(text(), /stack +project x: deploying api, web in this order; unchanged: static; left to compose \(no VIRTUAL_HOST\): db; not in an active profile: debug/)
  t.match(text(), /✓ plan +api: plan of api/)
  t.match(text(), /✓ stack +deployed api, web; unchanged: static; left to compose: db/)
})

t.test('runStackDeploy: the first failure stops the sequence; earlier services stay deployed', async (t) => {
  const { progress, events } = captured()
  const calls: string[] = []
  const r = await runStackDeploy(plan(['api', 'web', 'admin']), progress, async (service) => {
    calls.push(service)
    if (service === 'web') throw new DeployTimeoutError('new containers not ready within 5s')
    return { service, old: [], new: [`${service}-1`], durationMs: 1 }
  })
  t.same(calls, ['api', 'web'], 'admin never started')
  t.equal((r.error as DeployTimeoutError).code, 'PROXY_ERR_DEPLOY_TIMEOUT')
  t.match(r.services, [
    { service: 'api', outcome: 'deployed' },
    { service: 'web', outcome: 'failed', code: 'PROXY_ERR_DEPLOY_TIMEOUT', error: /not ready within 5s/ },
    { service: 'admin', outcome: 'not started' }
  ])
  const last = events.at(-1)!
  t.match(last, { step: 'stack', status: 'failed', message: /web failed; deployed before it \(still serving\): api; not started: admin/ })
})

t.test('proxyctl deploy -f FILE without a service is a stack deploy; a bare deploy is still an error', async (t) => {
  t.match(parseCommand(['deploy', '-f', 'c.yml', '-p', 'shop', '--json']), { kind: 'deploy', service: undefined, container: undefined, composeFile: 'c.yml', project: 'shop', json: true })
  t.throws(() => parseCommand(['deploy']), { code: 'PROXY_ERR_INVALID_OPTION', message: /missing SERVICE \(or -f FILE for every service of the stack/ })
  t.throws(() => parseCommand(['deploy', '--swarm', '-f', 'stack.yml']), { code: 'PROXY_ERR_INVALID_OPTION' }, '--swarm still needs a service')
})
