import t from 'tap'
import { DEFAULT_HEALTH_CHECK } from '../../src/config/options.ts'
import type { ContainerInfo } from '../../src/docker/container-info.ts'
import { parseContainer, parseHealthLabels, validateHost } from '../../src/docker/virtual-host.ts'

function container (env: Record<string, string>, extra: Partial<ContainerInfo> = {}): ContainerInfo {
  return {
    id: 'c1', name: 'app-1', running: true, env, labels: {}, exposedPorts: [], networks: [{ name: 'n', id: 'n1', ipAddress: '172.20.0.2' }], networkMode: 'bridge', health: 'none', ...extra
  }
}

t.test('validateHost', async (t) => {
  const cases: Array<{ desc: string, in: string, out: string | null }> = [
    { desc: 'plain', in: 'API.Example.com', out: 'api.example.com' },
    { desc: 'spaces trimmed', in: '  a.example.com ', out: 'a.example.com' },
    { desc: 'leading wildcard', in: '*.example.com', out: '*.example.com' },
    { desc: 'trailing wildcard', in: 'example.*', out: 'example.*' },
    { desc: 'regex kept as written', in: '~^api\\d+\\.example\\.com$', out: '~^api\\d+\\.example\\.com$' },
    { desc: 'single label', in: 'localhost', out: 'localhost' },
    { desc: 'trailing dot dropped', in: 'example.com.', out: 'example.com' },
    { desc: 'empty', in: '  ', out: null },
    { desc: 'bad regex', in: '~([a-z', out: null },
    { desc: 'space inside', in: 'a b.com', out: null },
    { desc: 'slash', in: 'a.com/path', out: null },
    { desc: 'both wildcards', in: '*.example.*', out: null },
    { desc: 'wildcard in the middle', in: 'a.*.com', out: null },
    { desc: 'leading hyphen label', in: '-a.com', out: null }
  ]
  for (const c of cases) {
    const r = validateHost(c.in)
    t.same('host' in r ? r.host : null, c.out, c.desc)
  }
})

t.test('parseContainer: VIRTUAL_* contract', async (t) => {
  const cases: Array<{ desc: string, c: ContainerInfo, want: unknown }> = [
    { desc: 'no VIRTUAL_HOST is not proxied', c: container({}), want: { kind: 'skip' } },
    { desc: 'empty VIRTUAL_HOST is not proxied', c: container({ VIRTUAL_HOST: '' }), want: { kind: 'skip' } },
    {
      desc: 'comma list with spaces, single exposed port',
      c: container({ VIRTUAL_HOST: 'api.my-app.com, admin.my-app.com' }, { exposedPorts: [3000] }),
      want: [{ host: 'api.my-app.com', path: '/', port: 3000, dest: '' }, { host: 'admin.my-app.com', path: '/', port: 3000, dest: '' }]
    },
    { desc: 'several exposed ports default to 80', c: container({ VIRTUAL_HOST: 'a.com' }, { exposedPorts: [3000, 4000] }), want: [{ host: 'a.com', path: '/', port: 80, dest: '' }] },
    { desc: 'VIRTUAL_PORT wins', c: container({ VIRTUAL_HOST: 'a.com', VIRTUAL_PORT: '4000' }, { exposedPorts: [3000, 4000] }), want: [{ host: 'a.com', path: '/', port: 4000, dest: '' }] },
    { desc: 'VIRTUAL_PATH and VIRTUAL_DEST', c: container({ VIRTUAL_HOST: 'a.com', VIRTUAL_PATH: '/api', VIRTUAL_DEST: '/' }), want: [{ host: 'a.com', path: '/api', port: 80, dest: '/' }] },
    { desc: 'empty entries skipped', c: container({ VIRTUAL_HOST: 'a.com,,b.com,' }), want: [{ host: 'a.com', path: '/', port: 80, dest: '' }, { host: 'b.com', path: '/', port: 80, dest: '' }] },
    { desc: 'bad port', c: container({ VIRTUAL_HOST: 'a.com', VIRTUAL_PORT: 'http' }), want: 'invalid' },
    { desc: 'port out of range', c: container({ VIRTUAL_HOST: 'a.com', VIRTUAL_PORT: '70000' }), want: 'invalid' },
    { desc: 'bad regex', c: container({ VIRTUAL_HOST: '~(' }), want: 'invalid' },
    { desc: 'only commas', c: container({ VIRTUAL_HOST: ' , ' }), want: 'invalid' },
    { desc: 'bad path', c: container({ VIRTUAL_HOST: 'a.com', VIRTUAL_PATH: 'api' }), want: 'invalid' },
    { desc: 'unsupported proto', c: container({ VIRTUAL_HOST: 'a.com', VIRTUAL_PROTO: 'fastcgi' }), want: 'invalid' },
    { desc: 'bad NETWORK_ACCESS', c: container({ VIRTUAL_HOST: 'a.com', NETWORK_ACCESS: 'private' }), want: 'invalid' },
    {
      desc: 'VIRTUAL_HOST_MULTIPORTS (YAML) wins over VIRTUAL_HOST',
      c: container({
        VIRTUAL_HOST: 'ignored.com',
        VIRTUAL_HOST_MULTIPORTS: 'www.example.org:\nservice.example.org:\n  "/":\n  "/service":\n    port: 8000\n    dest: "/"\n'
      }, { exposedPorts: [3000] }),
      want: [
        { host: 'www.example.org', path: '/', port: 3000, dest: '' },
        { host: 'service.example.org', path: '/', port: 3000, dest: '' },
        { host: 'service.example.org', path: '/service', port: 8000, dest: '/' }
      ]
    },
    { desc: 'VIRTUAL_HOST_MULTIPORTS as JSON', c: container({ VIRTUAL_HOST_MULTIPORTS: '{"a.com": {"/": {"port": 81}}}' }), want: [{ host: 'a.com', path: '/', port: 81, dest: '' }] },
    { desc: 'VIRTUAL_HOST_MULTIPORTS not a map', c: container({ VIRTUAL_HOST_MULTIPORTS: '- a.com' }), want: 'invalid' },
    { desc: 'VIRTUAL_HOST_MULTIPORTS bad port', c: container({ VIRTUAL_HOST_MULTIPORTS: 'a.com:\n  "/":\n    port: x' }), want: 'invalid' }
  ]
  for (const c of cases) {
    const r = parseContainer(c.c)
    if (c.want === 'invalid') t.equal(r.kind, 'invalid', c.desc)
    else if (!Array.isArray(c.want)) t.same(r, c.want, c.desc)
    else t.same(r.kind === 'ok' ? r.routes.entries : r, c.want, c.desc)
  }
})

t.test('parseContainer: protocol and network access', async (t) => {
  const r = parseContainer(container({ VIRTUAL_HOST: 'a.com', VIRTUAL_PROTO: 'HTTPS', NETWORK_ACCESS: 'internal' }))
  t.equal(r.kind, 'ok')
  if (r.kind === 'ok') {
    t.equal(r.routes.protocol, 'https')
    t.equal(r.routes.internalOnly, true)
  }
})

t.test('health labels: valid values, invalid ones fall back with a warning', async (t) => {
  const warnings: string[] = []
  const h = parseHealthLabels({
    'proxyctl.health.path': '/hc',
    'proxyctl.health.interval': '500ms',
    'proxyctl.health.timeout': '2',
    'proxyctl.health.healthy': '2',
    'proxyctl.health.unhealthy': 'lots'
  }, warnings)
  t.same(h, { ...DEFAULT_HEALTH_CHECK, path: '/hc', pathConfigured: true, intervalMs: 500, timeoutMs: 2000, healthyThreshold: 2 })
  t.equal(warnings.length, 1)
  t.match(warnings[0], /proxyctl\.health\.unhealthy/)
  const none: string[] = []
  t.same(parseHealthLabels({}, none), DEFAULT_HEALTH_CHECK)
  t.same(none, [])
})
