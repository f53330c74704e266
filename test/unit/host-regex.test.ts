import t from 'tap'
import { parseContainer, validateHost } from '../../src/docker/virtual-host.ts'
import { compileHostRegex, MAX_HOST_REGEX_PROGRAM_SIZE } from '../../src/routing/host-regex.ts'
import { LoadBalancer } from '../../src/routing/load-balancer.ts'
import { HostRoutes, RouteTable, type Location } from '../../src/routing/route-table.ts'

// Patterns that take exponential (or high-polynomial) time on a backtracking engine, with inputs
// of the longest host name a client may send (253) in the shapes that make backtracking explode.
// Host names reaching lookup are lower-cased [a-z0-9_.-], so '-' plays the role of ReDoS's '!'.
const N = 253
const a = (n: number): string => 'a'.repeat(n)
// jsUpTo: longest input RegExp is still fast on (default 8), for the cross-check below.
const hostile: Array<{ pattern: string, host: string, match: boolean, jsUpTo?: number }> = [
  { pattern: '^(a+)+$', host: a(N - 1) + '-', match: false },
  { pattern: '^(a+)+$', host: a(N), match: true },
  { pattern: '(a|aa)*b', host: a(N), match: false },
  { pattern: '(a|aa)*b', host: a(N - 1) + 'b', match: true },
  { pattern: '(.*a){19}', host: a(18) + '-'.repeat(N - 18), match: false },
  { pattern: '(.*a){19}', host: 'x' + a(19).split('').join('-').slice(0, N - 1), match: true },
  { pattern: '^(([a-z])+.)+[A-Z]([a-z])+$', host: a(N), match: false },
  { pattern: '^(a|a?)+$', host: a(N - 1) + '-', match: false },
  { pattern: '(x+x+)+y', host: 'x'.repeat(N), match: false },
  { pattern: '^([a-z0-9]+[.-]?)+\\.example\\.com$', host: a(N - 12) + '.example.co', match: false },
  { pattern: '^([a-z0-9]+[.-]?)+\\.example\\.com$', host: a(N - 12) + '.example.com', match: true },
  { pattern: '^(([a-z0-9]+)*\\.)*example\\.com$', host: (a(10) + '.').repeat(22) + 'example.co', match: false },
  { pattern: '(.*.*.*.*.*.*.*.*)*-x', host: a(N - 1) + '-', match: false, jsUpTo: 3 },
  { pattern: '^(?:[a-z0-9.-]*[a-z]){30}$', host: a(N - 1) + '-', match: false }
]

// How long a match takes is bench/redos.ts's to measure; here, that RE2 answers these at all (a
// backtracking engine would not return within the test's timeout) and answers right.
t.test('pathological patterns on 253-character hostile hosts: answered, and correctly', async (t) => {
  for (const c of hostile) {
    const compiled = compileHostRegex(c.pattern)
    if (!('regex' in compiled)) { t.fail(`${c.pattern}: ${compiled.error}`); continue }
    t.equal(compiled.regex.test(c.host), c.match, `${c.pattern} on ${c.host.length} chars`)
  }
})

t.test('every length up to 253, every shape: same answers as RegExp where RegExp is still fast', async (t) => {
  const shapes = (n: number): string[] => [a(n), a(Math.max(0, n - 1)) + '-', 'ab'.repeat(n).slice(0, n), 'a.'.repeat(n).slice(0, n), 'x'.repeat(n)]
  let disagreements = 0
  for (const { pattern, jsUpTo = 8 } of hostile) {
    const compiled = compileHostRegex(pattern)
    if (!('regex' in compiled)) { t.fail(pattern); continue }
    const js = new RegExp(pattern)
    for (let n = 1; n <= N; n++) {
      for (const host of shapes(n)) {
        const got = compiled.regex.test(host)
        // Backtracking is exponential in these inputs: compare only where it is still cheap.
        if (n <= jsUpTo && got !== js.test(host)) disagreements++
      }
    }
  }
  t.equal(disagreements, 0, 'RE2 and RegExp agree on short inputs')
})

t.test('patterns RE2 cannot run are refused, naming the feature', async (t) => {
  const cases: Array<{ desc: string, pattern: string, error: RegExp }> = [
    { desc: 'backreference', pattern: '^(a+)\\1$', error: /^backreferences are not supported .*invalid escape sequence: `\\1`/ },
    { desc: 'named backreference', pattern: '^(?<x>a)\\k<x>$', error: /^named backreferences are not supported/ },
    { desc: 'lookahead', pattern: '^(?!www\\.).*\\.example\\.com$', error: /^lookaheads are not supported/ },
    { desc: 'positive lookahead', pattern: '^(?=api)', error: /^lookaheads are not supported/ },
    { desc: 'lookbehind', pattern: '(?<=api)\\.example\\.com$', error: /^lookbehinds are not supported/ },
    { desc: 'atomic group', pattern: '^(?>a+)b', error: /^atomic groups are not supported/ },
    { desc: 'possessive quantifier', pattern: '^a++b', error: /^possessive quantifiers are not supported/ },
    { desc: 'plain syntax error', pattern: '^(abc', error: /^error parsing regexp: missing closing \)/ },
    { desc: 'repeat count above RE2 limit', pattern: 'a{1001}', error: /invalid repeat count/ },
    { desc: 'program too large', pattern: '^[a-z]{1,300}$', error: new RegExp(`^regex too large: \\d+ RE2 instructions, at most ${MAX_HOST_REGEX_PROGRAM_SIZE}`) },
    { desc: 'pattern too long', pattern: 'a'.repeat(1025), error: /longer than 1024 characters/ },
    { desc: 'empty', pattern: '', error: /^empty regex$/ }
  ]
  for (const c of cases) {
    const r = compileHostRegex(c.pattern)
    t.match('error' in r ? r.error : 'compiled', c.error, c.desc)
  }
})

t.test('an unsupported regex makes the VIRTUAL_HOST entry invalid, with a one-line reason', async (t) => {
  const v = validateHost('~^(a+)\\1$')
  t.same(v, { error: 'invalid regex "~^(a+)\\\\1$": backreferences are not supported (host regexes run on RE2, in linear time); error parsing regexp: invalid escape sequence: `\\1`' })
  const r = parseContainer({
    id: 'c1', name: 'app-1', running: true, env: { VIRTUAL_HOST: 'ok.example.com,~^(?!www)' }, labels: {}, exposedPorts: [], networks: [], networkMode: 'bridge', health: 'none'
  })
  t.equal(r.kind, 'invalid')
  if (r.kind === 'invalid') {
    t.match(r.reason, /^VIRTUAL_HOST: invalid regex "~\^\(\?!www\)": lookaheads are not supported/)
    t.notMatch(r.reason, /\n/)
  }
})

t.test('normal regex hosts still route, unanchored unless the pattern anchors (nginx)', async (t) => {
  const lb = new LoadBalancer([], 'round-robin')
  const loc = (host: string): Location => ({ host, path: '/', dest: '', internalOnly: false, tls: { httpsMethod: undefined, hsts: undefined, certName: undefined }, maxBodyBytes: undefined, balancer: lb })
  const hosts = ['~^api-[0-9]+\\.rx\\.test$', '~^(?<tenant>[a-z0-9-]+)\\.preview\\.example\\.com$', '~staging', '~^(www\\.)?example\\.(com|org)$']
  const table = new RouteTable(hosts.map((h) => new HostRoutes(h, [loc(h)])))
  const cases: Array<[string, string | undefined]> = [
    ['api-12.rx.test', '~^api-[0-9]+\\.rx\\.test$'],
    ['api-x.rx.test', undefined],
    ['xapi-12.rx.test', undefined],
    ['pr-7.preview.example.com', '~^(?<tenant>[a-z0-9-]+)\\.preview\\.example\\.com$'],
    ['a.staging.example.net', '~staging'],
    ['www.example.org', '~^(www\\.)?example\\.(com|org)$'],
    ['example.com', '~^(www\\.)?example\\.(com|org)$'],
    ['example.com.evil.net', undefined],
    [a(252) + '-', undefined]
  ]
  t.same(cases.map(([host]) => [host, table.lookup(host)?.host]), cases)
})
