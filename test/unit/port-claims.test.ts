import { createServer, type Server } from 'node:net'
import t from 'tap'
import { PortClaims, claimPort } from '../../src/workers/port-claim.ts'
import { freePort } from '../support/ports.ts'

// The primary's claims of the hosts' extra ports (workers/port-claim.ts): one plain bind per port
// while no worker holds it, shared by every worker that asks meanwhile; a port something else
// holds is refused to every worker.

async function listen (port: number, reusePort: boolean): Promise<Server> {
  const s = createServer()
  await new Promise<void>((resolve, reject) => { s.once('error', reject); s.listen({ port, host: '127.0.0.1', reusePort }, resolve) })
  return s
}

t.test('a free port: granted to every worker asking at once, claimed again only once none holds it', async (t) => {
  const claims = new PortClaims('127.0.0.1')
  const port = await freePort()
  t.same(await Promise.all([0, 1, 2].map(async (slot) => await claims.claim(slot, port))), [undefined, undefined, undefined])
  // The workers bind it now; a plain bind would fail, the claim does not ask again while one holds it.
  const bound = await Promise.all([0, 1].map(async () => await listen(port, true)))
  t.teardown(() => { for (const s of bound) s.close() })
  t.equal(await claims.claim(3, port), undefined, 'a worker started later (a replacement) gets it too')
  claims.release(0, port)
  claims.releaseAll(1)
  claims.release(2, port)
  t.equal(await claims.claim(4, port), undefined, 'still held by one worker: granted without a bind')
  claims.release(4, port)
  claims.release(3, port)
  // None holds it now: the next claim binds, and our own sockets (still open here) make it fail.
  t.equal(await claims.claim(5, port), 'EADDRINUSE', 'claimed anew, and refused while anything holds it')
})

t.test('a port something else holds with SO_REUSEPORT: refused to every worker, as to the process itself', async (t) => {
  const port = await freePort()
  const other = await listen(port, true)
  t.teardown(() => { other.close() })
  const claims = new PortClaims('127.0.0.1')
  t.same(await Promise.all([0, 1].map(async (slot) => await claims.claim(slot, port))), ['EADDRINUSE', 'EADDRINUSE'])
  t.equal(await claimPort('127.0.0.1', port), 'EADDRINUSE', 'outside a worker the plain bind is done here')
  await new Promise<void>((resolve) => other.close(() => { resolve() }))
  t.equal(await claims.claim(0, port), undefined, 'free again: granted')
  t.equal(await claimPort('127.0.0.1', port), undefined)
})
