import t from 'tap'
import { fromInspect, type ContainerInspect } from '../../src/docker/container-info.ts'
import { buildDesiredState } from '../../src/docker/desired-state-builder.ts'
import { DEBUG_ENDPOINT_LABEL, parseContainer } from '../../src/docker/virtual-host.ts'
import { defaultRootAnswer, parseDefaultRoot } from '../../src/proxy/default-root.ts'

// Issue 15, item 7: DEFAULT_ROOT as nginx's `return`, PREFER_IPV6_NETWORK as nginx.tmpl's
// container_ip, the debug-endpoint label.

t.test('DEFAULT_ROOT is read as nginx reads return\'s arguments', async (t) => {
  const cases: Array<[string, unknown]> = [
    ['404', { kind: 'return', status: 404, text: undefined }],
    ['none', { kind: 'none' }],
    ['418', { kind: 'return', status: 418, text: undefined }],
    ['301 https://example.org/doc', { kind: 'return', status: 301, text: 'https://example.org/doc' }],
    ['https://example.org/', { kind: 'return', status: 302, text: 'https://example.org/' }],
    ['$scheme://$host/x', { kind: 'return', status: 302, text: '$scheme://$host/x' }],
    ['301 ${scheme}://$host$request_uri', { kind: 'return', status: 301, text: '${scheme}://$host$request_uri' }],
    ["200 'it''s'", { error: 'unexpected character after a quoted string' }],
    ['503 "under \\"maintenance\\""', { kind: 'return', status: 503, text: 'under "maintenance"' }],
    ['  444  ', { kind: 'return', status: 444, text: undefined }],
    ['abc', { error: 'invalid return code "abc"' }],
    ['1000', { error: 'invalid return code "1000"' }],
    ['100', { error: 'invalid return code "100"' }],
    ['404 a b', { error: 'return takes a code and an optional text or URL, or a URL' }],
    ['404;', { error: 'unexpected ";", "{" or "}" in "404;"' }],
    ["200 'open", { error: 'unterminated quote' }]
  ]
  for (const [value, want] of cases) {
    const got = parseDefaultRoot(value)
    if ('error' in (want as object)) t.same(got, want, value)
    else t.same(got, want, value)
  }
  const unknown = parseDefaultRoot('301 https://$hostname/')
  t.ok('error' in unknown && unknown.error.startsWith('unknown variable "$hostname"'))
})

t.test('DEFAULT_ROOT answers, variables expanded', async (t) => {
  const facts = { scheme: 'https' as const, host: 'a.test', requestUri: '/p/q?x=1', method: 'GET', port: 8443, serverName: '*.test' }
  const answer = (v: string): unknown => { const r = parseDefaultRoot(v); if ('error' in r || r.kind === 'none') throw new Error(v); return defaultRootAnswer(r, facts) }
  t.same(answer('301 $scheme://$host/app$request_uri'), { kind: 'redirect', status: 301, location: 'https://a.test/app/p/q?x=1' })
  t.same(answer('307 /moved$uri$is_args$args'), { kind: 'redirect', status: 307, location: 'https://a.test:8443/moved/p/q?x=1' })
  t.same(answer("200 '$request_method $server_name $server_port'"), { kind: 'body', status: 200, body: 'GET *.test 8443' })
  t.same(answer('404'), { kind: 'status', status: 404 })
  t.same(answer('204'), { kind: 'status', status: 204 })
  t.same(answer('444'), { kind: 'close' })
})

function inspect (networks: Record<string, { IPAddress: string, GlobalIPv6Address: string }>, id = 'c1'): ContainerInspect {
  return {
    Id: id,
    Name: `/app-${id}`,
    State: { Running: true, Paused: false },
    Config: { Env: ['VIRTUAL_HOST=a.test'], ExposedPorts: { '80/tcp': {} }, Labels: {} },
    HostConfig: { NetworkMode: 'bridge' },
    NetworkSettings: { Networks: Object.fromEntries(Object.entries(networks).map(([name, n]) => [name, { NetworkID: `${name}-id`, Gateway: '', ...n }])) }
  } as unknown as ContainerInspect
}

t.test('PREFER_IPV6_NETWORK: one address per container, from one network, IPv6 only when preferred (or the only one)', async (t) => {
  const dual = { IPAddress: '172.16.20.2', GlobalIPv6Address: 'fd00:cafe:face:feed::2' }
  const v4 = { IPAddress: '172.16.10.2', GlobalIPv6Address: '' }
  const v6 = { IPAddress: '', GlobalIPv6Address: 'fd00::5' }
  t.same(fromInspect(inspect({ dualstacknet: dual })).networks, [{ name: 'dualstacknet', id: 'dualstacknet-id', ipAddress: '172.16.20.2', ipv6Address: 'fd00:cafe:face:feed::2', gateway: '' }])
  type Net = { IPAddress: string, GlobalIPv6Address: string }
  const cases: Array<{ desc: string, nets: Record<string, Net>, prefer: boolean, want: string[] }> = [
    { desc: 'dual stack, default: IPv4', nets: { dualstacknet: dual }, prefer: false, want: ['172.16.20.2'] },
    { desc: 'dual stack, preferred: IPv6', nets: { dualstacknet: dual }, prefer: true, want: ['fd00:cafe:face:feed::2'] },
    { desc: 'IPv4 only, preferred: IPv4', nets: { ipv4net: v4 }, prefer: true, want: ['172.16.10.2'] },
    { desc: 'IPv6 only, default: IPv6', nets: { v6net: v6 }, prefer: false, want: ['fd00::5'] },
    { desc: 'two networks: the first by name, never both', nets: { bnet: v4, anet: dual }, prefer: true, want: ['fd00:cafe:face:feed::2'] }
  ]
  for (const c of cases) {
    const { state } = buildDesiredState([fromInspect(inspect(c.nets))], { preferIpv6Network: c.prefer })
    t.same(state.routes.flatMap((r) => r.targets.map((x) => x.address)), c.want, c.desc)
  }
  const scoped = buildDesiredState([fromInspect(inspect({ anet: dual, bnet: v4 }))], { preferIpv6Network: true, selfNetworkIds: new Set(['bnet-id']) })
  t.same(scoped.state.routes[0]?.targets.map((x) => x.address), ['172.16.10.2'], 'the network shared with the proxy, its IPv4 when it has no IPv6')
})

t.test('the debug-endpoint label sets the host\'s debug endpoint; invalid: warned, the proxy\'s value', async (t) => {
  const parsed = (value: string | undefined) => {
    const r = parseContainer({ id: 'c', name: 'c', running: true, env: { VIRTUAL_HOST: 'a.test' }, labels: value === undefined ? {} : { [DEBUG_ENDPOINT_LABEL]: value }, exposedPorts: [80], networks: [], networkMode: 'bridge', health: 'none' })
    return r.kind === 'ok' ? { debug: r.routes.tls.debugEndpoint, warned: r.routes.warnings.some((w) => w.includes(DEBUG_ENDPOINT_LABEL)) } : r
  }
  t.same(parsed('true'), { debug: true, warned: false })
  t.same(parsed('false'), { debug: false, warned: false })
  t.same(parsed(undefined), { debug: undefined, warned: false })
  t.same(parsed('maybe'), { debug: undefined, warned: true })
})
