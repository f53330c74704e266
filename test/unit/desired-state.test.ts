import t from 'tap'
import { DEFAULT_HEALTH_CHECK } from '../../src/config/options.ts'
import type { ContainerInfo } from '../../src/docker/container-info.ts'
import { buildDesiredState } from '../../src/docker/desired-state-builder.ts'

function c (id: string, env: Record<string, string>, extra: Partial<ContainerInfo> = {}): ContainerInfo {
  return {
    id, name: `app-${id}`, running: true, env, labels: {}, exposedPorts: [3000],
    networks: [{ name: 'proj_default', id: 'net1', ipAddress: `172.20.0.${id.length + 1}` }], networkMode: 'bridge', health: 'none', ...extra
  }
}
const NO_TLS = { httpsMethod: undefined, hsts: undefined, certName: undefined }
const target = (id: string, ip: string, port = 3000, extra: object = {}) => ({
  id: `${id}:${port}:http`, groupId: id, name: `app-${id}`, address: ip, port, protocol: 'http', health: DEFAULT_HEALTH_CHECK, externalHealth: 'none', ...extra
})

t.test('table building from container descriptions', async (t) => {
  const cases = [
    {
      desc: 'two replicas of one host share a route',
      in: [c('a', { VIRTUAL_HOST: 'x.com' }), c('bb', { VIRTUAL_HOST: 'x.com' })],
      want: { routes: [{ host: 'x.com', path: '/', dest: '', internalOnly: false, tls: NO_TLS, targets: [target('a', '172.20.0.2'), target('bb', '172.20.0.3')] }] },
      problems: 0
    },
    {
      desc: 'a bad container is skipped, the rest still routed',
      in: [c('a', { VIRTUAL_HOST: 'x.com' }), c('bb', { VIRTUAL_HOST: 'y.com', VIRTUAL_PORT: 'nope' }), c('ccc', { OTHER: '1' })],
      want: { routes: [{ host: 'x.com', path: '/', dest: '', internalOnly: false, tls: NO_TLS, targets: [target('a', '172.20.0.2')] }] },
      problems: 1
    },
    {
      desc: 'stopped containers are not routed',
      in: [c('a', { VIRTUAL_HOST: 'x.com' }, { running: false })],
      want: { routes: [] },
      problems: 0
    },
    {
      desc: 'Docker health is carried for admission',
      in: [c('a', { VIRTUAL_HOST: 'x.com' }, { health: 'starting' })],
      want: { routes: [{ host: 'x.com', path: '/', dest: '', internalOnly: false, tls: NO_TLS, targets: [target('a', '172.20.0.2', 3000, { externalHealth: 'starting' })] }] },
      problems: 0
    },
    {
      desc: 'conflicting per-host settings: warn, first container (by name) wins',
      in: [c('bb', { VIRTUAL_HOST: 'x.com', NETWORK_ACCESS: 'internal' }), c('a', { VIRTUAL_HOST: 'x.com' })],
      want: { routes: [{ host: 'x.com', path: '/', dest: '', internalOnly: false, tls: NO_TLS, targets: [target('a', '172.20.0.2'), target('bb', '172.20.0.3')] }] },
      problems: 1
    },
    {
      desc: 'proxyctl.max-body-size is carried to the route',
      in: [c('a', { VIRTUAL_HOST: 'x.com' }, { labels: { 'proxyctl.max-body-size': '1m' } })],
      want: { routes: [{ host: 'x.com', path: '/', dest: '', internalOnly: false, tls: NO_TLS, maxBodyBytes: 1048576, targets: [target('a', '172.20.0.2')] }] },
      problems: 0
    },
    {
      desc: 'replicas disagreeing on max-body-size: the smallest limit wins, with a warning',
      in: [
        c('a', { VIRTUAL_HOST: 'x.com' }, { labels: { 'proxyctl.max-body-size': '10m' } }),
        c('bb', { VIRTUAL_HOST: 'x.com' }),
        c('ccc', { VIRTUAL_HOST: 'x.com' }, { labels: { 'proxyctl.max-body-size': '1k' } })
      ],
      want: { routes: [{ host: 'x.com', path: '/', dest: '', internalOnly: false, tls: NO_TLS, maxBodyBytes: 1024, targets: [target('a', '172.20.0.2'), target('bb', '172.20.0.3'), target('ccc', '172.20.0.4')] }] },
      problems: 2 // one per replica that disagrees with the limit so far
    },
    {
      desc: 'a container with an unsafe VIRTUAL_DEST is skipped, its replica still routed',
      in: [c('a', { VIRTUAL_HOST: 'x.com', VIRTUAL_DEST: '/v1\r\nX-Evil: 1' }), c('bb', { VIRTUAL_HOST: 'x.com' })],
      want: { routes: [{ host: 'x.com', path: '/', dest: '', internalOnly: false, tls: NO_TLS, maxBodyBytes: undefined, targets: [target('bb', '172.20.0.3')] }] },
      problems: 1
    }
  ]
  for (const k of cases) {
    const r = buildDesiredState(k.in)
    t.same(r.state, k.want, k.desc)
    t.equal(r.problems.length, k.problems, `${k.desc}: problems`)
    for (const p of r.problems) t.notMatch(p.message, /[\r\n]/, `${k.desc}: one log line`)
  }
})

t.test('in a container, only apps on a shared network get upstreams, by that network address; the others keep their host (502)', async (t) => {
  const multi = c('a', { VIRTUAL_HOST: 'x.com' }, {
    networks: [{ name: 'backend', id: 'netB', ipAddress: '10.1.0.5' }, { name: 'front', id: 'netF', ipAddress: '10.2.0.5' }]
  })
  const lonely = c('bb', { VIRTUAL_HOST: 'y.com' }, { networks: [{ name: 'other', id: 'netO', ipAddress: '10.3.0.5' }] })
  const r = buildDesiredState([multi, lonely, c('self', {}, { id: 'self' })], { selfId: 'self', selfNetworkIds: new Set(['netF']) })
  t.same(r.state.routes.map((x) => [x.host, x.targets.map((y) => y.address)]), [['x.com', ['10.2.0.5']], ['y.com', []]])
  t.equal(r.problems.length, 1)
  t.match(r.problems[0]?.message, /shares no network/)
})
