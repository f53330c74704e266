import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { DEFAULT_SERVE_OPTIONS, listenHost } from '../../src/config/options.ts'
import { serveOptionsFromEnv } from '../../src/config/env.ts'
import { nginxOnlyEnvWarnings, nginxOnlyWarnings } from '../../src/config/nginx-compat.ts'
import type { ContainerInfo } from '../../src/docker/container-info.ts'
import { parseContainer } from '../../src/docker/virtual-host.ts'

function container (env: Record<string, string>, labels: Record<string, string> = {}): ContainerInfo {
  return { id: 'c1', name: 'app-1', running: true, env, labels, exposedPorts: [], networks: [{ name: 'n', id: 'n1', ipAddress: '172.20.0.2' }], networkMode: 'bridge', health: 'none' }
}
const L = 'com.github.nginx-proxy.nginx-proxy.'

t.test('container labels: http2.enable, ssl_verify_client, SSL_POLICY; warned: http3.enable, unknown values', async (t) => {
  const cases: Array<{ desc: string, env?: Record<string, string>, labels?: Record<string, string>, tls: Record<string, unknown>, warnings: RegExp[] }> = [
    { desc: 'http2.enable=false', labels: { [`${L}http2.enable`]: 'false' }, tls: { http2: false }, warnings: [] },
    { desc: 'http2.enable=true', labels: { [`${L}http2.enable`]: 'true' }, tls: { http2: true }, warnings: [] },
    { desc: 'http2.enable not a boolean', labels: { [`${L}http2.enable`]: 'maybe' }, tls: {}, warnings: [/http2\.enable/] },
    { desc: 'ssl_verify_client=on', labels: { [`${L}ssl_verify_client`]: 'on' }, tls: { sslVerifyClient: 'on' }, warnings: [] },
    { desc: 'ssl_verify_client=optional_no_ca', labels: { [`${L}ssl_verify_client`]: 'optional_no_ca' }, tls: { sslVerifyClient: 'optional_no_ca' }, warnings: [] },
    { desc: 'ssl_verify_client=yes (nginx refuses it)', labels: { [`${L}ssl_verify_client`]: 'yes' }, tls: { sslVerifyClient: 'yes' }, warnings: [/must be on, off, optional or optional_no_ca.*verified as with on/] },
    { desc: 'ssl_verify_client=off', labels: { [`${L}ssl_verify_client`]: 'off' }, tls: { sslVerifyClient: 'off' }, warnings: [] },
    { desc: 'http3.enable', labels: { [`${L}http3.enable`]: 'true' }, tls: {}, warnings: [/HTTP\/3/] },
    { desc: 'SSL_POLICY on a container', env: { SSL_POLICY: 'Mozilla-Modern' }, tls: { sslPolicy: 'Mozilla-Modern' }, warnings: [] },
    { desc: 'an AWS SSL_POLICY', env: { SSL_POLICY: 'AWS-FS-1-2-Res-2020-10' }, tls: { sslPolicy: 'AWS-FS-1-2-Res-2020-10' }, warnings: [] },
    { desc: 'an unknown SSL_POLICY', env: { SSL_POLICY: 'Mozilla-Strict' }, tls: {}, warnings: [/not one of nginx-proxy's policies; the proxy's SSL_POLICY applies/] }
  ]
  for (const c of cases) {
    const r = parseContainer(container({ VIRTUAL_HOST: 'a.test', ...c.env }, c.labels))
    if (r.kind !== 'ok') { t.fail(c.desc); continue }
    t.same(r.routes.tls, { httpsMethod: undefined, hsts: undefined, certName: undefined, ...c.tls }, c.desc)
    t.equal(r.routes.warnings.length, c.warnings.length, `${c.desc}: warnings`)
    c.warnings.forEach((w, i) => { t.match(r.routes.warnings[i], w) })
  }
})

t.test('proxy env: ENABLE_PROXY_PROTOCOL, ENABLE_HTTP2, ENABLE_IPV6; listen host', async (t) => {
  t.same(serveOptionsFromEnv({ ENABLE_PROXY_PROTOCOL: 'true', ENABLE_HTTP2: 'false', ENABLE_IPV6: 'true' }), { proxyProtocol: true, enableHttp2: false, enableIpv6: true })
  t.throws(() => serveOptionsFromEnv({ ENABLE_PROXY_PROTOCOL: 'sometimes' }))
  t.same([DEFAULT_SERVE_OPTIONS.proxyProtocol, DEFAULT_SERVE_OPTIONS.enableHttp2, DEFAULT_SERVE_OPTIONS.enableIpv6], [false, true, false], "nginx-proxy's defaults")
  t.equal(listenHost({ host: '0.0.0.0', enableIpv6: false }), '0.0.0.0')
  t.equal(listenHost({ host: '0.0.0.0', enableIpv6: true }), '::', 'dual-stack')
  t.equal(listenHost({ host: '10.0.0.5', enableIpv6: true }), '10.0.0.5', 'an explicit PROXYCTL_LISTEN_HOST is kept')
})

t.test('start warnings: ENABLE_HTTP3; client CA and CRL files are read, not warned about', async (t) => {
  t.match(nginxOnlyEnvWarnings({ ENABLE_HTTP3: 'true' }), [{ setting: 'ENABLE_HTTP3' }])
  t.same(nginxOnlyEnvWarnings({ ENABLE_HTTP3: 'false' }), [])
  const root = mkdtempSync(join(tmpdir(), 'pxt-compat-'))
  mkdirSync(join(root, 'certs'))
  for (const f of ['a.test.crt', 'a.test.key', 'a.test.ca.crt', 'ca.crt', 'ca.crl.pem']) writeFileSync(join(root, 'certs', f), 'x')
  const files = nginxOnlyWarnings(root).map((w) => w.file).sort()
  t.same(files, [])
})
