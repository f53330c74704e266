import t from 'tap'
import { DeployLocks, MAX_LEASE_MS } from '../../src/admin/server/deploy-locks.ts'

// Issue 10, item 5: the lock table is bounded (expired leases swept, a cap on live ones).

t.test('expired leases are swept, so abandoned keys do not accumulate', async (t) => {
  let now = 0
  const locks = new DeployLocks(() => now, 10)
  for (let i = 0; i < 10; i++) locks.acquire(`svc-${i}`, 'a', 1_000)
  t.equal(locks.size, 10)
  now = 1_000
  t.same(locks.acquire('fresh', 'b', 1_000), { acquired: true })
  t.equal(locks.size, 1, 'the ten expired leases went with the next acquire')
})

t.test('beyond the cap, a new key is refused with a clear error; renewals still pass', async (t) => {
  const locks = new DeployLocks(() => 0, 3)
  for (const k of ['a', 'b', 'c']) locks.acquire(k, 'h', 1_000)
  t.throws(() => locks.acquire('d', 'h', 1_000), { code: 'PROXY_ERR_ADMIN', statusCode: 503 })
  t.same(locks.acquire('a', 'h', 1_000), { acquired: true }, 'the holder renews at the cap')
  t.equal(locks.acquire('a', 'other', 1_000).acquired, false, 'a held key still answers "in progress"')
  t.ok(locks.release('b', 'h'))
  t.same(locks.acquire('d', 'h', 1_000), { acquired: true }, 'room again after a release')
})

t.test('a lease cannot be asked for longer than MAX_LEASE_MS', async (t) => {
  let now = 0
  const locks = new DeployLocks(() => now)
  locks.acquire('svc', 'a', Number.MAX_SAFE_INTEGER)
  now = MAX_LEASE_MS
  t.same(locks.acquire('svc', 'b', 1_000), { acquired: true }, 'the huge lease expired at the cap')
})
