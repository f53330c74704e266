import { request } from 'node:http'
import t from 'tap'
import { get } from '../support/http-client.ts'
import { route, startHarness } from '../support/proxy-harness.ts'
import { startUpstream } from '../support/upstream.ts'
import { waitFor } from '../support/wait.ts'

t.test('drain waits for in-flight requests, routes nothing new, and closes SSE after the grace period', async (t) => {
  const up = await startUpstream((req, res) => {
    if (req.url === '/sse') {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write('data: hello\n\n')
      return // never ends by itself
    }
    setTimeout(() => res.end('done'), req.url === '/slow' ? 600 : 0)
  })
  const h = await startHarness()
  t.teardown(async () => { await h.stop(); await up.close() })
  h.apply([route('app.test', [up.port])])
  await h.waitReady(1)

  const sseClosed = new Promise<number>((resolve) => {
    request({ host: '127.0.0.1', port: h.port, path: '/sse', headers: { host: 'app.test' }, agent: false }, (res) => {
      res.on('data', () => {})
      res.on('close', () => { resolve(Date.now()) })
    }).end()
  })
  const slow = get(h.port, 'app.test', '/slow')
  const target = h.reconciler.targets()[0]!
  await waitFor(() => target.inflight === 1 && target.longLivedCount === 1, { what: 'one slow request and one SSE stream' })

  const drainStarted = Date.now()
  const drained = h.reconciler.drain(target.groupId, 5_000, 300)
  t.equal(target.state, 'draining')
  t.equal((await get(h.port, 'app.test', '/')).status, 503, 'no new requests while draining')
  const result = await drained
  t.equal(result?.drained, true)
  t.equal(result?.inflightLeft, 0)
  t.equal((await slow).body, 'done', 'the in-flight request finished')
  t.ok(Date.now() - drainStarted >= 500, 'drain waited for it')
  const closedAt = await sseClosed
  t.ok(closedAt - drainStarted < 2_000, `SSE closed ${closedAt - drainStarted} ms into the drain`)
  t.equal(result?.longLivedClosed, 1)
})

t.test('drain gives up at its timeout and reports what is left', async (t) => {
  const up = await startUpstream((_req, res) => { setTimeout(() => res.end('late'), 1_500) })
  const h = await startHarness()
  t.teardown(async () => { await h.stop(); await up.close() })
  h.apply([route('app.test', [up.port])])
  await h.waitReady(1)
  const pending = get(h.port, 'app.test', '/')
  const target = h.reconciler.targets()[0]!
  await waitFor(() => target.inflight === 1)
  const result = await h.reconciler.drain(target.groupId, 200, 100)
  t.equal(result?.drained, false)
  t.equal(result?.inflightLeft, 1)
  t.equal((await pending).status, 200, 'the request still completes after the timeout')
})

t.test('a withdrawn target (kill event) is re-admitted when its container starts again', async (t) => {
  const up = await startUpstream((_req, res) => { res.end('ok') })
  const h = await startHarness()
  t.teardown(async () => { await h.stop(); await up.close() })
  h.apply([route('app.test', [up.port])])
  await h.waitReady(1)
  const target = h.reconciler.targets()[0]!
  h.reconciler.withdraw(target.groupId, 'kill event')
  t.equal(target.state, 'draining')
  t.equal((await get(h.port, 'app.test')).status, 503)
  h.reconciler.restore(target.groupId, 'start event')
  await h.waitReady(1)
  t.equal((await get(h.port, 'app.test')).status, 200)
})
