// The canary's sticky split (issue 13): buckets from the proxy's cookie (hostile input) or the
// client address, the share, stickiness as the share grows, and the fallback when a side is empty.
import t, { type Test } from 'tap'
import { DEFAULT_HEALTH_CHECK } from '../../src/config/options.ts'
import { LoadBalancer } from '../../src/routing/load-balancer.ts'
import { Target } from '../../src/routing/target.ts'
import { BUCKETS, CanarySplit, bucketFromCookie, newCookieName, COOKIE_NAME } from '../../src/traffic/canary.ts'
import type { CanaryPolicy } from '../../src/traffic/policy.ts'

const POOL = { connectTimeoutMs: 1_000, responseTimeoutMs: 1_000 }
const PASS = { ok: true, at: '', detail: 'ok', durationMs: 1 }

function target (t: Test, group: string, ready = true): Target {
  const tg = new Target({
    id: `${group}:80:http`, groupId: group, name: `app-${group}`, address: '10.0.0.1', port: 80, protocol: 'http',
    health: { ...DEFAULT_HEALTH_CHECK, healthyThreshold: 1, unhealthyThreshold: 1 }, externalHealth: 'none'
  }, POOL, () => {})
  if (ready) tg.healthCheckCompleted(PASS)
  t.teardown(async () => { await tg.pool.destroy() })
  return tg
}

const NAME = 'pxc_0a1b2c3d'

t.test('the cookie is read only as <name>=<1-4 digits> below the bucket count', async (t) => {
  const cases: Array<[string | undefined, number | undefined]> = [
    [undefined, undefined],
    ['', undefined],
    [`${NAME}=42`, 42],
    [`a=1; ${NAME}=9999; b=2`, 9999],
    [`a=1;${NAME}=7`, 7],
    [`${NAME}= 15 ;x=1`, 15],
    [`${NAME}=10000`, undefined],
    [`${NAME}=00042`, undefined],
    [`${NAME}=-1`, undefined],
    [`${NAME}=1e3`, undefined],
    [`${NAME}=`, undefined],
    [`${NAME}`, undefined],
    [`x${NAME}=5`, undefined],
    [`x${NAME}=5; ${NAME}=6`, 6],
    [`${NAME}x=5`, undefined],
    [`${NAME}=%35`, undefined],
    [`${NAME}=5\u0000`, undefined],
    ['pxc_ffffffff=5', undefined]
  ]
  for (const [cookie, want] of cases) t.equal(bucketFromCookie(cookie, NAME), want, JSON.stringify(cookie))
})

t.test('a huge hostile Cookie header is scanned in linear time', async (t) => {
  const hostile = `${NAME}x;`.repeat(20_000) + `${NAME}=3`
  const started = performance.now()
  t.equal(bucketFromCookie(hostile, NAME), 3)
  t.ok(performance.now() - started < 200, `${(performance.now() - started).toFixed(1)} ms`)
})

t.test('any run of 50 new clients splits within 4 points of the share (a hash would be ±6 points at one sd)', async (t) => {
  const lb = new LoadBalancer([target(t, 'old1'), target(t, 'new1')], 'round-robin')
  let worst = 0
  for (const offset of [0, 0.13, 0.5, 0.77, 0.999]) {
    for (const share of [0.05, 0.1, 0.2, 0.5]) {
      const split = new CanarySplit({ offset })
      const policy: CanaryPolicy = { newTargets: ['new1'], share, cookie: NAME }
      for (let i = 0; i < 37 * offset * 10; i++) split.choose(lb, policy, undefined, `198.51.100.${i % 250}:${i}`) // other clients before
      let onNew = 0
      for (let i = 0; i < 50; i++) if (split.choose(lb, policy, undefined, `2001:db8::${i}`)!.side === 'new') onNew++
      worst = Math.max(worst, Math.abs(onNew / 50 - share))
    }
  }
  t.ok(worst <= 0.04 + 1e-9, `worst deviation ${(worst * 100).toFixed(1)} points`)
  t.match(newCookieName(), COOKIE_NAME)
})

t.test('a client without cookies keeps its bucket by address; the memory is bounded', async (t) => {
  const lb = new LoadBalancer([target(t, 'old1'), target(t, 'new1')], 'round-robin')
  const split = new CanarySplit({ maxRemembered: 100 })
  const policy: CanaryPolicy = { newTargets: ['new1'], share: 0.3, cookie: NAME }
  // Half the bound is always remembered (the current generation).
  const first = Array.from({ length: 50 }, (_, i) => split.choose(lb, policy, undefined, `192.0.2.${i}`)!.setCookie)
  const again = Array.from({ length: 50 }, (_, i) => split.choose(lb, policy, undefined, `192.0.2.${i}`)!.setCookie)
  t.same(again, first, 'the same bucket (and cookie) for the same address')
  const later = Array.from({ length: 100 }, (_, i) => split.choose(lb, policy, undefined, `203.0.113.${i}`)!.setCookie)
  t.not(split.choose(lb, policy, undefined, '192.0.2.0')!.setCookie, first[0], 'an address not seen for 100 others was forgotten')
  t.same(split.choose(lb, policy, undefined, '203.0.113.99')!.setCookie, later[99], 'a recent one is kept')
})

t.test('choose: the share of clients, the other side excluded, the cookie set only when missing', async (t) => {
  const fresh = target(t, 'new1')
  const old = target(t, 'old1')
  const lb = new LoadBalancer([old, fresh], 'round-robin')
  const split = new CanarySplit()
  const policy: CanaryPolicy = { newTargets: ['new1'], share: 0.2, cookie: NAME }
  let onNew = 0
  for (let bucket = 0; bucket < BUCKETS; bucket += 10) {
    const c = split.choose(lb, policy, `${NAME}=${bucket}`, '192.0.2.1')!
    t.equal(c.setCookie, undefined)
    if (c.side === 'new') {
      onNew++
      t.equal(lb.pick(c.exclude), fresh)
    } else {
      t.equal(lb.pick(c.exclude), old)
    }
  }
  t.equal(onNew, 200, 'exactly the buckets under 20 %')
  const first = split.choose(lb, policy, undefined, '192.0.2.9')!
  t.match(first.setCookie, new RegExp(`^${NAME}=\\d{1,4}; Path=/; Max-Age=\\d+; HttpOnly; SameSite=Lax$`))
  const bucket = Number(/=(\d+);/.exec(first.setCookie!)![1])
  t.equal(first.side, bucket < 2000 ? 'new' : 'old', 'the cookie names the bucket the request was split by')
  t.equal(split.choose(lb, policy, `${NAME}=${bucket}`, '192.0.2.200')!.side, first.side, 'the cookie keeps the side from another address')
  t.equal(split.choose(lb, undefined, undefined, '192.0.2.9'), undefined, 'no policy: no split')
})

t.test('a client on the new version stays there as the share grows; at 0 % nobody is', async (t) => {
  const lb = new LoadBalancer([target(t, 'old1'), target(t, 'new1')], 'least-outstanding')
  const split = new CanarySplit()
  const sideAt = (share: number, client: string): string => split.choose(lb, { newTargets: ['new1'], share, cookie: NAME }, undefined, client)!.side
  const clients = Array.from({ length: 500 }, (_, i) => `2001:db8::${i.toString(16)}`)
  for (const [from, to] of [[0.1, 0.5], [0.5, 1], [0.1, 1]] as const) {
    for (const c of clients) if (sideAt(from, c) === 'new') t.equal(sideAt(to, c), 'new', `${c} at ${from} then ${to}`)
  }
  t.notOk(clients.some((c) => sideAt(0, c) === 'new'))
  t.ok(clients.every((c) => sideAt(1, c) === 'new'))
})

t.test('a side without a ready target: no split (any target), so nobody gets a 503 for it', async (t) => {
  const lb = new LoadBalancer([target(t, 'old1'), target(t, 'new1', false)], 'round-robin')
  const split = new CanarySplit()
  t.equal(split.choose(lb, { newTargets: ['new1'], share: 1, cookie: NAME }, undefined, '192.0.2.1'), undefined)
  t.equal(split.choose(lb, { newTargets: ['new1'], share: 0, cookie: NAME }, undefined, '192.0.2.1')?.side, 'old')
})
