import t from 'tap'
import { parseCommand } from '../../src/cli/args.ts'

t.test('parseCommand', async (t) => {
  t.same(parseCommand([]), { kind: 'help', topic: undefined })
  t.same(parseCommand(['--version']), { kind: 'version' })
  t.same(parseCommand(['serve', '--port', '8080', '--no-access-log', '--default-host', 'Example.com']), {
    kind: 'serve', flags: { port: 8080, accessLog: false, defaultHost: 'example.com' }
  })
  const d = parseCommand(['deploy', 'app', '-f', 'c.yml', '--timeout', '90', '--drain-timeout', '500ms', '--json'])
  t.match(d, { kind: 'deploy', service: 'app', composeFile: 'c.yml', timeoutMs: 90_000, drainTimeoutMs: 500, json: true })
  t.match(parseCommand(['deploy', '--container', 'web', '--image', 'x:2']), { kind: 'deploy', container: 'web', image: 'x:2', service: undefined })
  t.same(parseCommand(['status', '--json']), { kind: 'status', json: true, adminSocket: undefined, proxy: undefined })
  t.same(parseCommand(['admin-request', '--stdio']), { kind: 'admin-session', adminSocket: undefined })
  t.same(parseCommand(['admin-request', 'get', '/v1/health']), { kind: 'admin-request', method: 'GET', path: '/v1/health', body: undefined, adminSocket: undefined })
})

t.test('bad input is a PROXY_ERR_INVALID_OPTION with a clear message', async (t) => {
  const bad: Array<[string[], RegExp]> = [
    [['serve', '--bogus'], /Unknown option '--bogus'/],
    [['serve', '--port', '99999'], /--port must be a port number/],
    [['serve', '--port', 'http'], /--port must be a port number/],
    [['serve', '--balancing', 'random'], /--balancing must be/],
    [['serve', '--default-host', '*.x.com'], /plain host name/],
    [['serve', '--drain-timeout', 'soon'], /must be a duration/],
    [['deploy'], /missing SERVICE/],
    [['deploy', 'app', '--timeout', 'x'], /--timeout must be a duration/],
    [['deploy', '--container', 'web'], /--container and --image go together/],
    [['deploy', 'app', '--container', 'web', '--image', 'x'], /either SERVICE/],
    [['status', 'extra'], /unexpected argument/],
    [['admin-request', '--stdio', 'GET', '/'], /--stdio takes no METHOD PATH/],
    [['frobnicate'], /unknown command "frobnicate"/]
  ]
  for (const [argv, msg] of bad) t.throws(() => parseCommand(argv), { code: 'PROXY_ERR_INVALID_OPTION', message: msg }, argv.join(' '))
})

t.test('serve options from the environment (nginx-proxy names)', async (t) => {
  const { serveOptionsFromEnv } = await import('../../src/config/env.ts')
  t.same(serveOptionsFromEnv({ HTTP_PORT: '8080', HTTPS_PORT: 'off', DEFAULT_HOST: 'Home.test', TRUST_DOWNSTREAM_PROXY: 'false', METRICS_LISTEN: ':9100', HSTS: 'off', UNRELATED: 'x', ACCESS_LOG: '' }), {
    port: 8080, httpsPort: undefined, defaultHost: 'home.test', trustDownstreamProxy: false, metricsListen: { host: '127.0.0.1', port: 9100 }, defaultHsts: 'off'
  })
  t.throws(() => serveOptionsFromEnv({ HTTPS_METHOD: 'sometimes' }), { code: 'PROXY_ERR_INVALID_OPTION', message: /HTTPS_METHOD must be one of/ })
  t.throws(() => serveOptionsFromEnv({ HTTP_PORT: 'eighty' }), { code: 'PROXY_ERR_INVALID_OPTION', message: /HTTP_PORT/ })
})
