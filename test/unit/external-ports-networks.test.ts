import t from 'tap'
import type { ContainerInfo } from '../../src/docker/container-info.ts'
import { buildDesiredState } from '../../src/docker/desired-state-builder.ts'
import { parseContainer } from '../../src/docker/virtual-host.ts'

// issue 15, items 4 and 5: nginx-proxy's per-host external ports and host-network containers.

function container (env: Record<string, string>, extra: Partial<ContainerInfo> = {}): ContainerInfo {
  return {
    id: 'c1', name: 'app-1', running: true, env, labels: {}, exposedPorts: [3000], networks: [{ name: 'n', id: 'n1', ipAddress: '172.20.0.2' }], networkMode: 'bridge', health: 'none', ...extra
  }
}

function entries (c: ContainerInfo): unknown {
  const r = parseContainer(c)
  return r.kind === 'ok' ? r.routes.entries.map(({ host, path, port, externalPorts }) => ({ host, path, port, externalPorts })) : r
}

t.test('VIRTUAL_HOST_MULTIPORTS: {} for a host means the defaults, in JSON as in YAML', async (t) => {
  const cases = [
    { desc: 'JSON {}', env: '{"a.com": {}, "b.com": {"/api": {"port": 81}}}' },
    { desc: 'YAML empty', env: 'a.com:\nb.com:\n  /api:\n    port: 81\n' },
    { desc: 'YAML {}', env: 'a.com: {}\nb.com:\n  /api:\n    port: 81\n' }
  ]
  for (const c of cases) {
    t.same(entries(container({ VIRTUAL_HOST_MULTIPORTS: c.env })), [
      { host: 'a.com', path: '/', port: 3000, externalPorts: undefined },
      { host: 'b.com', path: '/api', port: 81, externalPorts: undefined }
    ], c.desc)
  }
  t.same(entries(container({ VIRTUAL_HOST_MULTIPORTS: '{"a.com": {"/": {}}}' })), [{ host: 'a.com', path: '/', port: 3000, externalPorts: undefined }], 'JSON {} path settings: defaults')
})

t.test('external_http_port / external_https_port keys of VIRTUAL_HOST_MULTIPORTS are the host\'s ports, not paths', async (t) => {
  // nginx-proxy docs/README.md, "Per-container external ports": the synapse example.
  const synapse = 'example.org:\n  external_https_port: 8448\n  "/":\n    port: 8448\n  "/path":\n    port: 80\nmatrix.example.org:\n  "/":\n    port: 8080\n'
  t.same(entries(container({ VIRTUAL_HOST_MULTIPORTS: synapse })), [
    { host: 'example.org', path: '/', port: 8448, externalPorts: { fromMultiports: true, https: 8448 } },
    { host: 'example.org', path: '/path', port: 80, externalPorts: { fromMultiports: true, https: 8448 } },
    { host: 'matrix.example.org', path: '/', port: 8080, externalPorts: undefined }
  ])
  t.same(entries(container({ VIRTUAL_HOST_MULTIPORTS: '{"a.com": {"external_http_port": "8080", "external_https_port": 8443}}' })), [
    { host: 'a.com', path: '/', port: 3000, externalPorts: { fromMultiports: true, http: 8080, https: 8443 } }
  ], 'JSON, ports only: served with the defaults on /')
  const bad = parseContainer(container({ VIRTUAL_HOST_MULTIPORTS: 'a.com:\n  external_http_port: eighty\n' }))
  t.same(bad.kind === 'invalid' ? bad.reason : bad, 'VIRTUAL_HOST_MULTIPORTS: external_http_port "eighty" of "a.com" is not a port number')
  const other = parseContainer(container({ VIRTUAL_HOST_MULTIPORTS: 'a.com:\n  proto: https\n  "/":\n' }))
  t.equal(other.kind, 'ok', 'another non-path key is skipped, as nginx-proxy does')
  t.match(other.kind === 'ok' ? other.routes.warnings : [], [/key "proto" of "a.com" is neither a path nor external_http_port\/external_https_port; ignored/])
})

t.test('EXTERNAL_HTTP_PORT / EXTERNAL_HTTPS_PORT on a VIRTUAL_HOST container', async (t) => {
  t.same(entries(container({ VIRTUAL_HOST: 'a.com,b.com', EXTERNAL_HTTPS_PORT: '8448' })), [
    { host: 'a.com', path: '/', port: 3000, externalPorts: { https: 8448 } },
    { host: 'b.com', path: '/', port: 3000, externalPorts: { https: 8448 } }
  ])
  for (const value of ['x', '0', '65536']) {
    const r = parseContainer(container({ VIRTUAL_HOST: 'a.com', EXTERNAL_HTTP_PORT: value }))
    t.same(r.kind === 'invalid' ? r.reason : r, `EXTERNAL_HTTP_PORT ${JSON.stringify(value)} is not a port number`, value)
  }
})

t.test('desired state: a host\'s external ports are the same on every path; VIRTUAL_HOST_MULTIPORTS wins', async (t) => {
  const r = buildDesiredState([
    container({ VIRTUAL_HOST: 'x.com', EXTERNAL_HTTP_PORT: '8081' }, { id: 'a', name: 'a' }),
    container({ VIRTUAL_HOST: 'x.com', VIRTUAL_PATH: '/api/', EXTERNAL_HTTP_PORT: '8082' }, { id: 'b', name: 'b' }),
    container({ VIRTUAL_HOST_MULTIPORTS: 'x.com:\n  external_http_port: 9090\n  /m/:\n' }, { id: 'c', name: 'c' }),
    container({ VIRTUAL_HOST: 'y.com' }, { id: 'd', name: 'd' })
  ])
  t.same(r.state.routes.map((x) => [x.host, x.path, x.externalPorts]), [
    ['x.com', '/', { http: 9090, https: undefined }],
    ['x.com', '/api/', { http: 9090, https: undefined }],
    ['x.com', '/m/', { http: 9090, https: undefined }],
    ['y.com', '/', undefined]
  ])
  t.match(r.problems.map((p) => p.message), [/external ports of x.com disagree with a's; using theirs/])
})

const self = { selfId: 'proxy', selfNetworkIds: new Set(['netF', 'netZ']), selfGateways: ['172.30.0.1', '172.31.0.1'] }
const hostNet = (env: Record<string, string>): ContainerInfo =>
  container(env, { id: 'h', name: 'hostnet', networkMode: 'host', networks: [{ name: 'host', id: 'hostnet-id', ipAddress: '', gateway: '' }] })

t.test('a container in the host network is reached at the host address, as nginx-proxy\'s container_ip', async (t) => {
  const onHost = buildDesiredState([hostNet({ VIRTUAL_HOST: 'h.com', VIRTUAL_PORT: '8088' })])
  t.same(onHost.state.routes.map((x) => x.targets.map((y) => `${y.address}:${y.port}`)), [['127.0.0.1:8088']], 'proxy on the host (or in the host network): localhost')
  t.same(onHost.problems, [])
  const inBridge = buildDesiredState([hostNet({ VIRTUAL_HOST: 'h.com', VIRTUAL_PORT: '8088' })], self)
  t.same(inBridge.state.routes.map((x) => x.targets.map((y) => `${y.address}:${y.port}`)), [['172.30.0.1:8088']], 'proxy in a bridge network: that network\'s gateway')
  const noPort = buildDesiredState([hostNet({ VIRTUAL_HOST: 'h.com' })])
  t.match(noPort.problems.map((p) => [p.level, p.message]), [['warn', /uses the host network without VIRTUAL_PORT; port 3000 assumed/]])
})

t.test('a container the proxy cannot reach keeps its host, with no upstream (502, as nginx-proxy)', async (t) => {
  const lonely = container({ VIRTUAL_HOST: 'y.com', VIRTUAL_PATH: '/p/' }, { id: 'l', name: 'lonely', networks: [{ name: 'other', id: 'netO', ipAddress: '10.3.0.5' }] })
  const disconnected = container({ VIRTUAL_HOST: 'z.com' }, { id: 'd', name: 'disconnected', networks: [] })
  const replica = container({ VIRTUAL_HOST: 'z.com' }, { id: 'r', name: 'replica', networks: [{ name: 'front', id: 'netF', ipAddress: '10.2.0.9' }] })
  const r = buildDesiredState([lonely, disconnected, replica], self)
  t.same(r.state.routes.map((x) => [x.host, x.path, x.targets.map((y) => y.address)]), [['z.com', '/', ['10.2.0.9']], ['y.com', '/p/', []]])
  t.match(r.problems.map((p) => [p.containerName, p.level, p.message]), [
    ['disconnected', 'error', /shares no network with the proxy .*; not routed \(its hosts answer 502/],
    ['lonely', 'error', /shares no network with the proxy \(container networks: other\); not routed/]
  ])
  const onHost = buildDesiredState([disconnected])
  t.same(onHost.state.routes.map((x) => [x.host, x.targets.length]), [['z.com', 0]], 'no IP on any network: kept, no upstream')
})
