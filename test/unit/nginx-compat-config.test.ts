import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { serveOptionsFromEnv } from '../../src/config/env.ts'
import { nginxOnlyEnvWarnings, nginxOnlyWarnings } from '../../src/config/nginx-compat.ts'

// issue 15, item 7: nginx-proxy settings proxyctl does not follow are named at start, never ignored silently.

t.test('nginx-proxy env settings that configure nginx itself are each named in a warning', async (t) => {
  const cases: Array<[Record<string, string>, string[]]> = [
    [{ LOG_JSON: 'true', DEFAULT_ROOT: '404', DEBUG_ENDPOINT: 'false', DHPARAM_SKIP: 'false', PREFER_IPV6_NETWORK: 'false' }, []],
    [{ LOG_FORMAT: '$host $status', LOG_FORMAT_ESCAPE: 'json' }, ['LOG_FORMAT', 'LOG_FORMAT_ESCAPE']],
    // Followed (request-router.ts, desired-state-builder.ts): no warning.
    [{ DEFAULT_ROOT: '418', DEBUG_ENDPOINT: 'true', PREFER_IPV6_NETWORK: 'true' }, []],
    [{ DEFAULT_ROOT: 'none' }, []],
    [{ DEFAULT_ROOT: '301 $scheme://$host/app$request_uri' }, []],
    // nginx would refuse these configurations: warned, 404 answered.
    [{ DEFAULT_ROOT: 'nothing' }, ['DEFAULT_ROOT']],
    [{ DEFAULT_ROOT: '301 https://$no_such_variable/' }, ['DEFAULT_ROOT']],
    [{ DEFAULT_ROOT: '404 a b' }, ['DEFAULT_ROOT']],
    [{ DHPARAM_BITS: '2048' }, ['DHPARAM_BITS']],
    [{ DHPARAM_SKIP: 'true' }, ['DHPARAM_SKIP']],
    [{ RESOLVERS: '1.1.1.1', SHA1_UPSTREAM_NAME: 'true', NGINX_CONTAINER_LABEL: 'x' }, ['RESOLVERS', 'SHA1_UPSTREAM_NAME', 'NGINX_CONTAINER_LABEL']]
  ]
  for (const [env, want] of cases) {
    const got = nginxOnlyEnvWarnings(env)
    t.same(got.map((w) => w.setting), want, JSON.stringify(env))
    for (const w of got) t.ok(w.message.startsWith(`${w.setting}=`), `${w.setting}: the message names it`)
  }
})

t.test('toplevel.conf.d and dhparam files are named; the 50x page is served, not warned about', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'pxt-nginx-'))
  const html = mkdtempSync(join(tmpdir(), 'pxt-html-'))
  t.teardown(() => { rmSync(root, { recursive: true, force: true }); rmSync(html, { recursive: true, force: true }) })
  t.same(nginxOnlyWarnings(root), [])
  for (const d of ['toplevel.conf.d', 'dhparam', 'certs']) mkdirSync(join(root, d))
  mkdirSync(join(html, 'errors'))
  writeFileSync(join(root, 'toplevel.conf.d', 'stream.conf'), 'stream {}')
  writeFileSync(join(root, 'dhparam', 'dhparam.pem'), 'x')
  writeFileSync(join(root, 'certs', 'a.com.dhparam.pem'), 'x')
  writeFileSync(join(html, 'errors', '50x.html'), '<h1>down</h1>')
  t.same(nginxOnlyWarnings(root).map((w) => w.file).sort(), [
    join(root, 'certs', 'a.com.dhparam.pem'), join(root, 'dhparam', 'dhparam.pem'), join(root, 'toplevel.conf.d', 'stream.conf')
  ].sort())
})

t.test('DISABLE_ACCESS_LOGS turns the access log off; proxyctl\'s ACCESS_LOG wins when both are set', async (t) => {
  t.equal(serveOptionsFromEnv({ DISABLE_ACCESS_LOGS: 'true' }).accessLog, false)
  t.equal(serveOptionsFromEnv({ DISABLE_ACCESS_LOGS: 'false' }).accessLog, true)
  t.equal(serveOptionsFromEnv({ DISABLE_ACCESS_LOGS: 'true', ACCESS_LOG: 'true' }).accessLog, true)
  t.equal(serveOptionsFromEnv({}).accessLog, undefined)
})
