// Micro-benchmark of RouteTable.lookup (kamal's BenchmarkServiceMap_*): exact, leading wildcard,
// trailing wildcard, regex and miss, in a table of N hosts of each kind, for each N in SIZES.
// Runs the TypeScript source in src/ (no Docker, no network).
import { join } from 'node:path'
import { LoadBalancer } from '../src/routing/load-balancer.ts'
import { HostRoutes, RouteTable, type Location } from '../src/routing/route-table.ts'
import { int, list, parseSettings } from './lib/cli.ts'
import { RUN_DIR, log, machineInfo, median, round, writeJson } from './lib/util.ts'

const s = parseSettings('bench/route-lookup.ts', `ns per RouteTable.lookup() call. A table of size N holds N exact names, N "*.x" and
N "x.*" wildcards and N "~regex" hosts; each case looks up a name from the middle of its kind
(a miss scans every wildcard and regex). Writes bench/results/<commit>/route-lookup.json.`, {
  sizes: { flag: 'sizes', env: 'SIZES', help: 'table sizes (hosts of each kind)', default: '1,500' },
  sampleMs: { flag: 'sample-ms', env: 'SAMPLE_MS', help: 'milliseconds per sample', default: '100' },
  samples: { flag: 'samples', env: 'SAMPLES', help: 'samples per case (median reported)', default: '7' },
  out: { flag: 'out', env: 'LOOKUP_OUT', help: 'result file', default: join(RUN_DIR, 'route-lookup.json') }
})

const balancer = new LoadBalancer([], 'round-robin')
// `as Location`: only the fields lookup() needs; the bench keeps compiling when Location grows.
const location = (host: string): Location => ({ host, path: '/', dest: '', internalOnly: false, balancer }) as Location

function buildTable (n: number): { table: RouteTable, cases: Record<string, string[]> } {
  const hosts: string[] = []
  for (let i = 0; i < n; i++) {
    hosts.push(`app${i}.exact.test`, `*.tenant${i}.wild.test`, `region${i}.*`, `~^api-${i}-[0-9]+\\.rx\\.test$`)
  }
  const table = new RouteTable(hosts.map((h) => new HostRoutes(h, [location(h)])))
  const mid = Math.floor(n / 2)
  // Several names per case, so the loop is not a single constant lookup.
  const names = (f: (k: number) => string): string[] => Array.from({ length: 8 }, (_, k) => f(k))
  return {
    table,
    cases: {
      exact: names(() => `app${mid}.exact.test`),
      'leading wildcard': names((k) => `u${k}.tenant${mid}.wild.test`),
      'trailing wildcard': names((k) => `region${mid}.example${k}`),
      regex: names((k) => `api-${mid}-${k}.rx.test`),
      miss: names((k) => `nothing${k}.example.org`)
    }
  }
}

let sink = 0
/** ns per lookup over batches of 1,000 calls, repeated until `sampleMs` has passed. */
function sample (table: RouteTable, names: string[], sampleMs: number): number {
  const len = names.length
  const budget = BigInt(Math.round(sampleMs * 1e6))
  const start = process.hrtime.bigint()
  let calls = 0
  let elapsed = 0n
  do {
    for (let i = 0; i < 1000; i++) {
      if (table.lookup(names[i % len]!) !== undefined) sink++
    }
    calls += 1000
    elapsed = process.hrtime.bigint() - start
  } while (elapsed < budget)
  return Number(elapsed) / calls
}

const sizes = list(s.sizes).map((x) => int(x, 'sizes'))
const sampleMs = int(s.sampleMs, 'sample-ms')
const samples = int(s.samples, 'samples')
const tables = new Map(sizes.map((n) => [n, buildTable(n)]))
const caseNames = Object.keys(tables.get(sizes[0]!)!.cases)
const results: Array<{ size: number, case: string, nsPerOp: number, found: boolean }> = []
for (const name of caseNames) {
  // Sizes alternate sample by sample, so drift on a busy machine hits them alike.
  const perSize = new Map<number, number[]>(sizes.map((n) => [n, []]))
  for (const n of sizes) {
    const { table, cases } = tables.get(n)!
    const names = cases[name]!
    const found = table.lookup(names[0]!) !== undefined
    if ((name === 'miss') === found) throw new Error(`lookup of ${names[0]} in a table of ${n}: expected ${name === 'miss' ? 'a miss' : 'a match'}`)
    sample(table, names, sampleMs) // warm up (JIT)
  }
  for (let k = 0; k < samples; k++) {
    for (const n of k % 2 === 0 ? sizes : [...sizes].reverse()) {
      const { table, cases } = tables.get(n)!
      perSize.get(n)!.push(sample(table, cases[name]!, sampleMs))
    }
  }
  for (const n of sizes) {
    const ns = median(perSize.get(n)!)
    results.push({ size: n, case: name, nsPerOp: round(ns, 1), found: name !== 'miss' })
    log(`lookup ${name.padEnd(18)} hosts/kind ${String(n).padStart(4)}: ${round(ns, 1)} ns/op`)
  }
}
const growth: Record<string, number> = {}
if (sizes.length >= 2) {
  const [a, b] = [sizes[0]!, sizes[sizes.length - 1]!]
  for (const c of new Set(results.map((r) => r.case))) {
    const x = results.find((r) => r.size === a && r.case === c)
    const y = results.find((r) => r.size === b && r.case === c)
    if (x !== undefined && y !== undefined) growth[c] = round(y.nsPerOp / x.nsPerOp, 2)
  }
}
writeJson(s.out, { kind: 'route-lookup', finished: new Date().toISOString(), machine: await machineInfo(), settings: { sizes, sampleMs, samples }, results, growth, sink })
log(`wrote ${s.out}; growth ${sizes[0]} -> ${sizes[sizes.length - 1]} hosts: ${JSON.stringify(growth)}`)
