// What the image's memory settings cost in CPU (issue 12, item 4): one compiled data plane (dist/, the
// proxy's request path with its access log) in several processes at once, each with other memory
// settings, all against one local upstream. Every round sends each process the same fixed number of
// requests (autocannon, 50 connections), in an order that rotates per round, so drift on the machine
// falls on every setting alike; CPU per request is the process's own user+system time (every thread)
// over the requests it served. Each setting runs in COPIES processes: two processes with the same
// settings differ by several percent (where the JIT and the heap happen to land), which a comparison
// of one process per setting reads as the setting's cost. With --pin the proxies share CPU 1 and the
// upstream and autocannon CPU 0, so the proxies' time is not mixed with the load generator's.
// `nolog` compares the access log on and off the same way (issue 12, item 3), each proxy's stdout a
// file (--sink file, the default; the runs of f1c5e1e and fd51fea wrote it to /dev/null).
// --protocol h2: the same over HTTPS and HTTP/2 (h2load, one stream per connection, a fixed count of
// requests), each proxy with the bench's self-signed certificate in a certs/ directory.
// Writes bench/results/<commit>/memory-settings.json.
import { type ChildProcess, spawn } from 'node:child_process'
import { closeSync, mkdirSync, openSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import autocannon, { type Result } from 'autocannon'
import { bool, int, list, parseSettings } from './lib/cli.ts'
import { ensureH2load, h2load } from './lib/h2load.ts'
import { processCpuMs, processStatus } from './lib/process-rss.ts'
import { CLI, freePort, imageMemoryEnv, log, machineInfo, makeTempDir, median, round, writeJson, RUN_DIR } from './lib/util.ts'
import { installCert, makeCert } from '../test/support/certs.ts'

const s = parseSettings('bench/memory-settings.ts', 'CPU per request and peak RSS of the data plane under each memory setting, several processes per setting, rotating rounds.', {
  settings: { flag: 'settings', env: 'MEMORY_SETTINGS', help: 'comma-separated; each none, image (the Dockerfile ENV), semiN (--max-semi-space-size=N), malloc (arena 1 + trim threshold), arena, nolog (access log off), NAME=value (an environment variable), or parts joined by + (image+nolog)', default: 'none,image' },
  copies: { flag: 'copies', env: 'COPIES', help: 'processes per setting', default: '2' },
  rounds: { flag: 'rounds', env: 'ROUNDS', help: 'rounds (each process gets one run per round)', default: '12' },
  requests: { flag: 'requests', env: 'REQUESTS', help: 'requests per run', default: '60000' },
  connections: { flag: 'connections', env: 'CONNECTIONS', help: 'client connections (autocannon, or h2load with one stream each)', default: '50' },
  protocol: { flag: 'protocol', env: 'PROTOCOL', help: 'h1 (plain HTTP/1.1, autocannon) or h2 (HTTP/2 over TLS, h2load)', default: 'h1' },
  sink: { flag: 'sink', env: 'SINK', help: 'where each proxy\'s stdout (the access log) goes: file (a file in a temporary directory, removed at the end) or devnull', default: 'file' },
  pin: { flag: 'pin', env: 'PIN', help: 'proxies on CPU 1, upstream and load on CPU 0 (taskset)', default: 'false', boolean: true },
  out: { flag: 'out', env: 'MEMORY_SETTINGS_OUT', help: 'result file', default: join(RUN_DIR, 'memory-settings.json') }
})

const MALLOC = { MALLOC_ARENA_MAX: '1', MALLOC_TRIM_THRESHOLD_: '131072' }
/** A setting's environment: parts joined by '+' (semi8+malloc). */
function settingEnv (name: string): Record<string, string> {
  const env: Record<string, string> = {}
  for (const part of name.split('+')) {
    const semi = /^semi(\d+)$/.exec(part)
    if (part === 'none') continue
    else if (part === 'image') Object.assign(env, imageMemoryEnv())
    else if (semi !== null) env.NODE_OPTIONS = `--max-semi-space-size=${semi[1]}`
    else if (part === 'malloc') Object.assign(env, MALLOC)
    else if (part === 'arena') env.MALLOC_ARENA_MAX = '1'
    else if (part === 'nolog') env.ACCESS_LOG = 'off'
    else if (/^[A-Z_][A-Z0-9_]*=/.test(part)) env[part.slice(0, part.indexOf('='))] = part.slice(part.indexOf('=') + 1)
    else throw new Error(`unknown setting ${part} in ${name}: none, image, semiN, malloc, arena, nolog, NAME=value (joined by +)`)
  }
  return env
}
const HOST = 'memory.bench.test'
const dist = join(CLI, '..', '..')
const pin = bool(s.pin)
const cpuSet = (cpu: string, argv: string[]): [string, string[]] => pin ? ['taskset', ['-c', cpu, ...argv]] : [argv[0]!, argv.slice(1)]

// Each proxy: the data plane (bench/lib/data-plane-child.ts) from the compiled dist/, and the upstream
// (bench/upstream.ts, as bench/access-log.ts runs it), both erasable TypeScript run without a loader.
const DATA_PLANE = fileURLToPath(new URL('./lib/data-plane-child.ts', import.meta.url))
const UPSTREAM = fileURLToPath(new URL('./upstream.ts', import.meta.url))
const STRIP_TYPES = ['--experimental-strip-types', '--no-warnings']

async function portFrom (child: ChildProcess, stream: 'stdout' | 'stderr', pattern: RegExp): Promise<number> {
  let text = ''
  return await new Promise((resolve, reject) => {
    child[stream]!.on('data', (c: Buffer) => { text += String(c); const m = pattern.exec(text); if (m !== null) resolve(Number(m[1])) })
    child.once('exit', (code) => { reject(new Error(`child exited with ${code}: ${text.slice(-2000)}`)) })
  })
}

interface Proxy { setting: string, copy: number, child: ChildProcess, port: number, runs: Array<{ cpuUsPerRequest: number, requests: number, failed: number }>, rssAfterWarmupMb?: number }

const children: ChildProcess[] = []
process.once('exit', () => { for (const c of children) c.kill('SIGKILL'); rmSync(logDir, { recursive: true, force: true }) })
const upstreamPort = await freePort()
const [upCmd, upArgs] = cpuSet('0', [process.execPath, ...STRIP_TYPES, UPSTREAM, '--port', String(upstreamPort), '--body-bytes', '128'])
const upstream = spawn(upCmd, upArgs, { stdio: ['ignore', 'pipe', 'inherit'] })
children.push(upstream)
await portFrom(upstream, 'stdout', /upstream listening on (\d+)/)

const settings = list(s.settings)
const SETTINGS = Object.fromEntries(settings.map((name) => [name, settingEnv(name)]))
const proxies: Proxy[] = []
if (!['file', 'devnull'].includes(s.sink)) throw new Error(`--sink is file or devnull, not ${s.sink}`)
const logDir = makeTempDir('pxb-memset-')
if (!['h1', 'h2'].includes(s.protocol)) throw new Error(`--protocol is h1 or h2, not ${s.protocol}`)
const h2 = s.protocol === 'h2'
const certDir = join(logDir, 'certs')
if (h2) { mkdirSync(certDir); installCert(certDir, HOST, makeCert(HOST)) }
const h2loadBin = h2 ? await ensureH2load() : ''
const base = { ...process.env }
for (const k of ['NODE_OPTIONS', 'MALLOC_ARENA_MAX', 'MALLOC_TRIM_THRESHOLD_']) delete base[k]
for (let copy = 1; copy <= int(s.copies, 'copies'); copy++) {
  for (const setting of settings) {
    const [cmd, args] = cpuSet('1', [process.execPath, ...STRIP_TYPES, DATA_PLANE])
    const stdout = s.sink === 'devnull' ? openSync('/dev/null', 'a') : openSync(join(logDir, `${setting}-${copy}.log`), 'a')
    const child = spawn(cmd, args, { env: { ...base, AL_DIST: dist, BENCH_HOST: HOST, ACCESS_LOG: 'on', ...SETTINGS[setting], UPSTREAM_PORT: String(upstreamPort), LOG_LEVEL: 'info', ...(h2 ? { CERT_DIR: certDir } : {}) }, stdio: ['ignore', stdout, 'pipe'] })
    closeSync(stdout)
    children.push(child)
    proxies.push({ setting, copy, child, port: await portFrom(child, 'stderr', h2 ? /"httpsPort":(\d+)\}/ : /\{"port":(\d+)\}/), runs: [] })
  }
}
if (pin) spawn('taskset', ['-p', '-c', '0', String(process.pid)], { stdio: 'ignore' })

const connections = int(s.connections, 'connections')
/** `amount` requests to the proxy on `port`: how many were answered, how many failed. */
const load = async (port: number, amount: number): Promise<{ total: number, failed: number }> => {
  if (h2) {
    const r = await h2load({ bin: h2loadBin, url: `https://${HOST}/`, connectTo: `127.0.0.1:${port}`, clients: connections, streams: 1, requests: amount, durationS: 120, warmupS: 0, logFile: join(logDir, 'h2load.tsv') })
    return { total: r.requests, failed: r.errors + r.timeouts + r.non2xx }
  }
  const a: Result = await autocannon({ url: `http://127.0.0.1:${port}/`, headers: { host: HOST }, connections, amount })
  return { total: a.requests.total, failed: a.non2xx + a.errors + a.timeouts }
}
// taskset execs node: the child's pid is the proxy's.
const pidOf = (p: Proxy): number => p.child.pid!
const statusMb = (pid: number, key: 'rssKb' | 'hwmKb'): number => round((processStatus(pid)?.[key] ?? NaN) / 1024, 1)
for (const p of proxies) { await load(p.port, 30_000); p.rssAfterWarmupMb = statusMb(pidOf(p), 'rssKb') }
log(`memory-settings: ${proxies.length} processes (${settings.join(', ')} x ${s.copies}), ${s.rounds} rounds x ${s.requests} requests over ${h2 ? 'HTTP/2 (h2load)' : 'HTTP/1.1 (autocannon)'}${pin ? ', pinned' : ''}`)
const rounds = int(s.rounds, 'rounds')
for (let r = 0; r < rounds; r++) {
  for (let i = 0; i < proxies.length; i++) {
    const p = proxies[(i + r) % proxies.length]!
    const c0 = processCpuMs(pidOf(p))
    const a = await load(p.port, int(s.requests, 'requests'))
    const c1 = processCpuMs(pidOf(p))
    p.runs.push({ cpuUsPerRequest: round((c1.user + c1.sys - c0.user - c0.sys) * 1000 / a.total, 2), requests: a.total, failed: a.failed })
  }
  log(`round ${r + 1}: ${proxies.map((p) => `${p.setting}#${p.copy} ${p.runs.at(-1)!.cpuUsPerRequest} µs`).join('  ')}`)
}

const perProcess = proxies.map((p) => {
  return { setting: p.setting, copy: p.copy, env: SETTINGS[p.setting], cpuUsPerRequest: round(median(p.runs.map((x) => x.cpuUsPerRequest)), 1), rssAfterWarmupMb: p.rssAfterWarmupMb, rssPeakMb: statusMb(pidOf(p), 'hwmKb'), failed: p.runs.reduce((a, x) => a + x.failed, 0), runs: p.runs.map((x) => x.cpuUsPerRequest) }
})
const bySetting = Object.fromEntries(settings.map((name) => {
  const ps = perProcess.filter((p) => p.setting === name)
  const all = ps.flatMap((p) => p.runs)
  return [name, { env: SETTINGS[name], cpuUsPerRequest: round(median(all), 1), cpuUsPerRequestMin: Math.min(...all), cpuUsPerRequestMax: Math.max(...all), processMedians: ps.map((p) => p.cpuUsPerRequest), rssPeakMb: ps.map((p) => p.rssPeakMb) }]
}))
for (const [name, v] of Object.entries(bySetting)) log(`${name.padEnd(8)} CPU ${v.cpuUsPerRequest} µs/request (${v.cpuUsPerRequestMin}-${v.cpuUsPerRequestMax}; per process ${v.processMedians.join(', ')})  peak ${v.rssPeakMb.join(', ')} MB`)
writeJson(s.out, { kind: 'memory-settings', finishedAt: new Date().toISOString(), machine: await machineInfo(), settings: { ...s, client: h2 ? `h2load -c ${connections} -m 1 -n ${s.requests}, TLS` : `autocannon -c ${connections} -a ${s.requests}`, upstream: 'bench/upstream.ts (node:http, 128-byte body) on the host', stdout: s.sink === 'file' ? 'a file per process' : '/dev/null' }, bySetting, perProcess })
log(`wrote ${s.out}`)
for (const c of children) c.kill('SIGTERM')
