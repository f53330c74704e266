import t from 'tap'
import { LoadBalancer } from '../../src/routing/load-balancer.ts'
import { HostRoutes, RouteTable, type Location } from '../../src/routing/route-table.ts'

const lb = new LoadBalancer([], 'round-robin')
const loc = (host: string, path = '/'): Location => ({ host, path, dest: '', internalOnly: false, tls: { httpsMethod: undefined, hsts: undefined, certName: undefined }, maxBodyBytes: undefined, balancer: lb })
const table = (hosts: string[], defaultHost?: string): RouteTable =>
  new RouteTable(hosts.map((h) => new HostRoutes(h, [loc(h)])), defaultHost)

t.test('host precedence: exact, then leading wildcard (longest), trailing wildcard (longest), regex', async (t) => {
  const rt = table([
    'api.example.com', '*.example.com', '*.eu.example.com', 'api.*', 'api.example.*', '~^api', '~^www\\.[a-z]+\\.org$'
  ])
  const cases: Array<[string, string | undefined]> = [
    ['api.example.com', 'api.example.com'],
    ['x.example.com', '*.example.com'],
    ['a.b.example.com', '*.example.com'],
    ['x.eu.example.com', '*.eu.example.com'],
    ['example.com', undefined],
    ['api.example.org', 'api.example.*'],
    ['api.other.net', 'api.*'],
    ['apix.net', '~^api'],
    ['www.foo.org', '~^www\\.[a-z]+\\.org$'],
    ['www.foo.com', undefined]
  ]
  for (const [host, want] of cases) t.equal(rt.lookup(host)?.host, want, host)
})

t.test('DEFAULT_HOST catches unknown hosts, exact names still win', async (t) => {
  const rt = table(['a.com', 'b.com'], 'b.com')
  t.equal(rt.resolve('a.com')?.host, 'a.com')
  t.equal(rt.resolve('nope.com')?.host, 'b.com')
  t.equal(table(['a.com']).resolve('nope.com'), undefined)
  t.equal(table(['a.com'], 'missing.com').resolve('nope.com'), undefined)
})

t.test('longest VIRTUAL_PATH prefix wins, nginx prefix semantics', async (t) => {
  const h = new HostRoutes('a.com', [loc('a.com', '/'), loc('a.com', '/api'), loc('a.com', '/api/v2')])
  t.equal(h.match('/')?.path, '/')
  t.equal(h.match('/api')?.path, '/api')
  t.equal(h.match('/apix')?.path, '/api')
  t.equal(h.match('/api/v2/users')?.path, '/api/v2')
  t.equal(h.match('/other')?.path, '/')
  const noRoot = new HostRoutes('a.com', [loc('a.com', '/api')])
  t.equal(noRoot.match('/other'), undefined)
})

t.test('the table is frozen', async (t) => {
  const rt = table(['a.com'])
  t.ok(Object.isFrozen(rt))
  t.ok(Object.isFrozen(rt.hosts))
})
