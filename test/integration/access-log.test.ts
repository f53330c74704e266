// The access log end to end: a proxy process whose logger is src/logger.ts's (stdout a pipe, so JSON
// lines through pino's asynchronous destination), stopped by SIGTERM the way `proxyctl serve` stops
// (proxy.stop(), then log.flush(), then the process ends): every request's line is there, the last
// one before the signal included, each line whole JSON with the fields as sent; also when the process
// exits at once after the flush.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { connect } from 'node:net'
import t, { type Test } from 'tap'
import { request } from 'undici'
import { waitFor } from '../support/wait.ts'

const SRC = new URL('../../src/', import.meta.url).href
const SUPPORT = new URL('../support/', import.meta.url).href

/** The child: ProxyServer + Reconciler routed to UPSTREAM_PORT, accessLog as the env gives it (ACCESS_LOG, DISABLE_ACCESS_LOGS). */
const CHILD = `
const { createLogger } = await import('${SRC}logger.ts')
const { resolveServeOptions } = await import('${SRC}config/env.ts')
const { ProxyServer } = await import('${SRC}proxy/proxy-server.ts')
const { Reconciler } = await import('${SRC}routing/reconciler.ts')
const { RouteTableStore } = await import('${SRC}routing/route-table-store.ts')
const { route } = await import('${SUPPORT}proxy-harness.ts')
const log = createLogger({ pretty: false })
const options = resolveServeOptions(process.env, {})
const store = new RouteTableStore()
const reconciler = new Reconciler(store, { balancing: 'round-robin', defaultHost: undefined, drainTimeoutMs: 2000, connectTimeoutMs: 1000, responseTimeoutMs: 5000 }, log.child({ component: 'routing' }))
reconciler.apply({ routes: [route('app.test', [Number(process.env.UPSTREAM_PORT)])] })
await reconciler.probeAll(5000)
const proxy = new ProxyServer(store, { host: '127.0.0.1', port: 0, trustDownstreamProxy: false, accessLog: options.accessLog, requestHeadersTimeoutMs: 5000, keepAliveTimeoutMs: 5000, maxHeaderSize: 16384, shutdownTimeoutMs: 2000 }, log.child({ component: 'proxy' }))
const { port } = await proxy.listen()
process.stderr.write(JSON.stringify({ port }) + '\\n')
// As src/cli/commands/serve.ts: stop, flush, let the process end; EXIT_AT_ONCE=1: process.exit() as
// soon as the logger's flush has completed, as the uncaught-exception path does, so no timer of the
// process runs again (a batch the access log still holds is handed over by its exit hook). Not
// before: an asynchronous write still in flight at process.exit() is lost, and on Node 24 it is.
process.once('SIGTERM', () => {
  proxy.stop().then(async () => {
    await reconciler.stop()
    if (process.env.EXIT_AT_ONCE === '1') { log.flush(() => process.exit(0)); return }
    log.flush()
    process.exitCode = 0
  })
})
`

interface LogLine { component?: string, requestId?: string, host?: string, path?: string, method?: string, status?: number, [k: string]: unknown }

async function startUpstream (t: Test): Promise<number> {
  const server: Server = createServer((req, res) => { req.resume(); res.writeHead(200, { 'content-length': 2 }).end('ok') })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => { server.closeAllConnections(); server.close() })
  return (server.address() as AddressInfo).port
}

async function startProxy (t: Test, upstreamPort: number, env: Record<string, string> = {}): Promise<{ port: number, stop: () => Promise<{ lines: string[], code: number | null }> }> {
  const child = spawn(process.execPath, [...process.execArgv, '--input-type=module', '-e', CHILD], {
    env: { ...process.env, LOG_LEVEL: 'info', UPSTREAM_PORT: String(upstreamPort), ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let out = ''
  let err = ''
  child.stdout!.on('data', (c: Buffer) => { out += c.toString('latin1') })
  child.stderr!.on('data', (c: Buffer) => { err += c.toString() })
  const exited = once(child, 'exit') as Promise<[number | null]>
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  const port = await waitFor(() => {
    if (child.exitCode !== null) throw new Error(`proxy child exited ${child.exitCode}: ${err}`)
    const m = /\{"port":(\d+)\}/.exec(err)
    return m === null ? undefined : Number(m[1])
  }, { timeoutMs: 30_000, what: 'the proxy child to listen' })
  return {
    port,
    stop: async () => {
      child.kill('SIGTERM')
      const [code] = await exited
      // The bytes as written, read as UTF-8 here (latin1 above keeps every byte until the line split).
      const text = Buffer.from(out, 'latin1').toString('utf8')
      return { lines: text.split('\n').filter((l) => l !== ''), code }
    }
  }
}

/** One raw HTTP/1.1 request (bytes as given: node's client would refuse most of these), answer's status. */
async function rawRequest (port: number, head: Buffer): Promise<number> {
  const socket = connect(port, '127.0.0.1')
  socket.write(head)
  let got = ''
  socket.on('data', (c: Buffer) => { got += c.toString('latin1') })
  await once(socket, 'end')
  socket.destroy()
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(got)?.[1] ?? 0)
}

const hostile = (i: number): { host: Buffer, path: Buffer } => ({
  // Header values: obs-text bytes (node:http reads them as latin-1), quotes, backslashes, a tab.
  host: Buffer.concat([Buffer.from(`app.test`), Buffer.from([0x22, 0x5c, 0x09, 0x80, 0xff, 0xe9]), Buffer.from(`${i}`)]),
  // Request targets node:http accepts (it answers 400 itself to controls and bytes above 0x7f there): quotes, backslashes, a forged field.
  path: Buffer.from(`/p${i}/"\\"},{"level":60,"forged":"|^\`?q="x"`)
})

for (const exitAtOnce of [false, true]) t.test(`every request has one whole JSON line, the last one before SIGTERM included${exitAtOnce ? ' (process.exit() right after the flush)' : ''}`, async (t) => {
  const upstreamPort = await startUpstream(t)
  const proxy = await startProxy(t, upstreamPort, exitAtOnce ? { EXIT_AT_ONCE: '1' } : {})
  const n = 400
  // Concurrent requests: lines finish in bunches and fill several batches.
  const statuses = await Promise.all(Array.from({ length: n }, async (_, i) => {
    const res = await request(`http://127.0.0.1:${proxy.port}/r/${i}`, { headers: { host: 'app.test', 'x-request-id': `req-${i}` } })
    await res.body.dump()
    return res.statusCode
  }))
  t.same(new Set(statuses), new Set([200]))
  // Hostile bytes, sent raw; whatever status node:http or the router gives, each has its line.
  const raw = Array.from({ length: 5 }, (_, i) => hostile(i))
  for (const [i, h] of raw.entries()) {
    await rawRequest(proxy.port, Buffer.concat([Buffer.from('GET '), h.path, Buffer.from(` HTTP/1.1\r\nHost: `), h.host, Buffer.from(`\r\nX-Request-ID: hostile-${i}\r\nConnection: close\r\n\r\n`)]))
  }
  // The last request, answered, then the signal at once.
  const last = await request(`http://127.0.0.1:${proxy.port}/last`, { headers: { host: 'app.test', 'x-request-id': 'last-before-stop' } })
  await last.body.dump()
  t.equal(last.statusCode, 200)
  const { lines, code } = await proxy.stop()
  t.equal(code, 0)
  const parsed: LogLine[] = []
  for (const l of lines) {
    try { parsed.push(JSON.parse(l) as LogLine) } catch { t.fail(`not one JSON line: ${l.slice(0, 200)}`) }
  }
  t.equal(parsed.length, lines.length, 'every line parses')
  const access = parsed.filter((l) => l.component === 'access')
  t.equal(access.length, n + raw.length + 1, 'one line per request')
  t.equal(new Set(access.map((l) => l.requestId)).size, access.length, 'no line twice')
  for (let i = 0; i < n; i++) {
    const l = access.find((a) => a.requestId === `req-${i}`)
    t.ok(l !== undefined && l.path === `/r/${i}` && l.host === 'app.test' && l.method === 'GET' && l.status === 200 && l.upstream !== undefined, `req-${i}`)
    if (l === undefined) break
  }
  for (const [i, h] of raw.entries()) {
    const l = access.find((a) => a.requestId === `hostile-${i}`)
    t.ok(l !== undefined, `hostile-${i} logged`)
    // Bytes above 0x7f reach the log as node:http decoded them (latin-1), written as UTF-8.
    t.equal(l?.host, h.host.toString('latin1'), `hostile-${i} host`)
    t.equal(l?.path, h.path.toString('latin1'), `hostile-${i} path`)
  }
  const lastLine = access.find((a) => a.requestId === 'last-before-stop')
  t.ok(lastLine !== undefined, 'the last request before stop is in the log')
  t.equal(lastLine?.path, '/last')
  // The fields and their order, as pino wrote them before (level, time, pid, the bindings, then the request).
  t.same(Object.keys(lastLine ?? {}), ['level', 'time', 'pid', 'component', 'requestId', 'host', 'method', 'path', 'status', 'upstream', 'durationMs', 'bytes', 'remote'])
  t.equal(lastLine?.level, 30)
})

t.test('DISABLE_ACCESS_LOGS=true: no access lines', async (t) => {
  const upstreamPort = await startUpstream(t)
  const proxy = await startProxy(t, upstreamPort, { DISABLE_ACCESS_LOGS: 'true' })
  for (let i = 0; i < 5; i++) {
    const res = await request(`http://127.0.0.1:${proxy.port}/`, { headers: { host: 'app.test' } })
    await res.body.dump()
    t.equal(res.statusCode, 200)
  }
  const { lines } = await proxy.stop()
  const parsed = lines.map((l) => JSON.parse(l) as LogLine)
  t.ok(parsed.some((l) => l.component === 'routing'), 'the process logged (its other lines are there)')
  t.equal(parsed.filter((l) => l.component === 'access').length, 0)
})
