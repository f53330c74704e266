import { request } from 'node:http'
import { connect, createServer, type Server } from 'node:net'
import t, { type Test } from 'tap'
import { startFakeDocker } from '../support/fake-docker.ts'
import { freePort } from '../support/ports.ts'
import { spawnServe } from '../support/serve-process.ts'
import { startUpstream } from '../support/upstream.ts'

// issue 12: with worker processes every port is bound with SO_REUSEPORT, which lets any process of
// the same user bind it too and share its connections. Every such port is claimed first with a
// plain bind: the proxy's own (the start fails, nothing started) and the hosts' EXTERNAL_HTTP_PORT
// (refused and logged as the single process does; the port stays the other holder's alone).

/** Something else on `port` with SO_REUSEPORT (a second proxyctl would be): counts its connections. */
async function reusePortHolder (t: Test, port: number): Promise<{ accepted: () => number }> {
  let accepted = 0
  const server: Server = createServer((s) => { accepted++; s.resume(); s.end('HTTP/1.1 200 OK\r\ncontent-length: 7\r\nconnection: close\r\n\r\nforeign') })
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen({ port, host: '127.0.0.1', reusePort: true }, resolve) })
  t.teardown(async () => { await new Promise<void>((resolve) => server.close(() => { resolve() })) })
  return { accepted: () => accepted }
}

async function get (port: number, host: string): Promise<{ status: number, body: string }> {
  return await new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path: '/', headers: { host }, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (c: string) => { body += c }).on('end', () => { resolve({ status: res.statusCode ?? 0, body }) })
    }).on('error', reject).end()
  })
}

/** `n` connections, one after another: how many were answered at all. */
async function connectMany (port: number, n: number): Promise<number> {
  let answered = 0
  for (let i = 0; i < n; i++) {
    await new Promise<void>((resolve) => {
      const s = connect(port, '127.0.0.1', () => { s.end('GET / HTTP/1.1\r\nhost: ext.test\r\nconnection: close\r\n\r\n') })
      s.on('data', () => {})
      s.once('end', () => { answered++; resolve() })
      s.once('error', () => { resolve() })
    })
  }
  return answered
}

t.test('--workers 2: the proxy\'s port held by another SO_REUSEPORT socket is a clear error, no worker started', async (t) => {
  const docker = await startFakeDocker(t)
  const port = await freePort()
  const other = await reusePortHolder(t, port)
  const proxy = spawnServe(t, ['--port', String(port), '--workers', '2'], { DOCKER_HOST: docker.dockerHost })
  const exit = await proxy.exited
  t.not(exit.code, 0, `a failed start (exit ${exit.code ?? exit.signal ?? ''})`)
  t.match(proxy.stderr(), new RegExp(`cannot listen for HTTP on 127\\.0\\.0\\.1:${port}: EADDRINUSE \\(choose another with --port N\\)`))
  t.notOk(proxy.logs.some((l) => l.msg === 'Worker listening' || l.msg === 'Listening'), 'no worker started')
  t.equal(await connectMany(port, 10), 10)
  t.equal(other.accepted(), 10, 'every connection reached the other holder')
})

t.test('--workers 2: a host\'s EXTERNAL_HTTP_PORT held by another SO_REUSEPORT socket is refused, not shared', async (t) => {
  const up = await startUpstream((req, res) => { res.end(`app ${req.headers.host ?? ''}`) })
  t.teardown(async () => { await up.close() })
  const taken = await freePort()
  const free = await freePort()
  const other = await reusePortHolder(t, taken)
  const docker = await startFakeDocker(t, {
    containers: [
      { id: 'a'.repeat(64), host: 'ext.test', ip: '127.0.0.1', port: up.port, env: { EXTERNAL_HTTP_PORT: String(taken) } },
      { id: 'b'.repeat(64), host: 'free.test', ip: '127.0.0.1', port: up.port, env: { EXTERNAL_HTTP_PORT: String(free) } }
    ]
  })
  const port = await freePort()
  const proxy = spawnServe(t, ['--port', String(port), '--workers', '2'], { DOCKER_HOST: docker.dockerHost })
  await proxy.waitForLog((l) => l.msg === 'Listening', 60_000)
  const refusals = proxy.logs.filter((l) => l.msg === 'Listener not opened; hosts on this port are not served' && l.port === taken)
  t.equal(new Set(refusals.map((l) => l.pid)).size, 2, 'both workers refused it')
  t.ok(refusals.every((l) => l.err === 'EADDRINUSE'), 'as EADDRINUSE, as the single process says')
  t.notOk(proxy.logs.some((l) => l.msg === 'Listener opened' && l.port === taken), 'no worker opened it')
  const opened = proxy.logs.filter((l) => l.msg === 'Listener opened' && l.port === free)
  t.equal(new Set(opened.map((l) => l.pid)).size, 2, 'a free external port: opened by both workers (claimed once, held by both)')
  t.same(await get(free, 'free.test'), { status: 200, body: 'app free.test' })
  t.equal(await connectMany(taken, 40), 40)
  t.equal(other.accepted(), 40, 'every connection to the taken port reached the other holder, none a worker')
  t.equal(proxy.child.exitCode, null, 'the proxy serves on')
  proxy.child.kill('SIGTERM')
  t.same(await proxy.exited, { code: 0, signal: null })
})
