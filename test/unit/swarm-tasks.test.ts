// Swarm services and tasks (the Engine API's JSON, as a manager answers GET /services and GET /tasks)
// into the provider's output: task containers, and through the one builder the desired state.
import t from 'tap'
import { DEFAULT_HEALTH_CHECK } from '../../src/config/options.ts'
import { fromInspect } from '../../src/docker/container-info.ts'
import { buildDesiredState } from '../../src/docker/desired-state-builder.ts'
import { isTaskContainer, swarmRole, swarmTaskContainers, withoutContract, type SwarmTaskContainer } from '../../src/docker/swarm-tasks.ts'

const NET = 'netoverlay1abcdefghijklmn'
const cid = (n: number): string => n.toString(16).padStart(64, 'c')

function service (o: { id?: string, name?: string, labels?: unknown } = {}): Record<string, unknown> {
  return { ID: o.id ?? 'svc1', Spec: { Name: o.name ?? 'app', Labels: o.labels ?? { 'proxyctl.health.path': '/hc' } } }
}

interface TaskOptions { id?: string, service?: string, slot?: unknown, node?: string, desired?: string, state?: string, container?: unknown, env?: unknown, labels?: unknown, attachments?: unknown }
function task (n: number, o: TaskOptions = {}): Record<string, unknown> {
  return {
    ID: o.id ?? `task${n}`,
    ServiceID: o.service ?? 'svc1',
    Slot: 'slot' in o ? o.slot : n,
    NodeID: o.node ?? 'node1',
    DesiredState: o.desired ?? 'running',
    Status: { State: o.state ?? 'running', ContainerStatus: { ContainerID: 'container' in o ? o.container : cid(n) } },
    Spec: { ContainerSpec: { Image: 'app:v1', Env: o.env ?? ['VIRTUAL_HOST=app.test', 'VIRTUAL_PORT=3000'], Labels: o.labels ?? {} } },
    NetworksAttachments: o.attachments ?? [
      { Network: { ID: 'ingressnet1', Spec: { Name: 'ingress', Ingress: true } }, Addresses: ['10.0.0.9/24'] },
      { Network: { ID: NET, Spec: { Name: 'appnet' } }, Addresses: [`10.0.1.${n + 2}/24`] }
    ]
  }
}

/** What the builder makes of the tasks, with the proxy on the overlay (as it must be). */
function routed (view: { containers: SwarmTaskContainer[] }): Array<{ host: string, targets: Array<{ name: string, address: string, port: number, group: string, healthPath: string }> }> {
  const { state } = buildDesiredState(view.containers.map((c) => fromInspect(c.inspect)), { selfNetworkIds: new Set([NET]) })
  return state.routes.map((r) => ({ host: r.host, targets: r.targets.map((x) => ({ name: x.name, address: x.address, port: x.port, group: x.groupId, healthPath: x.health.path })) }))
}

t.test('tasks into routed targets (table)', async (t) => {
  const cases: Array<{ desc: string, services: unknown, tasks: unknown, want: ReturnType<typeof routed>, problems?: RegExp[] }> = [
    {
      desc: 'two running tasks of a labelled service: both routed at their overlay address (not the ingress one), service label applied',
      services: [service()],
      tasks: [task(1), task(2)],
      want: [{ host: 'app.test', targets: [
        { name: 'app.1.task1', address: '10.0.1.3', port: 3000, group: cid(1), healthPath: '/hc' },
        { name: 'app.2.task2', address: '10.0.1.4', port: 3000, group: cid(2), healthPath: '/hc' }
      ] }]
    },
    {
      desc: 'a task still starting (HEALTHCHECK not yet passed: Swarm says starting) takes no traffic',
      services: [service()],
      tasks: [task(1), task(2, { state: 'starting' })],
      want: [{ host: 'app.test', targets: [{ name: 'app.1.task1', address: '10.0.1.3', port: 3000, group: cid(1), healthPath: '/hc' }] }]
    },
    {
      desc: 'a task whose desired state is shutdown (update, scale-down, rm, drain) leaves at once, though still running',
      services: [service()],
      tasks: [task(1, { desired: 'shutdown' }), task(2)],
      want: [{ host: 'app.test', targets: [{ name: 'app.2.task2', address: '10.0.1.4', port: 3000, group: cid(2), healthPath: '/hc' }] }]
    },
    {
      desc: 'failed, complete, rejected and preparing tasks are not routed',
      services: [service()],
      tasks: ['failed', 'complete', 'rejected', 'preparing', 'assigned', 'shutdown'].map((state, i) => task(i + 1, { state })),
      want: []
    },
    {
      desc: 'a task of a service that is gone (service rm) is not routed',
      services: [],
      tasks: [task(1)],
      want: []
    },
    {
      desc: 'a service without VIRTUAL_HOST is not proxied',
      services: [service()],
      tasks: [task(1, { env: ['OTHER=1'] })],
      want: []
    },
    {
      desc: 'container labels override service labels; global tasks are named by node',
      services: [service({ labels: { 'proxyctl.health.path': '/hc' } })],
      tasks: [task(1, { slot: 0, node: 'nodeb', labels: { 'proxyctl.health.path': '/ready' } })],
      want: [{ host: 'app.test', targets: [{ name: 'app.nodeb.task1', address: '10.0.1.3', port: 3000, group: cid(1), healthPath: '/ready' }] }]
    },
    {
      desc: 'an old and a new task of one slot (start-first update) are two targets',
      services: [service()],
      tasks: [task(1, { id: 'taskold' }), task(2, { id: 'tasknew', slot: 1 })],
      want: [{ host: 'app.test', targets: [
        { name: 'app.1.tasknew', address: '10.0.1.4', port: 3000, group: cid(2), healthPath: '/hc' },
        { name: 'app.1.taskold', address: '10.0.1.3', port: 3000, group: cid(1), healthPath: '/hc' }
      ] }]
    },
    {
      desc: 'hostile input: bad container ids, addresses, names, env and labels are dropped, never passed on',
      services: [service(), service({ id: 'svc2', name: 'bad name;rm' }), { ID: 'svc3' }, 'junk', null],
      tasks: [
        task(1, { container: 'not-hex' }),
        task(2, { container: 42 }),
        task(3, { attachments: [{ Network: { ID: NET, Spec: { Name: 'appnet' } }, Addresses: ['10.0.1.999/24', 'fe80::1%eth0/64', 7] }] }),
        task(4, { service: 'svc2' }),
        task(5, { id: 'UPPER/../x' }),
        task(6, { env: 'VIRTUAL_HOST=app.test' }),
        task(7, { env: ['VIRTUAL_HOST=app.test', 'VIRTUAL_PORT=3000', '=x', 'BAD KEY=1'], labels: { 'proxyctl.health.path': 5, 'bad key': '/x' }, attachments: [{ Network: { ID: NET, Spec: { Name: 'appnet' } }, Addresses: ['10.0.1.50/24'] }] }),
        'junk', null, 17
      ],
      want: [{ host: 'app.test', targets: [{ name: 'app.7.task7', address: '10.0.1.50', port: 3000, group: cid(7), healthPath: '/hc' }] }],
      problems: [/task task1 reports no valid container id/, /task task2 reports no valid container id/, /task app\.3\.task3 has no address on an overlay network/, /invalid id/]
    },
    {
      desc: 'no VIRTUAL_PORT: port 80, with a problem saying why',
      services: [service()],
      tasks: [task(1, { env: ['VIRTUAL_HOST=app.test'] })],
      want: [{ host: 'app.test', targets: [{ name: 'app.1.task1', address: '10.0.1.3', port: 80, group: cid(1), healthPath: '/hc' }] }],
      problems: [/sets no VIRTUAL_PORT: port 80 assumed/]
    },
    {
      desc: 'not arrays at all (an engine answering nonsense): nothing routed',
      services: { not: 'an array' },
      tasks: 'nope',
      want: []
    }
  ]
  for (const c of cases) {
    const view = swarmTaskContainers(c.services, c.tasks)
    t.same(routed(view), c.want, c.desc)
    const messages = view.problems.map((p) => p.message)
    t.equal(messages.length, (c.problems ?? []).length, `${c.desc}: problems ${JSON.stringify(messages)}`)
    for (const re of c.problems ?? []) t.ok(messages.some((m) => re.test(m)), `${c.desc}: ${String(re)}`)
  }
})

t.test('a task container read as a container: its whole ContainerInfo', async (t) => {
  const [only] = swarmTaskContainers([service()], [task(1)]).containers
  t.same(fromInspect(only!.inspect), {
    id: cid(1),
    name: 'app.1.task1',
    running: true,
    env: { VIRTUAL_HOST: 'app.test', VIRTUAL_PORT: '3000' },
    labels: { 'proxyctl.health.path': '/hc' },
    exposedPorts: [],
    networks: [{ name: 'appnet', id: NET, ipAddress: '10.0.1.3', ipv6Address: '', gateway: '' }],
    networkMode: 'default',
    health: 'none'
  })
  t.not(DEFAULT_HEALTH_CHECK.path, '/hc', 'the health path /hc in the table above came from the service label, not the default')
})

t.test('Swarm role from GET /info', async (t) => {
  const cases = [
    { desc: 'manager', info: { Swarm: { LocalNodeState: 'active', ControlAvailable: true } }, want: 'manager' },
    { desc: 'worker', info: { Swarm: { LocalNodeState: 'active', ControlAvailable: false } }, want: 'worker' },
    { desc: 'not in a swarm', info: { Swarm: { LocalNodeState: 'inactive' } }, want: 'none' },
    { desc: 'pending join', info: { Swarm: { LocalNodeState: 'pending', ControlAvailable: true } }, want: 'none' },
    { desc: 'ControlAvailable as a string is not true', info: { Swarm: { LocalNodeState: 'active', ControlAvailable: 'true' } }, want: 'worker' },
    { desc: 'no Swarm section', info: {}, want: 'none' },
    { desc: 'not an object', info: 'x', want: 'none' }
  ]
  for (const c of cases) t.equal(swarmRole(c.info), c.want, c.desc)
})

t.test('a task container seen as a container loses the env contract, nothing else', async (t) => {
  const inspect = { Id: cid(1), Config: { Env: ['VIRTUAL_HOST=a.test', 'VIRTUAL_HOST_MULTIPORTS=x', 'VIRTUAL_PORT=3000', 'PATH=/bin'], Labels: { 'com.docker.swarm.task.id': 'task1' } } }
  const out = withoutContract(inspect as never)
  t.same(out.Config.Env, ['VIRTUAL_PORT=3000', 'PATH=/bin'])
  t.same(inspect.Config.Env.length, 4, 'the original is not changed')
  t.ok(isTaskContainer(inspect.Config.Labels))
  t.notOk(isTaskContainer({ other: '1' }))
  t.notOk(isTaskContainer(undefined))
})
