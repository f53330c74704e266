// The baseline "plain Node proxy": node:http in, the `http-proxy` package out, a keep-alive agent to
// one fixed upstream, X-Forwarded-* on (xfwd). No discovery, no health checks, no retries.
//   http-proxy-server.ts --target http://IP:PORT [--port N] [--access-log]
import { createServer, Agent } from 'node:http'
import httpProxy from 'http-proxy'
import { pino } from 'pino'
import { bool, parseSettings } from './lib/cli.ts'

const s = parseSettings('bench/http-proxy-server.ts', 'A reverse proxy built on http-proxy, for the throughput baseline.', {
  target: { flag: 'target', env: 'HTTP_PROXY_TARGET', help: 'upstream origin', default: 'http://127.0.0.1:8080' },
  port: { flag: 'port', env: 'HTTP_PROXY_PORT', help: 'listen port on 127.0.0.1', default: '8081' },
  accessLog: { flag: 'access-log', env: 'HTTP_PROXY_ACCESS_LOG', help: 'one JSON line per request on stdout (pino, async like proxyctl)', default: 'false', boolean: true }
})

const agent = new Agent({ keepAlive: true, maxSockets: 256, keepAliveMsecs: 4_000 })
const proxy = httpProxy.createProxyServer({ target: s.target, agent, xfwd: true })
const access = bool(s.accessLog) ? pino({ base: { pid: process.pid } }, pino.destination({ dest: 1, sync: false, minLength: 4096 })) : undefined

proxy.on('error', (err, _req, res) => {
  if ('writeHead' in res && !res.headersSent) {
    res.writeHead(502, { 'content-type': 'text/plain' })
    res.end('bad gateway\n')
  } else {
    res.destroy(err)
  }
})

const server = createServer((req, res) => {
  if (access !== undefined) {
    const started = performance.now()
    res.once('finish', () => {
      access.info({ host: req.headers.host, method: req.method, path: req.url, status: res.statusCode, durationMs: Math.round((performance.now() - started) * 10) / 10 })
    })
  }
  proxy.web(req, res)
})
server.keepAliveTimeout = 65_000
server.listen(Number(s.port), '127.0.0.1', () => { process.stdout.write(`{"msg":"Listening","port":${s.port}}\n`) })
process.on('SIGTERM', () => { server.close(); server.closeAllConnections(); process.exit(0) })
