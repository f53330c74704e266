// What a Node process holds before proxyctl does anything (issue 12, item 4): RSS, the binary's
// shared pages and anonymous memory of a child process after each import step, each after a full GC
// (--expose-gc), in import order: bare node, node:http (as proxyctl takes it: no ESM facade),
// undici's Pool class alone (what a worker
// loads), pino, proxyctl's worker modules from a compiled dist/ (the path of `proxyctl` on CLI, or
// PROXYCTL_CLI), then undici's package entry (what the primary loads on top), and last what an
// ESM import of node:http would add. The floor a worker's idle RSS cannot go below whatever proxyctl loads.
// Writes bench/results/<commit>/memory-floor.json; --repeat N child processes (median per step).
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { int, parseSettings } from './lib/cli.ts'
import { CLI, REPO_ROOT, RUN_DIR, log, machineInfo, median, writeJson } from './lib/util.ts'

const s = parseSettings('bench/memory-floor.ts', 'RSS of a Node process after each import step (bare node, node:http, undici, proxyctl\'s worker modules), after a full GC, in child processes.', {
  repeat: { flag: 'repeat', env: 'REPEAT', help: 'child processes (median per step)', default: '5' },
  out: { flag: 'out', env: 'MEMORY_FLOOR_OUT', help: 'result file', default: join(RUN_DIR, 'memory-floor.json') }
})

const dist = join(CLI, '..', '..')
const undiciDir = join(REPO_ROOT, 'node_modules', 'undici')
const STEPS: Array<[string, string]> = [
  ['bare node', ''],
  // require() first: an ESM import of node:http builds its ESM facade, which reads every export,
  // and http.WebSocket, CloseEvent and MessageEvent are getters that load Node's bundled undici
  // (with webstreams, crypto, tls, http2, zlib): ~12 MB that require('node:http') does not cost.
  ['+ node:http without its ESM facade (require(); proxyctl takes it with process.getBuiltinModule)', 'require:node:http'],
  ['+ undici Pool class (a worker)', pathToFileURL(join(undiciDir, 'lib', 'dispatcher', 'pool.js')).href],
  ['+ pino', 'pino'],
  ['+ proxyctl proxy-server (dist)', pathToFileURL(join(dist, 'proxy', 'proxy-server.js')).href],
  ['+ proxyctl worker modules (dist)', pathToFileURL(join(dist, 'workers', 'routing-replica.js')).href],
  // Last: what the primary loads beyond a worker (its Docker client and health checks need it).
  ['+ undici package entry (the primary)', pathToFileURL(join(undiciDir, 'index.js')).href],
  // Since 2030ea6 proxyctl takes node:http with process.getBuiltinModule and no longer pays this.
  ['+ node:http, ESM import (its facade loads Node\'s bundled undici; proxyctl does not)', 'node:http']
]

// The child: one line of JSON per step, {rssKb, anonKb, fileKb}.
const CHILD = `
const { readFileSync } = await import('node:fs')
const mem = () => { const t = readFileSync('/proc/self/smaps_rollup', 'utf8'); const kb = (k) => Number(new RegExp('^' + k + ':\\\\s+(\\\\d+)', 'm').exec(t)[1]); return { rssKb: kb('Rss'), anonKb: kb('Anonymous'), fileKb: kb('Rss') - kb('Anonymous') } }
const out = []
const { createRequire } = await import('node:module')
const require = createRequire(process.cwd() + '/')
for (const spec of JSON.parse(process.argv[1])) {
  if (spec.startsWith('require:')) require(spec.slice('require:'.length))
  else if (spec !== '') await import(spec)
  globalThis.gc(); globalThis.gc()
  out.push(mem())
}
console.log(JSON.stringify(out))
`

const execFileP = promisify(execFile)
const runs: Array<Array<{ rssKb: number, anonKb: number, fileKb: number }>> = []
for (let i = 0; i < int(s.repeat, 'repeat'); i++) {
  const { stdout } = await execFileP(process.execPath, ['--expose-gc', '--input-type=module', '-e', CHILD, JSON.stringify(STEPS.map(([, spec]) => spec))], { cwd: REPO_ROOT, env: { ...process.env, NODE_OPTIONS: '' } })
  runs.push(JSON.parse(stdout) as Array<{ rssKb: number, anonKb: number, fileKb: number }>)
}
const mb = (kb: number): number => Math.round(kb / 102.4) / 10
const steps = STEPS.map(([name], i) => ({
  step: name,
  rssMb: mb(median(runs.map((r) => r[i]!.rssKb))),
  binaryAndFilesMb: mb(median(runs.map((r) => r[i]!.fileKb))),
  anonymousMb: mb(median(runs.map((r) => r[i]!.anonKb))),
  rssMbMinMax: [mb(Math.min(...runs.map((r) => r[i]!.rssKb))), mb(Math.max(...runs.map((r) => r[i]!.rssKb)))]
}))
for (const st of steps) log(`${st.step.padEnd(40)} RSS ${st.rssMb} MB (files ${st.binaryAndFilesMb}, anonymous ${st.anonymousMb})`)
writeJson(s.out, { kind: 'memory-floor', node: process.version, proxyctl: process.env.PROXYCTL_BUILD ?? dist, machine: await machineInfo(), repeat: runs.length, steps })
log(`wrote ${s.out}`)
