import t from 'tap'
import { request } from 'undici'
import { DEFAULT_HEALTH_CHECK } from '../../src/config/options.ts'
import type { ContainerInfo } from '../../src/docker/container-info.ts'
import { buildDesiredState } from '../../src/docker/desired-state-builder.ts'
import { KEEPALIVE_LABEL, LOADBALANCE_LABEL, parseKeepalive, parseLoadbalance } from '../../src/docker/upstream-labels.ts'
import { LoadBalancer, ipHashKey, type LoadBalancing } from '../../src/routing/load-balancer.ts'
import { Target } from '../../src/routing/target.ts'

function c (id: string, labels: Record<string, string>, host = 'x.com'): ContainerInfo {
  return {
    id, name: `app-${id}`, running: true, env: { VIRTUAL_HOST: host }, labels, exposedPorts: [3000],
    networks: [{ name: 'n', id: 'net1', ipAddress: `172.20.0.${id.length + 1}` }], networkMode: 'bridge', health: 'none'
  }
}

t.test('loadbalance label values as nginx-proxy pastes them into the upstream block', async (t) => {
  const cases: Array<[string, LoadBalancing | undefined | 'warn']> = [
    ['least_conn;', 'least-outstanding'],
    ['  least_conn ;\n', 'least-outstanding'],
    ['ip_hash;', 'ip-hash'],
    ['hash $remote_addr;', 'remote-addr-hash'],
    ['hash  $remote_addr   consistent;', 'remote-addr-hash'],
    ['', undefined],
    ['hash $request_uri consistent;', 'warn'],
    ['random two least_conn;', 'warn'],
    ['least_conn; ip_hash;', 'warn'],
    ['round_robin;', 'warn']
  ]
  for (const [raw, want] of cases) {
    const got = parseLoadbalance(raw)
    t.same('warning' in got ? 'warn' : got.balancing, want, JSON.stringify(raw))
  }
})

t.test('keepalive label: auto and numbers keep connections, disabled closes them, the rest warns', async (t) => {
  t.same(parseKeepalive('auto'), { keepAlive: true })
  t.same(parseKeepalive('32'), { keepAlive: true })
  t.same(parseKeepalive('disabled'), { keepAlive: false })
  t.ok('warning' in parseKeepalive('off'))
  t.ok('warning' in parseKeepalive('0'))
})

t.test('labels per location: the first value in sort order applies, disagreement warned', async (t) => {
  const { state, problems } = buildDesiredState([
    c('a', { [LOADBALANCE_LABEL]: 'least_conn;', [KEEPALIVE_LABEL]: 'disabled' }),
    c('bb', { [LOADBALANCE_LABEL]: 'ip_hash;' }),
    c('ccc', {}, 'y.com')
  ])
  const x = state.routes.find((r) => r.host === 'x.com')
  t.equal(x?.balancing, 'ip-hash', '"ip_hash;" sorts before "least_conn;"')
  t.same(x?.targets.map((s) => [s.id, s.keepAlive]), [['a:3000:http:close', false], ['bb:3000:http:close', false]], 'disabled applies to the whole location')
  t.equal(state.routes.find((r) => r.host === 'y.com')?.balancing, undefined, 'no label: the proxy-wide strategy')
  t.same(problems.map((p) => p.level), ['warn'])
  t.match(problems[0]?.message, /loadbalance differs/)
  const bad = buildDesiredState([c('a', { [LOADBALANCE_LABEL]: 'hash $cookie_id;' })])
  t.equal(bad.state.routes[0]?.balancing, undefined)
  t.match(bad.problems[0]?.message, /the proxy's --balancing applies/)
})

t.test('ip_hash keys on the /24 of IPv4 (mapped too) and the whole IPv6 address', async (t) => {
  t.equal(ipHashKey('10.1.2.3'), '10.1.2')
  t.equal(ipHashKey('::ffff:10.1.2.200'), '10.1.2')
  t.equal(ipHashKey('2001:DB8::1'), '2001:db8::1')
})

t.test('client-address affinity: an address keeps its ready target and moves when it is not ready', async (t) => {
  const targets = ['a', 'b', 'c', 'd'].map((id, i) => new Target({
    id: `${id}:80:http`, groupId: id, name: id, address: '127.0.0.1', port: 1 + i, protocol: 'http', health: DEFAULT_HEALTH_CHECK, externalHealth: 'none'
  }, { connectTimeoutMs: 100, responseTimeoutMs: 100 }, () => {}))
  t.teardown(async () => { await Promise.all(targets.map(async (x) => { await x.pool.destroy() })) })
  const ok = { ok: true, at: '', detail: '', durationMs: 0 }
  const fail = { ...ok, ok: false }
  for (const x of targets) x.healthCheckCompleted(ok)
  const lb = new LoadBalancer(targets, 'remote-addr-hash')
  const clients = Array.from({ length: 64 }, (_, i) => `192.0.2.${i}`)
  const first = new Map(clients.map((a) => [a, lb.pick(undefined, a)]))
  for (const a of clients) t.equal(lb.pick(undefined, a), first.get(a), `${a} keeps its target`)
  t.ok(new Set(first.values()).size > 1, 'addresses spread over the targets')

  const down = first.get(clients[0]!)!
  down.healthCheckCompleted(fail)
  down.healthCheckCompleted(fail)
  t.equal(down.state, 'unhealthy')
  for (const a of clients) {
    const now = lb.pick(undefined, a)
    if (first.get(a) === down) t.not(now, down, `${a} moved off the unready target`)
    else t.equal(now, first.get(a), `${a} unaffected by another target leaving`)
  }
  down.healthCheckCompleted(ok)
  t.equal(lb.pick(undefined, clients[0]), down, 'back on its target once it is ready again')

  // A retry excludes the target that failed: the next choice, still per address.
  const excluded = lb.pick(new Set([down]), clients[0])
  t.not(excluded, down)
  t.equal(lb.pick(new Set([down]), clients[0]), excluded)

  const ipHash = new LoadBalancer(targets, 'ip-hash')
  t.equal(ipHash.pick(undefined, '198.51.100.7'), ipHash.pick(undefined, '198.51.100.200'), 'ip_hash: one /24, one target')
})

t.test('keepalive disabled: Connection: close and a connection per request; on by default', async (t) => {
  const { createServer } = await import('node:http')
  const seen: Array<{ connection: string | undefined, port: number | undefined }> = []
  const server = createServer((req, res) => { seen.push({ connection: req.headers.connection, port: req.socket.remotePort }); res.end('ok') })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  const port = (server.address() as { port: number }).port
  const make = (keepAlive: boolean | undefined): Target => new Target({
    id: 'k', groupId: 'k', name: 'k', address: '127.0.0.1', port, protocol: 'http', health: DEFAULT_HEALTH_CHECK, externalHealth: 'none', keepAlive
  }, { connectTimeoutMs: 1000, responseTimeoutMs: 1000 }, () => {})
  for (const [keepAlive, wantHeader, wantSockets] of [[false, 'close', 2], [undefined, 'keep-alive', undefined]] as const) {
    seen.length = 0
    const target = make(keepAlive)
    for (let i = 0; i < 2; i++) await (await request(target.origin, { dispatcher: target.pool })).body.text()
    await target.pool.destroy()
    t.same(seen.map((s) => s.connection), [wantHeader, wantHeader], `keepAlive ${String(keepAlive)}: Connection header`)
    // (With keep-alive undici's pool may still open a second connection: only the close case is counted.)
    if (wantSockets !== undefined) t.equal(new Set(seen.map((s) => s.port)).size, wantSockets, 'a connection per request')
  }
})
