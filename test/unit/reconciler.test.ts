import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { pino } from 'pino'
import t, { type Test } from 'tap'
import { DEFAULT_HEALTH_CHECK } from '../../src/config/options.ts'
import type { DesiredState, RouteSpec, TargetSpec } from '../../src/routing/desired-state.ts'
import { Reconciler } from '../../src/routing/reconciler.ts'
import { RouteTableStore } from '../../src/routing/route-table-store.ts'
import type { Target, TargetStateChange } from '../../src/routing/target.ts'

// Reconciler against a real upstream on 127.0.0.1:0, which its health checks probe.

const log = pino({ level: 'silent' })
const NO_TLS = { httpsMethod: undefined, hsts: undefined, certName: undefined }

interface Upstream { port: number, hosts: string[] }

async function upstream (t: Test): Promise<Upstream> {
  const hosts: string[] = []
  const server: Server = createServer((req, res) => { hosts.push(req.headers.host ?? ''); res.end('ok') })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => { server.closeAllConnections(); await new Promise((resolve) => server.close(resolve)) })
  return { port: (server.address() as AddressInfo).port, hosts }
}

function target (id: string, port: number, extra: Partial<TargetSpec> = {}): TargetSpec {
  return {
    id: `${id}:${port}:http`, groupId: id, name: `app-${id}`, address: '127.0.0.1', port, protocol: 'http',
    health: { ...DEFAULT_HEALTH_CHECK, intervalMs: 100, timeoutMs: 1_000, healthyThreshold: 1, unhealthyThreshold: 1 }, externalHealth: 'none', ...extra
  }
}
const route = (host: string, targets: TargetSpec[], path = '/'): RouteSpec =>
  ({ host, path, dest: '', internalOnly: false, tls: NO_TLS, maxBodyBytes: undefined, targets })

function setup (t: Test, drainTimeoutMs = 2_000): { store: RouteTableStore, reconciler: Reconciler, changes: TargetStateChange[], observed: boolean[] } {
  const store = new RouteTableStore()
  const observed: boolean[] = []
  const reconciler = new Reconciler(store, { balancing: 'round-robin', defaultHost: undefined, drainTimeoutMs, connectTimeoutMs: 1_000, responseTimeoutMs: 1_000 }, log, (ok) => { observed.push(ok) })
  const changes: TargetStateChange[] = []
  reconciler.onTargetStateChanged((c) => { changes.push(c) })
  t.teardown(async () => { await reconciler.stop() })
  return { store, reconciler, changes, observed }
}

const balancerOf = (store: RouteTableStore, host: string, path = '/') => store.current.lookup(host)?.match(path)?.balancer

/** Resolves when `check` holds, polled every 10 ms; rejects after `ms`. */
async function until (what: string, check: () => boolean, ms = 3_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

t.test('apply builds the table; a target shared by routes is one Target; health checks admit it with the route host', async (t) => {
  const up = await upstream(t)
  const { store, reconciler, changes, observed } = setup(t)
  const spec = target('a', up.port)
  const state: DesiredState = { routes: [route('a.test', [spec]), route('a.test', [spec], '/api'), route('*.wild.test', [spec])] }
  reconciler.apply(state)
  const root = balancerOf(store, 'a.test')!
  const api = balancerOf(store, 'a.test', '/api/x')!
  t.not(root, api, 'a balancer per location')
  t.equal(root.targets.length, 1)
  t.equal(root.targets[0], api.targets[0], 'the same Target object in both locations')
  t.equal(balancerOf(store, 'x.wild.test')!.targets[0], root.targets[0])
  t.equal(reconciler.targets().length, 1)
  await until('ready', () => root.targets[0]!.state === 'ready')
  t.same(changes.map((c) => [c.target.name, c.from, c.to]), [['app-a', 'starting', 'ready']])
  t.equal(up.hosts[0], 'a.test', 'the probe names the route (exact, not wildcard) host')
  t.equal(observed[0], true, 'probe results reach the observer')
  t.equal(root.pick(), root.targets[0])
})

t.test('a re-apply keeps Targets by key (state and pool survive); a changed spec is taken', async (t) => {
  const up = await upstream(t)
  const { store, reconciler } = setup(t)
  reconciler.apply({ routes: [route('a.test', [target('a', up.port)])] })
  const first = balancerOf(store, 'a.test')!.targets[0]!
  await until('ready', () => first.state === 'ready')
  const pool = first.pool

  reconciler.apply({ routes: [route('a.test', [target('a', up.port, { name: 'renamed' })]), route('b.test', [target('a', up.port)])] })
  const again = balancerOf(store, 'a.test')!.targets[0]!
  t.equal(again, first, 'the same Target in the next table')
  t.equal(again.pool, pool, 'with its pool')
  t.equal(again.state, 'ready', 'and its admission: no re-probe needed')
  t.equal(again.name, 'renamed', 'the new spec is applied')
  t.equal(balancerOf(store, 'b.test')!.targets[0], first, 'a new route reuses it too')
  t.equal(balancerOf(store, 'b.test')!.pick(), first, 'and routes to it at once')

  reconciler.apply({ routes: [route('a.test', [target('a', up.port, { externalHealth: 'unhealthy' })])] })
  t.equal(first.state, 'unhealthy', 'updateSpec ran: Docker health reached the reused Target')

  const moved = target('a', up.port, { address: '127.0.0.2' })
  reconciler.apply({ routes: [route('a.test', [moved])] })
  const other = balancerOf(store, 'a.test')!.targets[0]!
  t.not(other, first, 'a new address is a new key: a new Target')
  t.equal(other.state, 'starting')
})

t.test('a target left out of the next table drains: out of rotation at once, pool closed when idle', async (t) => {
  const up = await upstream(t)
  const { store, reconciler, changes } = setup(t)
  reconciler.apply({ routes: [route('a.test', [target('a', up.port), target('b', up.port)])] })
  const [a, b] = balancerOf(store, 'a.test')!.targets as [Target, Target]
  await until('both ready', () => a.state === 'ready' && b.state === 'ready')
  b.requestStarted()
  const closes: string[] = []
  const close = b.pool.close.bind(b.pool) as (...args: unknown[]) => unknown
  Object.assign(b.pool, { close: (...args: unknown[]) => { closes.push('close'); return close(...args) } })

  reconciler.apply({ routes: [route('a.test', [target('a', up.port)])] })
  t.equal(b.state, 'draining')
  t.same(changes.filter((c) => c.target === b).map((c) => c.to), ['ready', 'draining'])
  t.same(reconciler.targets(), [a], 'no longer live')
  t.same(balancerOf(store, 'a.test')!.targets, [a])
  await new Promise((resolve) => setImmediate(resolve))
  t.same(closes, [], 'the pool stays open while a request is in flight')
  b.requestFinished()
  await until('pool closed', () => closes.length > 0)
  t.equal(b.pool.closed, true)
  t.equal(a.pool.closed, false, 'the kept target keeps its pool')
  const probes = up.hosts.length
  await until('a probes on', () => up.hosts.length > probes + 1)
})

t.test('a removed target still busy after drainTimeoutMs has its pool destroyed', async (t) => {
  const up = await upstream(t)
  const { store, reconciler } = setup(t, 150)
  reconciler.apply({ routes: [route('a.test', [target('a', up.port)])] })
  const a = balancerOf(store, 'a.test')!.targets[0]!
  a.requestStarted()
  const started = Date.now()
  reconciler.apply({ routes: [] })
  t.equal(store.current.lookup('a.test'), undefined)
  await until('pool destroyed', () => a.pool.destroyed, 2_000)
  t.ok(Date.now() - started >= 140, `after the drain timeout (${Date.now() - started} ms)`)
})

t.test('withdraw, restore and drain address every Target of a container', async (t) => {
  const up = await upstream(t)
  const { store, reconciler } = setup(t)
  reconciler.apply({ routes: [route('a.test', [target('a', up.port), target('b', up.port)]), route('a2.test', [{ ...target('a', up.port), id: `a:${up.port}:https`, protocol: 'http' }])] })
  const all = reconciler.targets()
  t.equal(all.length, 3)
  await until('all ready', () => all.every((x) => x.state === 'ready'))
  reconciler.withdraw('a', 'kill SIGTERM')
  t.same(all.map((x) => `${x.groupId}:${x.state}`).sort(), ['a:draining', 'a:draining', 'b:ready'])
  reconciler.restore('a', 'start event')
  t.same(all.map((x) => `${x.groupId}:${x.state}`).sort(), ['a:starting', 'a:starting', 'b:ready'])
  await until('a re-admitted', () => all.every((x) => x.state === 'ready'))
  t.equal(balancerOf(store, 'a.test')!.readyCount, 2)

  const a = all.find((x) => x.groupId === 'a')!
  a.requestStarted()
  const draining = reconciler.drain('a', 2_000, 2_000)
  a.requestFinished()
  const r = await draining
  t.equal(r?.drained, true)
  t.equal(r?.inflightLeft, 0)
  t.equal(await reconciler.drain('nope', 100, 100), undefined, 'an unknown container')
})

t.test('stop destroys every pool and stops the probes', async (t) => {
  const up = await upstream(t)
  const { store, reconciler, observed } = setup(t)
  reconciler.apply({ routes: [route('a.test', [target('a', up.port)])] })
  const a = balancerOf(store, 'a.test')!.targets[0]!
  await until('probed', () => observed.length > 0)
  await reconciler.stop()
  t.equal(a.pool.destroyed, true)
  t.same(reconciler.targets(), [])
  const probes = observed.length
  await new Promise((resolve) => setTimeout(resolve, 350))
  t.equal(observed.length, probes, 'no probe result after stop (interval 100 ms, waited 350 ms)')
})
