// ReDoS bound for `VIRTUAL_HOST=~regex` hosts (issue 10, item 4): the time of one match on host
// names of every length up to 253, in the input shapes that make backtracking explode, for the
// worst patterns found. RE2 (re2js, through compileHostRegex as the proxy uses it) on every length;
// JS RegExp beside it only on inputs short enough to stay bounded: each pattern runs in a child
// process that stops growing the input once one match takes over JS_STOP_MS, and is killed
// after JS_KILL_MS whatever happens. Also: what RE2 costs on a normal regex host vs RegExp.
// Writes bench/results/<commit>/redos.json. No Docker, no network.
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { compileHostRegex, type HostRegex } from '../src/routing/host-regex.ts'
import { LoadBalancer } from '../src/routing/load-balancer.ts'
import { HostRoutes, RouteTable, type Location } from '../src/routing/route-table.ts'
import { int, parseSettings } from './lib/cli.ts'
import { RUN_DIR, log, median, percentileSorted, round, writeJson } from './lib/util.ts'

const s = parseSettings('bench/redos.ts', `ms per host-regex match, RE2 on hosts of 1..253 chars vs RegExp on short
inputs; ns per lookup for normal regex hosts. Writes bench/results/<commit>/redos.json.`, {
  passes: { flag: 'passes', env: 'PASSES', help: 'passes over every length and shape (steady state)', default: '3' },
  jsStopMs: { flag: 'js-stop-ms', env: 'JS_STOP_MS', help: 'stop growing the RegExp input once one match takes this long', default: '250' },
  jsKillMs: { flag: 'js-kill-ms', env: 'JS_KILL_MS', help: 'kill the RegExp child after this long (< 2 s per match)', default: '2000' },
  sampleMs: { flag: 'sample-ms', env: 'SAMPLE_MS', help: 'milliseconds per lookup sample', default: '100' },
  out: { flag: 'out', env: 'REDOS_OUT', help: 'result file', default: join(RUN_DIR, 'redos.json') }
})

const MAX_HOST = 253
const alternation = '(?:' + Array.from({ length: 20 }, (_, i) => i.toString(36).padStart(6, 'a')).join('|') + ')'
// Classic ReDoS shapes, a sloppy real-world host pattern, and the costliest patterns found that
// still fit MAX_HOST_REGEX_PROGRAM_SIZE (their work per character grows with program size).
const PATTERNS: Array<{ name: string, pattern: string }> = [
  { name: 'nested plus', pattern: '^(a+)+$' },
  { name: 'overlapping alternation', pattern: '(a|aa)*b' },
  { name: 'repeated dot-star', pattern: '(.*a){19}' },
  { name: 'nested class plus', pattern: '^(([a-z])+.)+[A-Z]([a-z])+$' },
  { name: 'optional alternation', pattern: '^(a|a?)+$' },
  { name: 'double plus', pattern: '(x+x+)+y' },
  { name: 'sloppy subdomain', pattern: '^([a-z0-9]+[.-]?)+\\.example\\.com$' },
  { name: 'at cap: alternation x14', pattern: alternation + '{1,14}!' },
  { name: 'at cap: class star x30', pattern: '(?:[a-z0-9.-]*[a-z]){30}!' },
  { name: 'at cap: dot-star x30', pattern: '(?:.*a){30}!' },
  { name: 'at cap: counted dots', pattern: '.{0,24}.{0,24}!' }
]
const SHAPES: Record<string, (n: number) => string> = {
  'a^n!': (n) => 'a'.repeat(Math.max(0, n - 1)) + '!',
  'a^n-': (n) => 'a'.repeat(Math.max(0, n - 1)) + '-',
  'a^n': (n) => 'a'.repeat(n),
  '(ab)^n': (n) => 'ab'.repeat(n).slice(0, n),
  '(a.)^n': (n) => 'a.'.repeat(n).slice(0, n),
  '(aaaaa0)^n': (n) => 'aaaaa0'.repeat(n).slice(0, n)
}

function compile (pattern: string): HostRegex {
  const c = compileHostRegex(pattern)
  if ('error' in c) throw new Error(`${pattern}: ${c.error}`)
  return c.regex
}

function stats (ms: number[]): { maxMs: number, p99Ms: number, p50Ms: number, over1Ms: number, matches: number } {
  const sorted = [...ms].sort((a, b) => a - b)
  return {
    maxMs: round(sorted[sorted.length - 1]!, 4),
    p99Ms: round(percentileSorted(sorted, 99), 4),
    p50Ms: round(percentileSorted(sorted, 50), 4),
    over1Ms: sorted.filter((x) => x >= 1).length,
    matches: sorted.length
  }
}

let sink = 0
// Warm re2js's own code up (JIT) on unrelated patterns, as a running proxy has.
for (let i = 0; i < 3000; i++) if (compile(`(?:[a-z0-9.-]*[a-z]){5}x${i % 10}`).test('a'.repeat(i % MAX_HOST))) sink++

/**
 * steady: one compiled regex reused, as in the proxy (its lazy DFA keeps the states it built).
 * cold: a fresh compile for every match, so every character builds a new DFA state: the most
 * per match an attacker can force by cycling inputs through states the DFA has not seen.
 */
function measureRe2 (pattern: string, passes: number): { steady: ReturnType<typeof stats>, cold: ReturnType<typeof stats>, worst: { mode: string, shape: string, length: number, ms: number } } {
  const regex = compile(pattern)
  const steady: number[] = []
  const cold: number[] = []
  let worst = { mode: '', shape: '', length: 0, ms: 0 }
  for (let pass = 0; pass < passes; pass++) {
    for (let n = 1; n <= MAX_HOST; n++) {
      for (const [shape, make] of Object.entries(SHAPES)) {
        const host = make(n)
        let t0 = performance.now()
        if (regex.test(host)) sink++
        let ms = performance.now() - t0
        steady.push(ms)
        if (ms > worst.ms) worst = { mode: 'steady', shape, length: n, ms: round(ms, 4) }
        if (pass > 0) continue
        const fresh = compile(pattern)
        fresh.test('-') // one-time setup (once per table swap in the proxy), not per attacker request
        t0 = performance.now()
        if (fresh.test(host)) sink++
        ms = performance.now() - t0
        cold.push(ms)
        if (ms > worst.ms) worst = { mode: 'cold', shape, length: n, ms: round(ms, 4) }
      }
    }
  }
  return { steady: stats(steady), cold: stats(cold), worst }
}

// The child grows n for one shape until a match takes jsStopMs; the parent kills it at jsKillMs.
const JS_CHILD = `
const [pattern, shape, stopMs] = process.argv.slice(1)
const make = { 'a^n!': (n) => 'a'.repeat(n - 1) + '!', 'a^n-': (n) => 'a'.repeat(n - 1) + '-', 'a^n': (n) => 'a'.repeat(n) }[shape]
const re = new RegExp(pattern)
for (let n = 1; n <= ${MAX_HOST}; n++) {
  const host = make(n)
  const t0 = performance.now()
  re.test(host)
  const ms = performance.now() - t0
  process.stdout.write(JSON.stringify({ n, ms }) + '\\n')
  if (ms >= Number(stopMs)) break
}
`

/** longestLength: the longest input measured; when killed, a match at longestLength + 1 took > jsKillMs. */
interface JsResult { shape: string, longestLength: number, msAtLongest: number, firstOver1Ms: number | null, stoppedBy: 'stop threshold' | 'killed' | 'reached 253' }

function measureJs (pattern: string, stopMs: number, killMs: number): JsResult[] {
  const out: JsResult[] = []
  for (const shape of ['a^n!', 'a^n-', 'a^n']) {
    const r = spawnSync(process.execPath, ['-e', JS_CHILD, pattern, shape, String(stopMs)], { timeout: killMs, killSignal: 'SIGKILL', encoding: 'utf8' })
    const rows = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { n: number, ms: number })
    const last = rows[rows.length - 1] ?? { n: 0, ms: 0 }
    const over = rows.find((x) => x.ms >= 1)
    const stoppedBy = r.signal === 'SIGKILL' ? 'killed' : last.n >= MAX_HOST ? 'reached 253' : 'stop threshold'
    out.push({ shape, longestLength: last.n, msAtLongest: round(last.ms, 3), firstOver1Ms: over?.n ?? null, stoppedBy })
  }
  return out
}

const passes = int(s.passes, 'passes')
const jsStopMs = int(s.jsStopMs, 'js-stop-ms')
const jsKillMs = Math.min(int(s.jsKillMs, 'js-kill-ms'), 2000)
const patterns = []
for (const { name, pattern } of PATTERNS) {
  const re2 = measureRe2(pattern, passes)
  const js = measureJs(pattern, jsStopMs, jsKillMs)
  const worstJs = js.find((x) => x.stoppedBy === 'killed') ?? js.reduce((a, b) => (b.msAtLongest > a.msAtLongest ? b : a))
  patterns.push({ name, pattern, programSize: compile(pattern).programSize, re2, js })
  log(`${name.padEnd(24)} RE2 steady max ${re2.steady.maxMs} p99 ${re2.steady.p99Ms} | cold max ${re2.cold.maxMs} p99 ${re2.cold.p99Ms} ms | RegExp ${worstJs.stoppedBy === 'killed' ? `> ${jsKillMs} ms at ${worstJs.longestLength + 1}` : `${worstJs.msAtLongest} ms at ${worstJs.longestLength}`} chars (${worstJs.shape}, ${worstJs.stoppedBy})`)
}

// ---------------------------------------------------------------- normal regex hosts: RE2 vs RegExp

const NORMAL = Array.from({ length: 10 }, (_, i) => `^api-${i}-[0-9]+\\.rx\\.test$`)
const NAMES = { 'hit (last regex)': Array.from({ length: 8 }, (_, k) => `api-9-${k}.rx.test`), miss: Array.from({ length: 8 }, (_, k) => `nothing${k}.example.org`) }

function nsPerCall (fn: (name: string) => boolean, names: string[], sampleMs: number): number {
  const budget = sampleMs * 1e6
  const start = process.hrtime.bigint()
  let calls = 0
  let elapsed = 0
  do {
    for (let i = 0; i < 1000; i++) if (fn(names[i & 7]!)) sink++
    calls += 1000
    elapsed = Number(process.hrtime.bigint() - start)
  } while (elapsed < budget)
  return elapsed / calls
}

const sampleMs = int(s.sampleMs, 'sample-ms')
const re2s = NORMAL.map(compile)
const jss = NORMAL.map((p) => new RegExp(p))
const balancer = new LoadBalancer([], 'round-robin')
const table = new RouteTable(NORMAL.map((p) => new HostRoutes('~' + p, [{ host: '~' + p, path: '/', dest: '', balancer } as unknown as Location])))
const engines: Record<string, (name: string) => boolean> = {
  'RegExp, 10 patterns in turn': (name) => jss.some((r) => r.test(name)),
  'RE2, 10 patterns in turn': (name) => re2s.some((r) => r.test(name)),
  'RouteTable.lookup (RE2)': (name) => table.lookup(name) !== undefined
}
const lookup: Array<{ engine: string, case: string, nsPerOp: number }> = []
for (const [name, names] of Object.entries(NAMES)) {
  for (const [engine, fn] of Object.entries(engines)) {
    nsPerCall(fn, names, sampleMs) // warm up
    const ns = median(Array.from({ length: 5 }, () => nsPerCall(fn, names, sampleMs)))
    lookup.push({ engine, case: name, nsPerOp: round(ns, 1) })
    log(`lookup ${name.padEnd(17)} ${engine.padEnd(28)} ${round(ns, 1)} ns/op`)
  }
}

const commit = spawnSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8' }).stdout.trim()
const dirty = spawnSync('git', ['status', '--porcelain', '--', 'src/routing', 'src/docker', 'bench/redos.ts'], { encoding: 'utf8' }).stdout.trim() !== ''
const re2Max = Math.max(...patterns.map((p) => Math.max(p.re2.steady.maxMs, p.re2.cold.maxMs)))
writeJson(s.out, {
  kind: 'redos',
  finished: new Date().toISOString(),
  commit,
  dirty,
  node: process.version,
  loadAvg: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
  nproc: availableParallelism(),
  settings: { passes, jsStopMs, jsKillMs, sampleMs, maxHostLength: MAX_HOST, shapes: Object.keys(SHAPES) },
  summary: {
    re2MaxMs: re2Max,
    re2SteadyMaxMs: Math.max(...patterns.map((p) => p.re2.steady.maxMs)),
    re2SteadyP99Ms: Math.max(...patterns.map((p) => p.re2.steady.p99Ms)),
    re2ColdMaxMs: Math.max(...patterns.map((p) => p.re2.cold.maxMs)),
    re2ColdP99Ms: Math.max(...patterns.map((p) => p.re2.cold.p99Ms)),
    targetMs: 1
  },
  patterns,
  lookup,
  sink
})
log(`wrote ${s.out}; RE2 worst single match ${re2Max} ms`)
