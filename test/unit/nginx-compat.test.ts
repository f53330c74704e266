import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { nginxOnlyEnvWarnings, nginxOnlyWarnings } from '../../src/config/nginx-compat.ts'
import type { ContainerInfo } from '../../src/docker/container-info.ts'
import { parseContainer } from '../../src/docker/virtual-host.ts'

t.test('nginx-only files each get a warning naming them; nothing else does', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'pxt-nginx-'))
  t.same(nginxOnlyWarnings(root), [])
  mkdirSync(join(root, 'vhost.d'))
  mkdirSync(join(root, 'conf.d'))
  mkdirSync(join(root, 'certs'))
  writeFileSync(join(root, 'vhost.d', 'a.com'), 'x')
  writeFileSync(join(root, 'conf.d', 'my.conf'), 'x')
  writeFileSync(join(root, 'conf.d', 'README'), 'x')
  writeFileSync(join(root, 'proxy.conf'), 'x')
  writeFileSync(join(root, 'certs', 'a.com.crt'), 'x')
  // vhost.d files are read (VhostStore warns per directive), not ignored as a whole.
  t.same(nginxOnlyWarnings(root).map((w) => w.file).sort(), [join(root, 'conf.d', 'my.conf'), join(root, 'proxy.conf')].sort())
})

t.test('SSL_POLICY: nginx-proxy\'s policies are followed, an unknown name is warned about', async (t) => {
  t.same(nginxOnlyEnvWarnings({}), [])
  t.same(nginxOnlyEnvWarnings({ SSL_POLICY: 'Mozilla-Intermediate' }), [])
  t.same(nginxOnlyEnvWarnings({ SSL_POLICY: 'Mozilla-Modern' }), [])
  t.same(nginxOnlyEnvWarnings({ SSL_POLICY: 'AWS-2015-02' }), [])
  const w = nginxOnlyEnvWarnings({ SSL_POLICY: 'Mozilla-Strict' })
  t.equal(w.length, 1)
  t.match(w[0]!.message, /SSL_POLICY=Mozilla-Strict is not one of nginx-proxy's policies: proxyctl uses the default, Mozilla-Intermediate/)
})

t.test('HTTPS_METHOD, HSTS and CERT_NAME on app containers', async (t) => {
  const c = (env: Record<string, string>): ContainerInfo => ({ id: 'c', name: 'c', running: true, env: { VIRTUAL_HOST: 'a.com', ...env }, labels: {}, exposedPorts: [], networks: [], networkMode: 'bridge', health: 'none' })
  const ok = parseContainer(c({ HTTPS_METHOD: 'NoRedirect', HSTS: 'off', CERT_NAME: 'shared' }))
  t.same(ok.kind === 'ok' ? ok.routes.tls : ok, { httpsMethod: 'noredirect', hsts: 'off', certName: 'shared' })
  const dflt = parseContainer(c({}))
  t.same(dflt.kind === 'ok' ? dflt.routes.tls : dflt, { httpsMethod: undefined, hsts: undefined, certName: undefined })
  t.equal(parseContainer(c({ HTTPS_METHOD: 'sometimes' })).kind, 'invalid')
  t.equal(parseContainer(c({ CERT_NAME: '../etc/passwd' })).kind, 'invalid')
})
