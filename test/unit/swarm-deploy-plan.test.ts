// `proxyctl deploy --swarm`'s pure parts (deploy/swarm-plan.ts): a service inspect and its task list
// (hostile JSON) into the tasks to replace, the spec sent, and which old task a new one replaces;
// and the node hostnames the provider shows with each task (swarm-tasks.ts), through to the target.
import t from 'tap'
import { fromInspect } from '../../src/docker/container-info.ts'
import { buildDesiredState } from '../../src/docker/desired-state-builder.ts'
import { swarmNodeNames, swarmTaskContainers } from '../../src/docker/swarm-tasks.ts'
import { newTasks, planSwarmUpdate, readService, readTasks, replacedBy, serviceModeProblem } from '../../src/deploy/swarm-plan.ts'

const cid = (n: number): string => n.toString(16).padStart(64, 'c')
const NET = 'netoverlay1abcdefghijklmn'

function serviceInspect (o: { image?: string, mode?: unknown, env?: string[], update?: unknown, updateStatus?: unknown, taskTemplate?: Record<string, unknown> } = {}): Record<string, unknown> {
  return {
    ID: 'svc1',
    Version: { Index: 42 },
    Spec: {
      Name: 'app',
      Labels: {},
      Mode: o.mode ?? { Replicated: { Replicas: 2 } },
      TaskTemplate: { ContainerSpec: { Image: o.image ?? 'app:v1', Env: o.env ?? ['VIRTUAL_HOST=app.test'] }, ...o.taskTemplate },
      UpdateConfig: o.update ?? { Parallelism: 2, Order: 'stop-first', FailureAction: 'rollback', Monitor: 5e9 }
    },
    ...(o.updateStatus !== undefined ? { UpdateStatus: o.updateStatus } : {})
  }
}

function task (id: string, o: { slot?: number, node?: string, image?: string, desired?: string, state?: string, container?: unknown } = {}): Record<string, unknown> {
  return {
    ID: id,
    Slot: o.slot,
    NodeID: o.node ?? 'node1',
    DesiredState: o.desired ?? 'running',
    Status: { State: o.state ?? 'running', ContainerStatus: { ContainerID: 'container' in o ? o.container : cid(id.length) } },
    Spec: { ContainerSpec: { Image: o.image ?? 'app:v1' } }
  }
}

t.test('readService: the facts the deploy uses; hostile or incomplete inspects refused', async (t) => {
  const s = readService(serviceInspect({ updateStatus: { State: 'completed', StartedAt: '2026-01-01T00:00:00Z', Message: 'update completed' } }))
  t.match(s, { id: 'svc1', name: 'app', version: 42, mode: 'replicated', replicas: 2, image: 'app:v1', proxied: true, updateState: 'completed', updateStartedAt: '2026-01-01T00:00:00Z' })
  t.equal(readService(serviceInspect({ mode: { Global: {} } }))?.mode, 'global')
  t.equal(readService(serviceInspect({ env: ['VIRTUAL_HOST='] }))?.proxied, false, 'an empty VIRTUAL_HOST is not routed')
  t.equal(readService(serviceInspect({ env: ['VIRTUAL_HOST_MULTIPORTS=a.test: {}'] }))?.proxied, true)
  t.equal(readService(serviceInspect())?.updateStartedAt, '', 'never updated: no start time')
  for (const bad of [null, [], {}, { ID: 'svc1', Spec: {} }, { ID: 'SVC!', Version: { Index: 1 }, Spec: { Name: 'a' } }, { ID: 'svc1', Version: { Index: '1' }, Spec: { Name: 'a' } }]) {
    t.equal(readService(bad), undefined, JSON.stringify(bad))
  }
  t.equal(serviceModeProblem(serviceInspect()), undefined)
  t.match(serviceModeProblem(serviceInspect({ mode: { ReplicatedJob: {} } })), /ReplicatedJob.*job/)
})

t.test('readTasks: names as the proxy names its targets; invalid ids and container ids dropped', async (t) => {
  const tasks = readTasks([
    task('t2', { slot: 2 }),
    task('t1', { slot: 1, container: 'not-a-container-id' }),
    task('tg', { node: 'nodeb' }),
    { ID: 'BAD ID' },
    'junk',
    task('t3', { slot: 3, state: 'starting', desired: 'running' })
  ], 'app')
  t.same(tasks.map((x) => [x.name, x.containerId === undefined ? '-' : 'cid', x.state]), [
    ['app.1.t1', '-', 'running'],
    ['app.2.t2', 'cid', 'running'],
    ['app.3.t3', 'cid', 'starting'],
    ['app.nodeb.tg', 'cid', 'running']
  ])
  t.same(readTasks('nope', 'app'), [])
})

t.test('planSwarmUpdate: running tasks replaced; start-first, one at a time, paused on failure, rollback start-first too', async (t) => {
  const service = readService(serviceInspect())!
  const tasks = readTasks([task('t1', { slot: 1 }), task('t2', { slot: 2 }), task('t9', { slot: 3, desired: 'shutdown', state: 'complete' }), task('t4', { slot: 4, state: 'preparing' })], 'app')
  const plan = planSwarmUpdate(service, tasks, 'app:v2')
  t.same(plan.old.map((c) => [c.name, c.proxied]), [['app.1.t1', true], ['app.2.t2', true]], 'running tasks only, known proxied (no local inspect)')
  t.match(plan.nextSpec, {
    Name: 'app',
    TaskTemplate: { ContainerSpec: { Image: 'app:v2', Env: ['VIRTUAL_HOST=app.test'] } },
    UpdateConfig: { Parallelism: 1, Order: 'start-first', FailureAction: 'pause', Monitor: 5e9 },
    RollbackConfig: { Parallelism: 1, Order: 'start-first', FailureAction: 'pause' }
  })
  t.notOk('ForceUpdate' in (plan.nextSpec.TaskTemplate as object), 'a new image needs no force')
  const same = planSwarmUpdate(readService(serviceInspect({ taskTemplate: { ForceUpdate: 3 } }))!, tasks, 'app:v1')
  t.equal((same.nextSpec.TaskTemplate as { ForceUpdate: number }).ForceUpdate, 4, 'the same image: tasks replaced anyway (--force)')
})

t.test('replacedBy and newTasks: a new task replaces its slot\'s old task (its node\'s, global)', async (t) => {
  const old = readTasks([task('o1', { slot: 1 }), task('o2', { slot: 2 }), task('og', { node: 'nodea' }), task('oh', { node: 'nodeb' })], 'app')
  const all = [...old, ...readTasks([
    task('n1', { slot: 1, image: 'app:v2' }),
    task('ng', { node: 'nodeb', image: 'app:v2' }),
    task('nx', { slot: 2, image: 'app:v2', desired: 'shutdown', state: 'failed' }),
    task('ny', { slot: 2, image: 'app:v3' })
  ], 'app')]
  const fresh = newTasks(all, old, 'app:v2')
  t.same(fresh.map((x) => x.id), ['n1', 'ng'], 'of the new image, wanted running, not an old one')
  t.same(replacedBy(fresh[0]!, old).map((x) => x.id), ['o1'])
  t.same(replacedBy(fresh[1]!, old).map((x) => x.id), ['oh'])
})

t.test('node hostnames: GET /nodes read into names, carried on the task to its target', async (t) => {
  const names = swarmNodeNames([
    { ID: 'node1', Description: { Hostname: 'manager-1' } },
    { ID: 'node2', Description: { Hostname: 'bad host<script>' } },
    { ID: 'NODE!', Description: { Hostname: 'x' } },
    { ID: 'node3' },
    7
  ])
  t.same([...names], [['node1', 'manager-1']], 'invalid ids and hostnames left out')
  t.same(swarmNodeNames({ not: 'a list' }), new Map())
  const services = [{ ID: 'svc1', Spec: { Name: 'app', Labels: {} } }]
  const tasks = ['node1', 'node2'].map((node, i) => ({
    ID: `task${i}`,
    ServiceID: 'svc1',
    Slot: i + 1,
    NodeID: node,
    DesiredState: 'running',
    Status: { State: 'running', ContainerStatus: { ContainerID: cid(i + 1) } },
    Spec: { ContainerSpec: { Env: ['VIRTUAL_HOST=app.test', 'VIRTUAL_PORT=3000'] } },
    NetworksAttachments: [{ Network: { ID: NET, Spec: { Name: 'appnet' } }, Addresses: [`10.0.1.${i + 2}/24`] }]
  }))
  const view = swarmTaskContainers(services, tasks, names)
  t.same(view.containers.map((c) => [c.name, c.nodeName]), [['app.1.task0', 'manager-1'], ['app.2.task1', '']])
  const infos = view.containers.map((c) => fromInspect(c.inspect))
  t.same(infos.map((c) => c.node), ['manager-1', undefined], 'ContainerInfo.node only where known')
  const { state } = buildDesiredState(infos, { selfNetworkIds: new Set([NET]) })
  t.same(state.routes[0]?.targets.map((x) => x.node), ['manager-1', undefined], 'the target carries it (status shows it)')
})
