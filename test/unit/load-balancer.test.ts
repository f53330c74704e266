import t, { type Test } from 'tap'
import { DEFAULT_HEALTH_CHECK } from '../../src/config/options.ts'
import { ipHashKey, LoadBalancer, type LoadBalancing } from '../../src/routing/load-balancer.ts'
import { Target } from '../../src/routing/target.ts'

// LoadBalancer.pick over real Targets made ready by one passing health result (no sockets).

const POOL = { connectTimeoutMs: 1_000, responseTimeoutMs: 1_000 }
const PASS = { ok: true, at: '', detail: 'ok', durationMs: 1 }

function targets (t: Test, n: number, ready = true): Target[] {
  const out: Target[] = []
  for (let i = 0; i < n; i++) {
    const target = new Target({
      id: `c${i}:80:http`, groupId: `c${i}`, name: `app-${i}`, address: `10.0.0.${i + 1}`, port: 80, protocol: 'http',
      health: { ...DEFAULT_HEALTH_CHECK, healthyThreshold: 1, unhealthyThreshold: 1 }, externalHealth: 'none'
    }, POOL, () => {})
    if (ready) target.healthCheckCompleted(PASS)
    t.teardown(async () => { await target.pool.destroy() })
    out.push(target)
  }
  return out
}

const names = (picks: Array<Target | undefined>): string[] => picks.map((p) => p?.name ?? '-')
const pickN = (lb: LoadBalancer, n: number, exclude?: ReadonlySet<Target>, client?: string): string[] =>
  names(Array.from({ length: n }, () => lb.pick(exclude, client)))

t.test('round-robin cycles through the ready targets in order', async (t) => {
  const lb = new LoadBalancer(targets(t, 3), 'round-robin')
  t.same(pickN(lb, 7), ['app-0', 'app-1', 'app-2', 'app-0', 'app-1', 'app-2', 'app-0'])
})

t.test('round-robin ignores in-flight counts', async (t) => {
  const ts = targets(t, 2)
  ts[0]!.requestStarted()
  ts[0]!.requestStarted()
  const lb = new LoadBalancer(ts, 'round-robin')
  t.same(pickN(lb, 4), ['app-0', 'app-1', 'app-0', 'app-1'])
})

t.test('least-outstanding picks the target with the fewest requests in flight', async (t) => {
  const ts = targets(t, 3)
  ts[0]!.requestStarted()
  ts[0]!.requestStarted()
  ts[1]!.requestStarted()
  const lb = new LoadBalancer(ts, 'least-outstanding')
  t.same(pickN(lb, 4), ['app-2', 'app-2', 'app-2', 'app-2'], 'the free one, whatever the rotation')
  ts[2]!.requestStarted()
  ts[2]!.requestStarted()
  t.same(pickN(lb, 3), ['app-1', 'app-1', 'app-1'], 'now the one with a single request')
})

t.test('least-outstanding spreads ties round-robin', async (t) => {
  const lb = new LoadBalancer(targets(t, 3), 'least-outstanding')
  t.same(pickN(lb, 6), ['app-0', 'app-1', 'app-2', 'app-0', 'app-1', 'app-2'])
})

t.test('only ready targets are picked; state changes are seen on the next pick', async (t) => {
  const ts = targets(t, 3)
  const lb = new LoadBalancer(ts, 'round-robin')
  t.equal(lb.readyCount, 3)
  ts[1]!.withdraw('kill')
  t.equal(lb.readyCount, 2)
  t.same(pickN(lb, 4), ['app-0', 'app-2', 'app-0', 'app-2'])
  ts[0]!.healthCheckCompleted({ ...PASS, ok: false })
  t.equal(ts[0]!.state, 'unhealthy')
  t.same(pickN(lb, 2), ['app-2', 'app-2'])
  ts[2]!.withdraw('kill')
  t.equal(lb.readyCount, 0)
  t.equal(lb.pick(), undefined, 'nothing ready: no target')
  ts[0]!.healthCheckCompleted(PASS)
  t.same(pickN(lb, 2), ['app-0', 'app-0'], 'a target back to ready is picked again')

  const starting = new LoadBalancer(targets(t, 2, false), 'least-outstanding')
  t.equal(starting.pick(), undefined, 'starting targets are not routable')
})

for (const strategy of ['round-robin', 'least-outstanding', 'ip-hash'] as LoadBalancing[]) {
  t.test(`${strategy}: the tried set is skipped, undefined once every ready target was tried`, async (t) => {
    const ts = targets(t, 3)
    const lb = new LoadBalancer(ts, strategy)
    const tried = new Set<Target>()
    const order: string[] = []
    for (let i = 0; i < 3; i++) {
      const p = lb.pick(tried, '192.0.2.7')
      t.ok(p !== undefined && !tried.has(p), `pick ${i + 1} is a target not tried yet`)
      tried.add(p!)
      order.push(p!.name)
    }
    t.same([...order].sort(), ['app-0', 'app-1', 'app-2'], 'each target once')
    t.equal(lb.pick(tried, '192.0.2.7'), undefined)
  })
}

t.test('ip-hash: a client keeps its target; the /24 is the key (nginx ip_hash); clients spread', async (t) => {
  const ts = targets(t, 4)
  const lb = new LoadBalancer(ts, 'ip-hash')
  const seen = new Map<string, number>()
  for (let i = 0; i < 64; i++) {
    const client = `198.51.${i}.10`
    const first = lb.pick(undefined, client)!
    t.equal(lb.pick(undefined, client), first, `${client} again`)
    t.equal(lb.pick(undefined, `198.51.${i}.200`), first, `the same /24 as ${client}`)
    seen.set(first.name, (seen.get(first.name) ?? 0) + 1)
  }
  t.equal(seen.size, 4, `64 networks reach all four targets (${JSON.stringify([...seen])})`)
  for (const [, n] of seen) t.ok(n >= 4, 'none starved')
})

t.test('remote-addr-hash keys on the whole address', async (t) => {
  const lb = new LoadBalancer(targets(t, 4), 'remote-addr-hash')
  const within24 = new Set<string>()
  for (let i = 1; i <= 40; i++) {
    const client = `203.0.113.${i}`
    const p = lb.pick(undefined, client)!
    t.equal(lb.pick(undefined, client), p)
    within24.add(p.name)
  }
  t.ok(within24.size > 1, `addresses of one /24 spread over ${within24.size} targets`)
})

t.test('affinity: only the clients of a target that goes away move, and they come back', async (t) => {
  const ts = targets(t, 3)
  const lb = new LoadBalancer(ts, 'ip-hash')
  const clients = Array.from({ length: 60 }, (_, i) => `192.0.${i}.1`)
  const before = new Map(clients.map((c) => [c, lb.pick(undefined, c)!]))
  const gone = ts[1]!
  gone.withdraw('kill')
  let moved = 0
  for (const c of clients) {
    const now = lb.pick(undefined, c)!
    t.not(now, gone)
    if (before.get(c) === gone) moved++
    else t.equal(now, before.get(c), `${c} stays where it was`)
  }
  t.ok(moved > 0, `${moved} clients were on the withdrawn target`)
  gone.restore('start')
  gone.healthCheckCompleted(PASS)
  for (const c of clients) t.equal(lb.pick(undefined, c), before.get(c), `${c} back on its target`)
})

t.test('affinity without a client address falls back to least-outstanding', async (t) => {
  const ts = targets(t, 2)
  ts[0]!.requestStarted()
  const lb = new LoadBalancer(ts, 'ip-hash')
  t.same(pickN(lb, 3), ['app-1', 'app-1', 'app-1'])
})

t.test('ipHashKey: IPv4 (and IPv4-mapped) by its first three octets, IPv6 whole and lower-cased', async (t) => {
  t.equal(ipHashKey('10.1.2.3'), '10.1.2')
  t.equal(ipHashKey('::ffff:10.1.2.3'), '10.1.2')
  t.equal(ipHashKey('::FFFF:10.1.2.3'), '10.1.2')
  t.equal(ipHashKey('2001:DB8::1'), '2001:db8::1')
})
