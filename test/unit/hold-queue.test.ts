import t from 'tap'
import { HoldQueue, type HoldOutcome } from '../../src/traffic/hold-queue.ts'
import { PolicyStore, type PausePolicy } from '../../src/traffic/policy.ts'

// Issue 13 item 3: requests held for a paused host, driven only by the policy snapshot.

const pause = (maxHoldMs = 60_000, maxQueued = 100): PausePolicy => ({ since: 0, maxHoldMs, maxQueued })

function setup (): { store: PolicyStore, queue: HoldQueue } {
  const store = new PolicyStore()
  const queue = new HoldQueue(() => store.current)
  store.onChanged((s) => { queue.sync(s) })
  return { store, queue }
}

t.test('held requests are released in arrival order when the pause leaves the snapshot', async (t) => {
  const { store, queue } = setup()
  store.update('a.test', (p) => ({ ...p, pause: pause() }))
  const order: number[] = []
  const held = [0, 1, 2, 3, 4].map((i) => queue.hold('a.test').then((o) => { order.push(i); return o }))
  t.equal(queue.held('a.test'), 5)
  store.update('a.test', (p) => ({ ...p, pause: undefined }))
  t.same(await Promise.all(held), ['released', 'released', 'released', 'released', 'released'])
  t.same(order, [0, 1, 2, 3, 4], 'in the order they arrived')
  t.equal(queue.total, 0)
})

t.test('a host that is not paused (any more) is not held; other hosts are not released', async (t) => {
  const { store, queue } = setup()
  t.equal(await queue.hold('free.test'), 'released')
  store.update('a.test', (p) => ({ ...p, pause: pause() }))
  store.update('b.test', (p) => ({ ...p, pause: pause() }))
  let bDone = false
  const a = queue.hold('a.test')
  void queue.hold('b.test').then(() => { bDone = true })
  store.update('a.test', (p) => ({ ...p, pause: undefined }))
  t.equal(await a, 'released')
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(bDone, false, 'b.test stays held')
  t.equal(queue.held('b.test'), 1)
  queue.expireAll()
})

t.test('past maxHoldMs a held request expires; beyond maxQueued one is refused at once', async (t) => {
  const { store, queue } = setup()
  store.update('a.test', (p) => ({ ...p, pause: pause(30, 2) }))
  const started = Date.now()
  const first = queue.hold('a.test')
  const second = queue.hold('a.test')
  t.equal(await queue.hold('a.test'), 'full', 'the third is over the bound')
  t.equal(await first, 'expired')
  t.equal(await second, 'expired')
  t.ok(Date.now() - started >= 25, 'after about maxHoldMs')
  t.equal(queue.held('a.test'), 0)
})

t.test('a client that hangs up leaves the queue; the others keep their place', async (t) => {
  const { store, queue } = setup()
  store.update('a.test', (p) => ({ ...p, pause: pause(60_000, 2) }))
  const gone = new AbortController()
  const order: string[] = []
  const a = queue.hold('a.test').then((o) => { order.push('a'); return o })
  const b = queue.hold('a.test', gone.signal)
  gone.abort()
  t.equal(await b, 'gone')
  t.equal(queue.held('a.test'), 1)
  const c = queue.hold('a.test').then((o) => { order.push('c'); return o })
  t.equal(queue.held('a.test'), 2, 'its place is free for another')
  store.update('a.test', (p) => ({ ...p, pause: undefined }))
  t.same([await a, await c], ['released', 'released'])
  t.same(order, ['a', 'c'])
  const already = new AbortController()
  already.abort()
  store.update('a.test', (p) => ({ ...p, pause: pause() }))
  t.equal(await queue.hold('a.test', already.signal), 'gone', 'an aborted signal is not queued')
  t.equal(queue.held('a.test'), 0)
})

t.test('paused again with other bounds: the held get the new max hold (from when they arrived) and the new queue bound', async (t) => {
  const { store, queue } = setup()
  store.update('a.test', (p) => ({ ...p, pause: pause(60_000, 10) }))
  const outcomes: HoldOutcome[] = []
  const held = [0, 1, 2].map(() => queue.hold('a.test').then((o) => { outcomes.push(o); return o }))
  store.update('a.test', (p) => ({ ...p, pause: pause(20, 2) }))
  await Promise.all(held)
  t.same(outcomes, ['full', 'expired', 'expired'], 'the newest beyond the lowered bound at once, the others at the new max hold')
})

t.test('a maintenance or canary change on the host does not release its held requests', async (t) => {
  const { store, queue } = setup()
  store.update('a.test', (p) => ({ ...p, pause: pause() }))
  let settled = false
  void queue.hold('a.test').then(() => { settled = true })
  store.update('a.test', (p) => ({ ...p, maintenance: { page: undefined, allow: [], since: 0 } }))
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(settled, false)
  t.equal(queue.held('a.test'), 1)
  queue.expireAll()
  t.equal(queue.held('a.test'), 0)
})
