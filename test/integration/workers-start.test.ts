import { request } from 'node:http'
import { fileURLToPath, pathToFileURL } from 'node:url'
import t from 'tap'
import { startFakeDocker } from '../support/fake-docker.ts'
import { freePort } from '../support/ports.ts'
import { spawnServe } from '../support/serve-process.ts'
import { startUpstream } from '../support/upstream.ts'
import { waitFor } from '../support/wait.ts'

// issue 12: a worker process gets its start-up message (options, routing) only once its listener
// for it is in place. node:cluster's 'online' comes before the worker's module has run; a message
// sent then is dropped when the event loop turns first (an asynchronous --import preload), and the
// worker, and the proxy's start, waited forever. Real processes; Docker is a fake engine.

const SLOW_PRELOAD = pathToFileURL(fileURLToPath(new URL('../support/slow-worker-module.mjs', import.meta.url))).href

async function status (port: number): Promise<number> {
  return await new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path: '/', headers: { host: 'app.test' }, agent: false }, (res) => {
      res.resume().on('end', () => { resolve(res.statusCode ?? 0) })
    }).on('error', reject).end()
  })
}

t.test('--workers 2 with an asynchronous preload in every worker: both workers start and serve', async (t) => {
  const up = await startUpstream((_req, res) => { res.end('ok') })
  t.teardown(async () => { await up.close() })
  const docker = await startFakeDocker(t, { containers: [{ id: 'a'.repeat(64), host: 'app.test', ip: '127.0.0.1', port: up.port }] })
  const port = await freePort()
  const proxy = spawnServe(t, ['--port', String(port), '--workers', '2'], {
    DOCKER_HOST: docker.dockerHost,
    NODE_OPTIONS: `--import=${SLOW_PRELOAD}`,
    PROXYCTL_TEST_PRELOAD_WAIT_MS: '300'
  })
  const listening = await proxy.waitForLog((l) => l.msg === 'Listening', 60_000)
  t.ok(listening, 'the primary finished its start')
  const workers = proxy.logs.filter((l) => l.msg === 'Worker listening').map((l) => l.worker)
  t.same([...new Set(workers)].sort(), [0, 1], 'both workers listening')
  t.equal(await waitFor(async () => (await status(port).catch(() => 0)) === 200 ? 200 : undefined, { timeoutMs: 10_000, what: 'an answer' }), 200)
  t.notOk(proxy.logs.some((l) => l.msg === 'Worker did not start in time; killing it'), 'no worker had to be killed')
})
