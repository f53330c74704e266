// The baseline "plain Node proxy": node:http in, the `http-proxy` package out, a keep-alive agent to
// one fixed upstream, X-Forwarded-* on (xfwd). No discovery, no health checks, no retries.
// Self-contained (no local imports): proxy-throughput.ts compiles it to plain JavaScript and runs it
// with bare `node`, so no TypeScript loader sits in its memory or start-up, as with proxyctl's dist/.
//   http-proxy-server.ts --target http://IP:PORT [--port N] [--access-log] [--cert PEM --key PEM]
//   (env HTTP_PROXY_TARGET, HTTP_PROXY_PORT, HTTP_PROXY_ACCESS_LOG=1; with --cert/--key: HTTPS, HTTP/1.1)
import { readFileSync } from 'node:fs'
import { createServer, Agent, type IncomingMessage, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import httpProxy from 'http-proxy'
import { pino } from 'pino'

const argv = process.argv.slice(2)
if (argv.includes('--help')) {
  process.stdout.write('usage: http-proxy-server --target http://IP:PORT [--port N] [--access-log] [--cert PEM --key PEM [--ciphers LIST]]\n' +
    '  a reverse proxy built on http-proxy, for the throughput baseline (env HTTP_PROXY_TARGET, HTTP_PROXY_PORT, HTTP_PROXY_ACCESS_LOG=1)\n')
  process.exit(0)
}
const opt = (name: string, env: string, fallback: string): string => {
  const i = argv.indexOf(`--${name}`)
  return i >= 0 ? (argv[i + 1] ?? fallback) : (process.env[env] ?? fallback)
}
const target = opt('target', 'HTTP_PROXY_TARGET', 'http://127.0.0.1:8080')
const port = Number(opt('port', 'HTTP_PROXY_PORT', '8081'))
const certFile = opt('cert', 'HTTP_PROXY_CERT', '')
const keyFile = opt('key', 'HTTP_PROXY_KEY', '')
// The bench passes proxyctl's (nginx-proxy's) suites so all three TLS servers negotiate alike.
const ciphers = opt('ciphers', 'HTTP_PROXY_CIPHERS', '')
const accessLog = argv.includes('--access-log') || ['1', 'true', 'on'].includes(process.env.HTTP_PROXY_ACCESS_LOG ?? '')

const agent = new Agent({ keepAlive: true, maxSockets: 256, keepAliveMsecs: 4_000 })
const proxy = httpProxy.createProxyServer({ target, agent, xfwd: true })
// The same asynchronous pino destination proxyctl uses for its access log.
const access = accessLog ? pino({ base: { pid: process.pid } }, pino.destination({ dest: 1, sync: false, minLength: 4096 })) : undefined

proxy.on('error', (err, _req, res) => {
  if ('writeHead' in res && !res.headersSent) {
    res.writeHead(502, { 'content-type': 'text/plain' })
    res.end('bad gateway\n')
  } else {
    res.destroy(err)
  }
})

const handler = (req: IncomingMessage, res: ServerResponse): void => {
  if (access !== undefined) {
    const started = performance.now()
    res.once('finish', () => {
      access.info({ host: req.headers.host, method: req.method, path: req.url, status: res.statusCode, durationMs: Math.round((performance.now() - started) * 10) / 10 })
    })
  }
  proxy.web(req, res)
}
const server = certFile !== '' ? createHttpsServer({ cert: readFileSync(certFile), key: readFileSync(keyFile), ...(ciphers !== '' ? { ciphers, honorCipherOrder: false, minVersion: 'TLSv1.2' as const } : {}) }, handler) : createServer(handler)
server.keepAliveTimeout = 65_000
server.listen(port, '127.0.0.1', () => { process.stdout.write(`{"msg":"Listening","port":${port}}\n`) })
process.on('SIGTERM', () => { server.close(); server.closeAllConnections(); process.exit(0) })
