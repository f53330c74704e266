import t from 'tap'
import { AuthThrottle, clientKey } from '../../src/proxy/auth-throttle.ts'
import { parseBasicCredentials, MAX_AUTHORIZATION_LENGTH } from '../../src/proxy/basic-auth.ts'
import { decoyHash, parseHtpasswd } from '../../src/proxy/htpasswd.ts'

// Issue 10, item 5: repeated failures per client address are slowed down, in a bounded table.

t.test('an address is throttled after maxFailures in the window and released when it ends', async (t) => {
  let now = 0
  const th = new AuthThrottle({ maxFailures: 3, windowMs: 10_000, maxClients: 100, now: () => now })
  for (let i = 0; i < 3; i++) {
    t.ok(th.begin('198.51.100.7'), `attempt ${i + 1} allowed`)
    th.settled('198.51.100.7', false)
  }
  t.notOk(th.begin('198.51.100.7'), 'the fourth is refused')
  t.equal(th.retryAfterSeconds('198.51.100.7'), 10)
  t.ok(th.begin('198.51.100.8'), 'other addresses are not affected')
  now = 9_500
  t.equal(th.retryAfterSeconds('198.51.100.7'), 1, 'Retry-After counts down, at least 1 s')
  t.notOk(th.begin('198.51.100.7'))
  now = 10_000
  t.equal(th.retryAfterSeconds('198.51.100.7'), 0)
  t.ok(th.begin('198.51.100.7'), 'released once the window has passed')
})

t.test('verifications in flight count, so parallel guesses cannot overshoot', async (t) => {
  const th = new AuthThrottle({ maxFailures: 3, windowMs: 10_000, maxClients: 100, now: () => 0 })
  const started = Array.from({ length: 10 }, () => th.begin('203.0.113.1')).filter(Boolean).length
  t.equal(started, 3)
  for (let i = 0; i < 3; i++) th.settled('203.0.113.1', true)
  t.ok(th.begin('203.0.113.1'), 'successes free their reservation without counting as failures')
})

t.test('the per-address table is bounded', async (t) => {
  const th = new AuthThrottle({ maxFailures: 3, windowMs: 10_000, maxClients: 50, now: () => 0 })
  for (let i = 0; i < 1_000; i++) th.failed(`10.0.${i >> 8}.${i & 255}`)
  t.equal(th.size, 50)
})

t.test('clients are counted by IPv4 address or IPv6 /64', async (t) => {
  const cases: Array<[string, string]> = [
    ['192.0.2.1', '192.0.2.1'],
    ['::ffff:192.0.2.1', '192.0.2.1'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:db8:1:2::9', '2001:db8:1:2::/64'],
    ['2001:0DB8:0001:0002:ffff::1', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64']
  ]
  for (const [address, want] of cases) t.equal(clientKey(address), want, address)
})

t.test('Authorization values: only well-formed Basic credentials are decoded', async (t) => {
  const b64 = (s: string | Buffer): string => Buffer.from(s).toString('base64')
  t.same(parseBasicCredentials(`Basic ${b64('alice:pw:with:colons')}`), { user: 'alice', password: 'pw:with:colons' })
  t.same(parseBasicCredentials(`basic  ${b64('alice:')}`), { user: 'alice', password: '' }, 'scheme is case-insensitive')
  t.same(parseBasicCredentials(`Basic ${b64('bob:x').replace(/=+$/, '')}`), { user: 'bob', password: 'x' }, 'padding may be left out')
  const refused: Array<[string, string]> = [
    ['Bearer abc', 'another scheme'],
    ['Basic', 'no credentials'],
    ['Basic !!!!', 'not base64'],
    ['Basic YWxpY2U6cHc=junk', 'junk after padding'],
    [`Basic ${b64('no-colon')}`, 'no colon'],
    [`Basic ${b64(Buffer.from([0x61, 0x3a, 0xff, 0xfe]))}`, 'not UTF-8'],
    [`Basic ${b64('alice:' + 'x'.repeat(MAX_AUTHORIZATION_LENGTH))}`, 'longer than the cap']
  ]
  for (const [value, desc] of refused) t.equal(parseBasicCredentials(value), undefined, desc)
})

t.test('unknown users are checked against the file\'s most expensive hash', async (t) => {
  const users = parseHtpasswd('# comment\nsha:{SHA}x\ncheap:$2y$05$abc\ndear:$2y$12$def\n\nbad line\n')
  t.same([...users.keys()], ['sha', 'cheap', 'dear'])
  t.equal(decoyHash(users), '$2y$12$def')
  t.equal(decoyHash(parseHtpasswd('a:{SHA}1\nb:$apr1$2')), '{SHA}1', 'else the first entry')
  t.equal(decoyHash(new Map()), undefined)
})
