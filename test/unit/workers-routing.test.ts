import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { deserialize, serialize } from 'node:v8'
import { pino } from 'pino'
import t, { type Test } from 'tap'
import { DEFAULT_HEALTH_CHECK } from '../../src/config/options.ts'
import type { DesiredState, RouteSpec, TargetSpec } from '../../src/routing/desired-state.ts'
import { Reconciler } from '../../src/routing/reconciler.ts'
import type { RouteTable } from '../../src/routing/route-table.ts'
import { RouteTableStore } from '../../src/routing/route-table-store.ts'
import { EMPTY_POLICY, type PolicySnapshot } from '../../src/traffic/policy.ts'
import type { RoutingSnapshot } from '../../src/workers/messages.ts'
import { RoutingReplica, routingSnapshot } from '../../src/workers/routing-replica.ts'

// The primary's routing sent to a worker as plain data and rebuilt there: the worker's table
// must be the primary's.

const log = pino({ level: 'silent' })
const NO_TLS = { httpsMethod: undefined, hsts: undefined, certName: undefined }
const SETTINGS = { balancing: 'round-robin' as const, defaultHost: 'a.test', drainTimeoutMs: 1_000, connectTimeoutMs: 1_000, responseTimeoutMs: 1_000 }

async function upstream (t: Test): Promise<number> {
  const server: Server = createServer((_req, res) => { res.end('ok') })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => { server.closeAllConnections(); await new Promise((resolve) => server.close(resolve)) })
  return (server.address() as AddressInfo).port
}

function target (id: string, port: number): TargetSpec {
  return {
    id: `${id}:${port}:http`, groupId: id, name: `app-${id}`, address: '127.0.0.1', port, protocol: 'http',
    health: { ...DEFAULT_HEALTH_CHECK, intervalMs: 50, timeoutMs: 1_000, healthyThreshold: 1, unhealthyThreshold: 1 }, externalHealth: 'none'
  }
}
const route = (host: string, targets: TargetSpec[], extra: Partial<RouteSpec> = {}): RouteSpec =>
  ({ host, path: '/', dest: '', internalOnly: false, tls: NO_TLS, maxBodyBytes: undefined, targets, ...extra })

/** Everything a request's routing reads from a table, as plain data. */
function projection (table: RouteTable): unknown {
  return {
    defaultHost: table.defaultHost,
    externalPorts: table.externalPorts,
    hosts: table.hosts.map((h) => ({
      host: h.host,
      externalPorts: h.externalPorts,
      tls: h.tls,
      locations: h.locations.map((l) => ({
        path: l.path, dest: l.dest, internalOnly: l.internalOnly, maxBodyBytes: l.maxBodyBytes, strategy: l.balancer.strategy,
        targets: l.balancer.targets.map((x) => ({ key: x.key, origin: x.origin, state: x.state, reason: x.stateReason, name: x.name })),
        ready: l.balancer.readyCount
      }))
    }))
  }
}

async function until (what: string, check: () => boolean, ms = 3_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

function primary (t: Test): { store: RouteTableStore, reconciler: Reconciler } {
  const store = new RouteTableStore()
  const reconciler = new Reconciler(store, SETTINGS, log)
  t.teardown(async () => { await reconciler.stop() })
  return { store, reconciler }
}

function replica (t: Test): { store: RouteTableStore, replica: RoutingReplica } {
  const store = new RouteTableStore()
  const r = new RoutingReplica(store, SETTINGS, log)
  t.teardown(async () => { await r.stop() })
  return { store, replica: r }
}

const POLICY: PolicySnapshot = { hosts: { 'a.test': { maintenance: { page: undefined, allow: ['10.0.0.0/8'], since: 1 } } } }

// The pool's IPC uses node:cluster's 'advanced' serialization (v8's), which keeps undefined fields.
const clone = (s: RoutingSnapshot): RoutingSnapshot => deserialize(serialize(s)) as RoutingSnapshot

{
  t.test('a worker builds the primary\'s table from its snapshot as sent over IPC', async (t) => {
    const port = await upstream(t)
    const p = primary(t)
    const [a, b, c] = [target('a', port), target('b', port), target('c', 1)]
    const state: DesiredState = {
      routes: [
        route('a.test', [a, b]),
        route('a.test', [b], { path: '/api', dest: '/v2', maxBodyBytes: 1024 }),
        route('*.wild.test', [a], { balancing: 'ip-hash', externalPorts: { http: 8081 } }),
        route('~^re[0-9]+\\.test$', [c], { internalOnly: true, tls: { httpsMethod: 'nohttps', hsts: 'off', certName: 'x' } }),
        route('empty.test', [])
      ]
    }
    p.reconciler.apply(state)
    // a and b pass their checks; c (port 1) does not; b is then withdrawn (Docker's stop signal).
    await until('a and b ready', () => p.reconciler.targets().filter((x) => x.routable).length === 2)
    p.reconciler.withdraw('b', 'container stopping')
    const snapshot = routingSnapshot(1, p.reconciler, POLICY)
    const w = replica(t)
    w.replica.apply(clone(snapshot))
    t.same(projection(w.store.current), projection(p.store.current), 'same hosts, locations, targets, states, balancing')
    t.same(w.store.current.lookup('x.wild.test')?.host, '*.wild.test')
    t.same(w.store.current.lookup('re12.test')?.host, '~^re[0-9]+\\.test$')
    t.same(clone(snapshot).policy, POLICY, 'the policy snapshot travels as it is')
    t.equal(w.store.current.hosts[0]!.locations[0]!.balancer.pick()?.key, p.store.current.hosts[0]!.locations[0]!.balancer.pick()?.key, 'the ready target picked is the same')
  })
}

t.test('a state change alone keeps the worker\'s table and Targets; a table change swaps it and disposes the targets gone', async (t) => {
  const port = await upstream(t)
  const p = primary(t)
  const w = replica(t)
  p.reconciler.apply({ routes: [route('a.test', [target('a', port), target('b', port)])] })
  w.replica.apply(routingSnapshot(1, p.reconciler, EMPTY_POLICY))
  t.equal(w.store.swaps, 1)
  const before = w.store.current
  const targetsBefore = before.hosts[0]!.locations[0]!.balancer.targets
  t.equal(before.hosts[0]!.locations[0]!.balancer.readyCount, 0, 'starting: not routable')

  await until('both ready', () => p.reconciler.targets().every((x) => x.routable))
  w.replica.apply(routingSnapshot(1, p.reconciler, EMPTY_POLICY))
  t.equal(w.store.swaps, 1, 'no swap for a state change')
  t.equal(w.store.current, before)
  t.equal(before.hosts[0]!.locations[0]!.balancer.readyCount, 2, 'the states followed the primary\'s')

  p.reconciler.apply({ routes: [route('a.test', [target('a', port)])] })
  w.replica.apply(routingSnapshot(2, p.reconciler, EMPTY_POLICY))
  t.equal(w.store.swaps, 2)
  const after = w.store.current.hosts[0]!.locations[0]!.balancer.targets
  t.equal(after.length, 1)
  t.equal(after[0], targetsBefore.find((x) => x.groupId === 'a'), 'the kept target is the same object (its pool survives)')
  const gone = targetsBefore.find((x) => x.groupId === 'b')!
  await until('b disposed', () => gone.pool.closed)
  t.equal(gone.state, 'draining')
})

t.test('a worker\'s drain waits for its own in-flight requests on the group\'s targets', async (t) => {
  const port = await upstream(t)
  const p = primary(t)
  const w = replica(t)
  p.reconciler.apply({ routes: [route('a.test', [target('a', port), target('b', port)])] })
  await until('ready', () => p.reconciler.targets().every((x) => x.routable))
  w.replica.apply(routingSnapshot(1, p.reconciler, EMPTY_POLICY))
  const a = w.store.current.hosts[0]!.locations[0]!.balancer.targets.find((x) => x.groupId === 'a')!
  a.requestStarted()
  a.requestStarted()
  t.same(w.replica.load().find((l) => l.key === a.key), { key: a.key, inflight: 2, longLived: 0 })
  let settled = false
  const drained = w.replica.drain('a', 2_000, 100).then((r) => { settled = true; return r })
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.equal(settled, false, 'still waiting with requests in flight')
  t.equal(a.routable, false, 'out of rotation at once')
  a.requestFinished()
  a.requestFinished()
  const results = await drained
  t.equal(results.length, 1)
  t.equal(results[0]!.drained, true)
  t.equal(results[0]!.inflightLeft, 0)
  t.same(await w.replica.drain('nobody', 1_000, 0), [], 'a group the worker does not route: nothing to wait for')
})
