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

t.test('values that reach a request line or header are validated when the container is read', async (t) => {
  // want: the reason's start (after the variable name and its JSON-quoted value), or 'ok'
  const cases: Array<{ desc: string, env: Record<string, string>, want: string }> = [
    { desc: 'plain path', env: { VIRTUAL_PATH: '/api/v1' }, want: 'ok' },
    { desc: 'sub-delims, colon, at, tilde, percent-encoding', env: { VIRTUAL_PATH: "/a-b_c.d~e!$&'()*+,;=:@/%20%C3%A9" }, want: 'ok' },
    { desc: 'dot inside a segment', env: { VIRTUAL_PATH: '/.well-known/x..y/.z' }, want: 'ok' },
    { desc: 'empty VIRTUAL_DEST: no rewrite', env: { VIRTUAL_PATH: '/api', VIRTUAL_DEST: '' }, want: 'ok' },
    { desc: 'VIRTUAL_DEST root', env: { VIRTUAL_PATH: '/api', VIRTUAL_DEST: '/' }, want: 'ok' },
    { desc: 'CRLF header injection', env: { VIRTUAL_PATH: '/api\r\nX-Evil: 1' }, want: 'VIRTUAL_PATH "/api\\r\\nX-Evil: 1" contains a control character (0x0d)' },
    { desc: 'bare LF', env: { VIRTUAL_PATH: '/api\nx' }, want: 'VIRTUAL_PATH "/api\\nx" contains a control character (0x0a)' },
    { desc: 'trailing LF is not trimmed away', env: { VIRTUAL_PATH: '/api\n' }, want: 'VIRTUAL_PATH "/api\\n" contains a control character (0x0a)' },
    { desc: 'NUL', env: { VIRTUAL_PATH: '/a\u0000b' }, want: 'VIRTUAL_PATH "/a\\u0000b" contains a control character (0x00)' },
    { desc: 'tab', env: { VIRTUAL_PATH: '/a\tb' }, want: 'VIRTUAL_PATH "/a\\tb" contains a control character (0x09)' },
    { desc: 'DEL', env: { VIRTUAL_PATH: '/a\u007fb' }, want: 'VIRTUAL_PATH "/a\u007fb" contains a control character (0x7f)' },
    { desc: 'space inside', env: { VIRTUAL_PATH: '/a b' }, want: 'VIRTUAL_PATH "/a b" contains a space' },
    { desc: 'non-ASCII', env: { VIRTUAL_PATH: '/café' }, want: 'VIRTUAL_PATH "/café" contains a non-ASCII character' },
    { desc: 'fragment', env: { VIRTUAL_PATH: '/a#b' }, want: 'VIRTUAL_PATH "/a#b" contains "#"' },
    { desc: 'query in a location prefix', env: { VIRTUAL_PATH: '/a?b' }, want: 'VIRTUAL_PATH "/a?b" contains "?"' },
    { desc: 'backslash', env: { VIRTUAL_PATH: '/a\\..\\b' }, want: 'VIRTUAL_PATH "/a\\\\..\\\\b" contains "\\"' },
    { desc: 'relative path', env: { VIRTUAL_PATH: 'api' }, want: 'VIRTUAL_PATH "api" must start with /' },
    { desc: 'percent without digits', env: { VIRTUAL_PATH: '/a%zz' }, want: 'VIRTUAL_PATH "/a%zz" has malformed percent-encoding' },
    { desc: 'percent at the end', env: { VIRTUAL_PATH: '/a%2' }, want: 'VIRTUAL_PATH "/a%2" has malformed percent-encoding' },
    { desc: '/../', env: { VIRTUAL_PATH: '/a/../b' }, want: 'VIRTUAL_PATH "/a/../b" contains a dot-segment' },
    { desc: '/./', env: { VIRTUAL_PATH: '/a/./b' }, want: 'VIRTUAL_PATH "/a/./b" contains a dot-segment' },
    { desc: 'trailing /..', env: { VIRTUAL_PATH: '/a/..' }, want: 'VIRTUAL_PATH "/a/.." contains a dot-segment' },
    { desc: 'trailing /.', env: { VIRTUAL_PATH: '/a/.' }, want: 'VIRTUAL_PATH "/a/." contains a dot-segment' },
    { desc: '%2e%2e', env: { VIRTUAL_PATH: '/a/%2e%2e/b' }, want: 'VIRTUAL_PATH "/a/%2e%2e/b" contains a dot-segment' },
    { desc: '%2E.', env: { VIRTUAL_PATH: '/a/%2E./b' }, want: 'VIRTUAL_PATH "/a/%2E./b" contains a dot-segment' },
    { desc: '.%2e with encoded slash', env: { VIRTUAL_PATH: '/a%2f.%2e%2Fb' }, want: 'VIRTUAL_PATH "/a%2f.%2e%2Fb" contains a dot-segment' },
    { desc: '..; (path parameter)', env: { VIRTUAL_PATH: '/a/..;/b' }, want: 'VIRTUAL_PATH "/a/..;/b" contains a dot-segment' },
    { desc: 'too long', env: { VIRTUAL_PATH: '/' + 'a'.repeat(1024) }, want: `VIRTUAL_PATH "/${'a'.repeat(1024)}" is longer than 1024 characters` },
    { desc: 'VIRTUAL_DEST CRLF', env: { VIRTUAL_PATH: '/api', VIRTUAL_DEST: '/\r\nHost: evil' }, want: 'VIRTUAL_DEST "/\\r\\nHost: evil" contains a control character (0x0d)' },
    { desc: 'VIRTUAL_DEST relative', env: { VIRTUAL_PATH: '/api', VIRTUAL_DEST: 'v2' }, want: 'VIRTUAL_DEST "v2" must start with /' },
    { desc: 'VIRTUAL_DEST climbing', env: { VIRTUAL_PATH: '/api', VIRTUAL_DEST: '/v2/..' }, want: 'VIRTUAL_DEST "/v2/.." contains a dot-segment' },
    { desc: 'VIRTUAL_DEST %2e%2e', env: { VIRTUAL_PATH: '/api', VIRTUAL_DEST: '/%2e%2e/admin' }, want: 'VIRTUAL_DEST "/%2e%2e/admin" contains a dot-segment' },
    { desc: 'VIRTUAL_DEST absolute URL', env: { VIRTUAL_PATH: '/api', VIRTUAL_DEST: 'http://evil/' }, want: 'VIRTUAL_DEST "http://evil/" must start with /' },
    { desc: 'HSTS ok', env: { HSTS: 'max-age=31536000; includeSubDomains; preload' }, want: 'ok' },
    { desc: 'HSTS CRLF', env: { HSTS: 'max-age=1\r\nSet-Cookie: a=b' }, want: 'HSTS "max-age=1\\r\\nSet-Cookie: a=b" contains a control character (0x0d)' },
    { desc: 'HSTS non-ASCII', env: { HSTS: 'max-age=1; ü' }, want: 'HSTS "max-age=1; ü" contains a non-ASCII character' },
    { desc: 'HSTS too long', env: { HSTS: 'a'.repeat(1025) }, want: `HSTS "${'a'.repeat(1025)}" is longer than 1024 characters` }
  ]
  for (const c of cases) {
    const r = parseContainer(container({ VIRTUAL_HOST: 'a.com', ...c.env }))
    if (c.want === 'ok') t.equal(r.kind, 'ok', c.desc)
    else t.same(r.kind === 'invalid' ? r.reason.slice(0, c.want.length) : r, c.want, c.desc)
    if (r.kind === 'invalid') t.notMatch(r.reason, /[\r\n]/, `${c.desc}: one log line`)
  }
})

t.test('VIRTUAL_HOST_MULTIPORTS paths and dest are validated alike', async (t) => {
  const cases: Array<{ desc: string, yaml: string, want: string }> = [
    { desc: 'ok', yaml: 'a.com:\n  "/api":\n    dest: "/v1"\n', want: 'ok' },
    { desc: 'null settings', yaml: 'a.com:\n  "/api":\n', want: 'ok' },
    { desc: 'path dot-segment', yaml: 'a.com:\n  "/api/../admin":\n', want: 'VIRTUAL_HOST_MULTIPORTS: path "/api/../admin" of "a.com" contains a dot-segment' },
    { desc: 'path CRLF', yaml: 'a.com:\n  "/api\\r\\nX: 1":\n', want: 'VIRTUAL_HOST_MULTIPORTS: path "/api\\r\\nX: 1" of "a.com" contains a control character (0x0d)' },
    { desc: 'dest CRLF', yaml: 'a.com:\n  "/api":\n    dest: "/v1\\r\\nX: 1"\n', want: 'VIRTUAL_HOST_MULTIPORTS: dest "/v1\\r\\nX: 1" of "a.com/api" contains a control character (0x0d)' },
    { desc: 'dest %2E%2E', yaml: 'a.com:\n  "/api":\n    dest: "/%2E%2E"\n', want: 'VIRTUAL_HOST_MULTIPORTS: dest "/%2E%2E" of "a.com/api" contains a dot-segment' },
    { desc: 'dest not a string', yaml: 'a.com:\n  "/api":\n    dest: 5\n', want: 'VIRTUAL_HOST_MULTIPORTS: dest 5 of "a.com/api" must be a string' },
    { desc: 'settings a list', yaml: 'a.com:\n  "/api": [1]\n', want: 'VIRTUAL_HOST_MULTIPORTS: settings of "a.com/api" must be a map' }
  ]
  for (const c of cases) {
    const r = parseContainer(container({ VIRTUAL_HOST_MULTIPORTS: c.yaml }))
    if (c.want === 'ok') t.equal(r.kind, 'ok', c.desc)
    else t.same(r.kind === 'invalid' ? r.reason.slice(0, c.want.length) : r, c.want, c.desc)
  }
})

t.test('health path label: a bad value is a warning and the default path is probed', async (t) => {
  const cases: Array<{ desc: string, value: string, path: string, warning?: string }> = [
    { desc: 'path', value: '/healthz', path: '/healthz' },
    { desc: 'with a query', value: '/health?full=1&x=%20', path: '/health?full=1&x=%20' },
    { desc: 'CRLF', value: '/h\r\nX: 1', path: DEFAULT_HEALTH_CHECK.path, warning: 'label proxyctl.health.path: "/h\\r\\nX: 1" contains a control character (0x0d); using the default' },
    { desc: 'dot-segment', value: '/a/../h', path: DEFAULT_HEALTH_CHECK.path, warning: 'label proxyctl.health.path: "/a/../h" contains a dot-segment (. or ..); using the default' },
    { desc: 'fragment in the query', value: '/h?a#b', path: DEFAULT_HEALTH_CHECK.path, warning: 'label proxyctl.health.path: "/h?a#b" contains "#"; using the default' },
    { desc: 'bad percent in the query', value: '/h?a=%g1', path: DEFAULT_HEALTH_CHECK.path, warning: 'label proxyctl.health.path: "/h?a=%g1" has malformed percent-encoding (% must be followed by two hex digits); using the default' },
    { desc: 'relative', value: 'health', path: DEFAULT_HEALTH_CHECK.path, warning: 'label proxyctl.health.path: "health" must start with /; using the default' }
  ]
  for (const c of cases) {
    const warnings: string[] = []
    const h = parseHealthLabels({ 'proxyctl.health.path': c.value }, warnings)
    t.same({ path: h.path, warnings }, { path: c.path, warnings: c.warning === undefined ? [] : [c.warning] }, c.desc)
  }
})

t.test('proxyctl.max-body-size: nginx client_max_body_size syntax', async (t) => {
  const cases: Array<{ value: string | undefined, bytes: number | undefined, warning?: RegExp }> = [
    { value: undefined, bytes: undefined },
    { value: '1024', bytes: 1024 },
    { value: '10k', bytes: 10 * 1024 },
    { value: '10K', bytes: 10 * 1024 },
    { value: '1m', bytes: 1024 ** 2 },
    { value: ' 20M ', bytes: 20 * 1024 ** 2 },
    { value: '2g', bytes: 2 * 1024 ** 3 },
    { value: '0', bytes: undefined },
    { value: '0m', bytes: undefined },
    { value: '1.5m', bytes: undefined, warning: /^label proxyctl\.max-body-size: "1\.5m" is not a size .*; no body size limit$/ },
    { value: '10mb', bytes: undefined, warning: /"10mb" is not a size/ },
    { value: '-1', bytes: undefined, warning: /"-1" is not a size/ },
    { value: '', bytes: undefined, warning: /"" is not a size/ },
    { value: '9999999999999999g', bytes: undefined, warning: /"9999999999999999g" is too large/ }
  ]
  for (const c of cases) {
    const labels: Record<string, string> = c.value === undefined ? {} : { 'proxyctl.max-body-size': c.value }
    const r = parseContainer(container({ VIRTUAL_HOST: 'a.com,b.com' }, { labels }))
    if (r.kind !== 'ok') { t.fail(`${String(c.value)}: ${r.kind}`); continue }
    t.same(r.routes.entries.map((e) => e.maxBodyBytes), [c.bytes, c.bytes], `${String(c.value)}: on every entry`)
    if (c.warning === undefined) t.same(r.routes.warnings, [], `${String(c.value)}: no warning`)
    else t.match(r.routes.warnings, [c.warning], `${String(c.value)}: warning`)
  }
  const multi = parseContainer(container({ VIRTUAL_HOST_MULTIPORTS: 'a.com:\n  "/":\n  "/up":\n    port: 81\nb.com:\n' }, { labels: { 'proxyctl.max-body-size': '1k' } }))
  t.same(multi.kind === 'ok' ? multi.routes.entries.map((e) => e.maxBodyBytes) : multi, [1024, 1024, 1024], 'multiports entries carry it too')
})
