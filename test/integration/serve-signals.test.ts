import { existsSync, mkdtempSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import t from 'tap'
import { startFakeDocker } from '../support/fake-docker.ts'
import { freePort } from '../support/ports.ts'
import { spawnServe } from '../support/serve-process.ts'
import { startUpstream } from '../support/upstream.ts'
import { waitFor } from '../support/wait.ts'

// issue 12: a stop asked for while `proxyctl serve` is still starting. With worker processes the
// first worker answers before the primary has finished its start; a SIGTERM then must drain every
// worker as a SIGTERM after the start does, and exit 0. Before the listeners open, the start is
// given up at once. Real processes, real sockets; Docker is a fake engine on a Unix socket.

const HOLD_WORKER = pathToFileURL(fileURLToPath(new URL('../support/hold-worker.mjs', import.meta.url))).href

async function get (port: number, path: string): Promise<{ status: number, body: string }> {
  return await new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path, headers: { host: 'app.test' }, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (c: string) => { body += c }).on('end', () => { resolve({ status: res.statusCode ?? 0, body }) })
    }).on('error', reject).end()
  })
}

async function refused (port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const s = connect(port, '127.0.0.1')
    s.once('connect', () => { s.destroy(); resolve(false) })
    s.once('error', () => { resolve(true) })
  })
}

/** A worker held in its start (hold-worker.mjs) until release(). */
function holdFile (): { path: string, isHeld: () => boolean, release: () => void } {
  const path = join(mkdtempSync(join(tmpdir(), 'proxyctl-hold-')), 'release')
  return { path, isHeld: () => existsSync(`${path}.held`), release: () => { writeFileSync(path, '') } }
}

t.test('--workers 2: a SIGTERM while the primary still starts drains the worker already answering, exit 0', async (t) => {
  // The slow request is answered only once the proxy has begun its stop, and 300 ms later: it is in
  // flight on worker 0 from before the SIGTERM until inside the drain.
  let slowArrived = false
  let stopBegan = (): void => {}
  const stopping = new Promise<void>((resolve) => { stopBegan = resolve })
  const up = await startUpstream((req, res) => {
    if (req.url === '/slow') {
      slowArrived = true
      void stopping.then(() => setTimeout(() => res.end('slow done'), 300))
      return
    }
    res.end('ok')
  })
  t.teardown(async () => { await up.close() })
  const docker = await startFakeDocker(t, { containers: [{ id: 'c'.repeat(64), host: 'app.test', ip: '127.0.0.1', port: up.port }] })
  const hold = holdFile()
  const port = await freePort()
  const proxy = spawnServe(t, ['--port', String(port), '--workers', '2'], {
    DOCKER_HOST: docker.dockerHost,
    NODE_OPTIONS: `--import=${HOLD_WORKER}`,
    PROXYCTL_TEST_HOLD_WORKER: '1',
    PROXYCTL_TEST_HOLD_FILE: hold.path
  })
  await waitFor(async () => (await get(port, '/ready').catch(() => undefined))?.status === 200, { timeoutMs: 60_000, what: 'worker 0 answering' })
  const slow = get(port, '/slow')
  await waitFor(() => slowArrived, { what: 'the slow request at the upstream' })
  await waitFor(() => hold.isHeld(), { what: 'worker 1 held in its start' })
  t.notOk(proxy.logs.some((l) => l.msg === 'Listening'), 'the primary has not finished its start')
  const signalledAt = Date.now()
  proxy.child.kill('SIGTERM')
  await proxy.waitForLog((l) => l.msg === 'Signal received during the start: stopping as soon as it can', 10_000)
  // The start goes on (worker 1 starts), then the stop drains both workers.
  hold.release()
  const stopLine = await proxy.waitForLog((l) => l.msg === 'Stopping', 20_000).finally(stopBegan)
  const answer = await slow
  const answeredAt = Date.now()
  t.same(answer, { status: 200, body: 'slow done' }, 'the request in flight at the SIGTERM completed')
  t.ok(answeredAt > Date.parse(String(stopLine.time)), 'after the stop had begun: the drain waited for it')
  const exit = await proxy.exited
  const exitMs = Date.now() - signalledAt
  t.same(exit, { code: 0, signal: null }, 'exit 0')
  t.ok(exitMs < 15_000, `exited ${exitMs} ms after the SIGTERM`)
  const msgs = proxy.logs.map((l) => l.msg)
  const order = ['Signal received during the start: stopping as soon as it can', 'Listening', 'Started; stopping as asked during the start', 'Stopping', 'Stopped']
  t.same(order.map((m) => msgs.indexOf(m) >= 0), order.map(() => true), 'the log says what happened')
  t.same(order.map((m) => msgs.indexOf(m)), order.map((m) => msgs.indexOf(m)).sort((a, b) => a - b), 'in that order')
  t.notOk(proxy.logs.some((l) => (l.level ?? 0) >= 50), 'nothing logged an error')
  t.equal(proxy.stderr(), '', 'nothing on stderr')
  t.ok(await refused(port), 'the port is closed')
  t.comment(`SIGTERM to exit: ${exitMs} ms`)
})

for (const workers of [1, 2]) {
  t.test(`--workers ${workers}: a SIGTERM before the listener opens gives the start up at once, exit 0`, async (t) => {
    const docker = await startFakeDocker(t, { holdPing: true })
    const port = await freePort()
    const proxy = spawnServe(t, ['--port', String(port), '--workers', String(workers)], { DOCKER_HOST: docker.dockerHost })
    // The start is waiting for Docker's answer, which does not come.
    await waitFor(() => docker.calls.includes('GET /_ping'), { timeoutMs: 60_000, what: 'the ping to Docker' })
    const signalledAt = Date.now()
    proxy.child.kill('SIGTERM')
    const exit = await proxy.exited
    const exitMs = Date.now() - signalledAt
    t.same(exit, { code: 0, signal: null }, 'exit 0')
    t.ok(exitMs < 3_000, `exited ${exitMs} ms after the SIGTERM, Docker still silent`)
    const msgs = proxy.logs.map((l) => l.msg)
    t.ok(msgs.includes('Stopped before listening: the start was given up'), 'the log says so')
    t.notOk(msgs.includes('Listening') || msgs.includes('Worker listening'), 'nothing listened')
    t.notOk(proxy.logs.some((l) => (l.level ?? 0) >= 50), 'nothing logged an error')
    t.equal(proxy.stderr(), '', 'nothing on stderr')
    t.ok(await refused(port), 'nothing on the port')
    t.comment(`--workers ${workers}: SIGTERM to exit ${exitMs} ms`)
  })
}
