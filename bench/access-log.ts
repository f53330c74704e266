// What the access log costs (issue 12, item 3). Two measurements:
//   proxy  proxyctl's data plane (ProxyServer + Reconciler, logger from src/logger.ts writing JSON lines
//          to a file as under Docker's log driver) in two child processes, access log on and off,
//          the same node:http upstream (bench/upstream.ts, its own process), autocannon on loopback,
//          alternating rounds (on off, then off on, ...): req/s per round and the on/off ratio, and the
//          CPU time per request of each proxy process (/proc utime+stime over the run); then as many
//          paired rounds, both proxies loaded at once (the machine's other load weighs on both alike).
//   micro  CPU time per access line of the logging path alone, 1e6 lines into a sonic-boom on
//          /dev/null (pino.destination as src/logger.ts builds it), in alternating child processes:
//          "pino" = the pre-issue-12 way (a child logger's .info({...}) per request), "line" = what
//          the proxy does now (AccessLog.write of src/proxy/access-log.ts).
// Writes bench/results/access-log-<commit>.json. --profile writes a CPU profile of each proxy.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import { pino } from 'pino'
import { int, parseSettings } from './lib/cli.ts'
import { newestProfile, summarizeProfile, type ProfileSummary } from './lib/cpuprofile.ts'
import { processCpuMs } from './lib/process-rss.ts'
import { RESULTS_DIR, freePort, killOnExit, log, machineInfo, makeTempDir, median, mustRun, round, waitFor, writeJson } from './lib/util.ts'

const HOST = 'al.bench.test'
const SELF = fileURLToPath(import.meta.url)
/** The data plane each proxy process runs (from src/ through the loader, or from AL_DIST). */
const DATA_PLANE = fileURLToPath(new URL('./lib/data-plane-child.ts', import.meta.url))

if (process.argv[2] === '--micro-child') await microChild(process.argv[3] ?? '', Number(process.argv[4]))
else await main()

interface Child { proc: ChildProcess, port: number, stop: () => Promise<void> }

/** The proxy's stdout: a file, /dev/null, or a pipe this process reads (as Docker's log driver does), appending to the file. */
async function startChild (args: string[], env: Record<string, string>, stdoutFile: string | undefined, nodeArgs: string[] = [], sink = 'file'): Promise<Child> {
  const { openSync, closeSync, createWriteStream } = await import('node:fs')
  const fd = sink === 'pipe' ? 'pipe' : openSync(sink === 'devnull' || stdoutFile === undefined ? '/dev/null' : stdoutFile, 'a')
  // A compiled proxy (AL_DIST) runs without the TypeScript loader, as in production; the bench file itself still needs it.
  const proc = spawn(process.execPath, [...nodeArgs, ...process.execArgv, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', fd, 'pipe'] })
  if (typeof fd === 'number') closeSync(fd)
  else proc.stdout!.pipe(createWriteStream(stdoutFile ?? '/dev/null', { flags: 'a' }))
  killOnExit(proc)
  let err = ''
  proc.stderr!.on('data', (c: Buffer) => { err += c.toString() })
  const exited = new Promise<void>((resolve) => proc.once('exit', () => { resolve() }))
  const port = await waitFor(() => {
    if (proc.exitCode !== null) throw new Error(`child exited ${proc.exitCode}: ${err}`)
    const m = /\{"port":(\d+)\}/.exec(err)
    return m === null ? undefined : Number(m[1])
  }, { timeoutMs: 30_000, what: `${args.join(' ')} to listen` })
  return {
    proc,
    port,
    stop: async () => {
      if (proc.exitCode === null) proc.kill('SIGTERM')
      const t = setTimeout(() => { proc.kill('SIGKILL') }, 10_000)
      await exited
      clearTimeout(t)
    }
  }
}

interface LoadResult { reqPerSec: number, p99Ms: number, errors: number, non2xx: number, requests: number, cpuUsPerRequest: number, sysUsPerRequest: number }

/** autocannon against a proxy; also the proxy process's CPU time per request over the run (robust to other load). */
async function load (port: number, seconds: number, connections: number, pid?: number): Promise<LoadResult> {
  const cpu0 = pid === undefined ? { user: 0, sys: 0 } : processCpuMs(pid)
  const r = await autocannon({ url: `http://127.0.0.1:${port}/`, headers: { host: HOST }, connections, duration: seconds })
  const cpu1 = pid === undefined ? { user: 0, sys: 0 } : processCpuMs(pid)
  const requests = Math.max(1, r.requests.total)
  const perRequest = (ms: number): number => round(ms * 1000 / requests, 1)
  return { reqPerSec: round(r.requests.average), p99Ms: r.latency.p99, errors: r.errors + r.timeouts, non2xx: r.non2xx, requests, cpuUsPerRequest: perRequest(cpu1.user + cpu1.sys - cpu0.user - cpu0.sys), sysUsPerRequest: perRequest(cpu1.sys - cpu0.sys) }
}

/** Child: N access lines the old or the new way into /dev/null; prints CPU ns per line. */
async function microChild (variant: string, n: number): Promise<void> {
  const { AccessLog } = await import('../src/proxy/access-log.ts')
  const destination = pino.destination({ dest: '/dev/null', sync: false, minLength: 4096 })
  const root = pino({ level: 'info', base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, destination)
  const proxyLog = root.child({ component: 'proxy' })
  const oldWay = proxyLog.child({ component: 'access' })
  const newWay = new AccessLog(proxyLog)
  // Requests finish a few per event-loop turn: the writes in between see what they see in the proxy.
  const perTurn = 20
  let i = 0
  const one = (): void => {
    const requestId = (0x1000000000 + i).toString(16).padStart(32, '0')
    const durationMs = (i % 997) / 10
    const status = 200; const bytes = 128; const remote = '127.0.0.1'; const scheme: string = 'http'
    const code: string | undefined = undefined; const reason: string | undefined = undefined
    if (variant === 'pino') {
      oldWay.info({
        requestId, host: HOST, method: 'GET', path: '/', status, upstream: 'local-8080', durationMs: Math.round(durationMs * 10) / 10, bytes, remote, ...(scheme === 'https' ? { scheme } : {}), ...(code !== undefined ? { code } : {}), ...(reason !== undefined ? { reason } : {})
      })
    } else if (variant === 'line') {
      newWay.write({ requestId, host: HOST, method: 'GET', path: '/', status, upstream: 'local-8080', durationMs, bytes, remote, scheme, code, reason })
    } else if (requestId.length === 0) throw new Error('unreachable') // "none": the loop itself
  }
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  await new Promise<void>((resolve) => {
    const turn = (): void => {
      for (let k = 0; k < perTurn && i < n; k++, i++) one()
      if (i < n) setImmediate(turn)
      else root.flush(() => { resolve() })
    }
    turn()
  })
  const c = process.cpuUsage(c0)
  process.stdout.write(JSON.stringify({ variant, n, cpuNsPerLine: round((c.user + c.system) * 1000 / n), wallNsPerLine: round((performance.now() - t0) * 1e6 / n) }) + '\n')
}

async function micro (rounds: number, n: number): Promise<Record<string, unknown>> {
  const variants = ['none', 'pino', 'line']
  const byVariant = new Map<string, number[]>(variants.map((v) => [v, []]))
  for (let r = 0; r < rounds; r++) {
    for (const v of r % 2 === 0 ? variants : [...variants].reverse()) {
      const out = await mustRun(process.execPath, [...process.execArgv, SELF, '--micro-child', v, String(n)])
      const res = JSON.parse(out.trim().split('\n').pop()!) as { cpuNsPerLine: number }
      byVariant.get(v)!.push(res.cpuNsPerLine)
      log(`micro round ${r + 1} ${v}: ${res.cpuNsPerLine} ns CPU per line`)
    }
  }
  const stat = (xs: number[]): { median: number, min: number, max: number, runs: number[] } => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs), runs: xs })
  const none = median(byVariant.get('none')!)
  return {
    lines: n,
    cpuNsPerLine: Object.fromEntries(variants.map((v) => [v, stat(byVariant.get(v)!)])),
    loggingNsPerLine: { pino: round(median(byVariant.get('pino')!) - none), line: round(median(byVariant.get('line')!) - none) }
  }
}

async function main (): Promise<void> {
  const s = parseSettings('bench/access-log.ts', `What the access log costs: proxyctl's data plane with its access log on and off (alternating
rounds, autocannon, loopback, a node:http upstream) and the CPU time per line of the logging path
(old pino .info({...}) vs the preformatted line), 1e6 lines. Writes bench/results/access-log-<commit>.json.`, {
    rounds: { flag: 'rounds', env: 'ROUNDS', help: 'rounds of on+off (order alternates)', default: '6' },
    duration: { flag: 'duration', env: 'DURATION', help: 'seconds per measured run', default: '5' },
    warmup: { flag: 'warmup', env: 'WARMUP', help: 'seconds of discarded load per proxy before the rounds', default: '3' },
    connections: { flag: 'connections', env: 'CONNECTIONS', help: 'autocannon connections', default: '50' },
    lines: { flag: 'lines', env: 'LINES', help: 'lines per micro run', default: '1000000' },
    microRounds: { flag: 'micro-rounds', env: 'MICRO_ROUNDS', help: 'micro-benchmark rounds (0: skip)', default: '5' },
    proxyRounds: { flag: 'proxy', env: 'PROXY', help: 'run the proxy on/off rounds', default: 'true', boolean: true },
    profile: { flag: 'profile', env: 'PROFILE', help: 'also profile both proxies (node --cpu-prof) during the rounds', default: 'false', boolean: true },
    traceGc: { flag: 'trace-gc', env: 'TRACE_GC', help: 'run both proxies with --trace-gc and report their collections per 10,000 requests (sink file or pipe)', default: 'false', boolean: true },
    sink: { flag: 'sink', env: 'SINK', help: 'the proxies\' stdout: file, pipe (read by the bench into the file, as Docker\'s log driver reads a container\'s), devnull', default: 'file' },
    out: { flag: 'out', env: 'ACCESS_LOG_OUT', help: 'result file (default bench/results/access-log-<commit>.json)', default: '' }
  })
  const commit = (await mustRun('git', ['rev-parse', '--short', 'HEAD'])).trim()
  const dirty = (await mustRun('git', ['status', '--porcelain', '--', 'src'])).trim() !== ''
  const result: Record<string, unknown> = {
    kind: 'access-log',
    commit: dirty ? `${commit}+dirty` : commit,
    node: process.version,
    machine: await machineInfo(),
    command: `node ${process.execArgv.join(' ')} bench/access-log.ts ${process.argv.slice(2).join(' ')}`.replace(/\s+/g, ' ').trim()
  }
  const microRounds = int(s.microRounds, 'micro-rounds')
  if (microRounds > 0) result.micro = await micro(microRounds, int(s.lines, 'lines'))
  if (s.proxyRounds === 'true') result.proxy = await proxyRounds(s)
  result.finished = new Date().toISOString()
  const out = s.out !== '' ? s.out : join(RESULTS_DIR, `access-log-${commit}.json`)
  writeJson(out, result)
  log(`wrote ${out}`)
}

async function proxyRounds (s: Record<'rounds' | 'duration' | 'warmup' | 'connections' | 'profile' | 'sink' | 'traceGc', string>): Promise<Record<string, unknown>> {
  const dir = makeTempDir('pxb-al-')
  const rounds = int(s.rounds, 'rounds')
  const duration = int(s.duration, 'duration')
  const connections = int(s.connections, 'connections')
  const upstreamFile = fileURLToPath(new URL('./upstream.ts', import.meta.url))
  const upPort = await freePort()
  const upstream = spawn(process.execPath, [...process.execArgv, upstreamFile, '--port', String(upPort)], { stdio: ['ignore', 'pipe', 'inherit'] })
  killOnExit(upstream)
  await new Promise<void>((resolve) => upstream.stdout!.once('data', () => { resolve() }))
  const profDir = join(dir, 'profiles')
  mkdirSync(profDir, { recursive: true })
  const prof = (name: string): string[] => [...(s.profile === 'true' ? ['--cpu-prof', `--cpu-prof-dir=${join(profDir, name)}`] : []), ...(s.traceGc === 'true' ? ['--trace-gc'] : [])]
  const on = await startChild([DATA_PLANE], { BENCH_HOST: HOST, ACCESS_LOG: 'on', UPSTREAM_PORT: String(upPort), LOG_LEVEL: 'info' }, join(dir, 'on.log'), prof('on'), s.sink)
  const off = await startChild([DATA_PLANE], { BENCH_HOST: HOST, ACCESS_LOG: 'off', UPSTREAM_PORT: String(upPort), LOG_LEVEL: 'info' }, join(dir, 'off.log'), prof('off'), s.sink)
  const runs: Array<{ round: number, on: number, off: number, ratio: number, onCpuUsPerRequest: number, offCpuUsPerRequest: number, onSysUsPerRequest: number, offSysUsPerRequest: number, cpuRatio: number, onP99Ms: number, offP99Ms: number, failed: number }> = []
  const paired: typeof runs = []
  let profiles: Record<string, ProfileSummary | undefined> | undefined
  let accessLines = 0
  /** Requests each proxy served, warm-up included: the denominator of its collections (--trace-gc). */
  const served = { on: 0, off: 0 }
  try {
    served.on += (await load(on.port, int(s.warmup, 'warmup'), connections)).requests
    served.off += (await load(off.port, int(s.warmup, 'warmup'), connections)).requests
    for (let r = 0; r < rounds; r++) {
      const first = r % 2 === 0 ? 'on' : 'off'
      const [x, y] = first === 'on' ? [on, off] : [off, on]
      const a = await load(x.port, duration, connections, x.proc.pid)
      const b = await load(y.port, duration, connections, y.proc.pid)
      const [onRes, offRes] = first === 'on' ? [a, b] : [b, a]
      served.on += onRes.requests; served.off += offRes.requests
      const run = { round: r + 1, on: onRes.reqPerSec, off: offRes.reqPerSec, ratio: round(onRes.reqPerSec / offRes.reqPerSec, 3), onCpuUsPerRequest: onRes.cpuUsPerRequest, offCpuUsPerRequest: offRes.cpuUsPerRequest, onSysUsPerRequest: onRes.sysUsPerRequest, offSysUsPerRequest: offRes.sysUsPerRequest, cpuRatio: round(onRes.cpuUsPerRequest / offRes.cpuUsPerRequest, 3), onP99Ms: onRes.p99Ms, offP99Ms: offRes.p99Ms, failed: onRes.errors + onRes.non2xx + offRes.errors + offRes.non2xx }
      runs.push(run)
      log(`round ${run.round} (${first} first): on ${run.on} req/s, off ${run.off} req/s, on/off ${run.ratio}; CPU per request on ${run.onCpuUsPerRequest} us (sys ${run.onSysUsPerRequest}), off ${run.offCpuUsPerRequest} us (sys ${run.offSysUsPerRequest}), on/off ${run.cpuRatio}${run.failed > 0 ? `, ${run.failed} failed` : ''}`)
    }
    // Paired rounds: both proxies loaded at the same time, so whatever else the machine runs weighs on
    // both alike; the one that needs more CPU per request serves fewer of them.
    for (let r = 0; r < rounds; r++) {
      const [onRes, offRes] = await Promise.all([load(on.port, duration, connections, on.proc.pid), load(off.port, duration, connections, off.proc.pid)])
      served.on += onRes.requests; served.off += offRes.requests
      const run = { round: r + 1, on: onRes.reqPerSec, off: offRes.reqPerSec, ratio: round(onRes.reqPerSec / offRes.reqPerSec, 3), onCpuUsPerRequest: onRes.cpuUsPerRequest, offCpuUsPerRequest: offRes.cpuUsPerRequest, onSysUsPerRequest: onRes.sysUsPerRequest, offSysUsPerRequest: offRes.sysUsPerRequest, cpuRatio: round(onRes.cpuUsPerRequest / offRes.cpuUsPerRequest, 3), onP99Ms: onRes.p99Ms, offP99Ms: offRes.p99Ms, failed: onRes.errors + onRes.non2xx + offRes.errors + offRes.non2xx }
      paired.push(run)
      log(`paired round ${run.round}: on ${run.on} req/s, off ${run.off} req/s, on/off ${run.ratio}; CPU per request on ${run.onCpuUsPerRequest} us, off ${run.offCpuUsPerRequest} us, on/off ${run.cpuRatio}${run.failed > 0 ? `, ${run.failed} failed` : ''}`)
    }
  } finally {
    await on.stop()
    await off.stop()
    upstream.kill('SIGTERM')
  }
  accessLines = s.sink === 'devnull' ? 0 : readFileSync(join(dir, 'on.log'), 'utf8').split('\n').filter((l) => l.includes('"component":"access"')).length
  const gc = s.traceGc === 'true' && s.sink !== 'devnull' ? { on: collections(join(dir, 'on.log'), served.on), off: collections(join(dir, 'off.log'), served.off) } : undefined
  if (gc !== undefined) log(`collections per 10,000 requests: on ${JSON.stringify(gc.on)}, off ${JSON.stringify(gc.off)}`)
  if (s.profile === 'true') {
    profiles = {}
    for (const name of ['on', 'off']) {
      const file = newestProfile(join(profDir, name))
      profiles[name] = file === undefined ? undefined : summarizeProfile(file, 25)
    }
  }
  const ratios = runs.map((r) => r.ratio)
  const cpuRatios = runs.map((r) => r.cpuRatio)
  const spread = (xs: number[]): { median: number, min: number, max: number } => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs) })
  if (s.profile === 'true') log(`profiles kept in ${profDir}`)
  else rmSync(dir, { recursive: true, force: true })
  return {
    connections,
    durationS: duration,
    upstream: 'bench/upstream.ts (node:http, 128-byte body) in its own process',
    logFile: s.sink === 'pipe' ? 'the proxy\'s stdout: a pipe, read by the bench into a file' : s.sink === 'devnull' ? 'the proxy\'s stdout: /dev/null' : 'the proxy\'s stdout to a file',
    ...(process.env.AL_DIST !== undefined && process.env.AL_DIST !== '' ? { proxyCode: `compiled: ${process.env.AL_DIST}` } : { proxyCode: 'src/ through the TypeScript loader' }),
    runs,
    ratio: { median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios) },
    cpuPerRequestRatio: { median: median(cpuRatios), min: Math.min(...cpuRatios), max: Math.max(...cpuRatios) },
    onCpuUsPerRequestMedian: median(runs.map((r) => r.onCpuUsPerRequest)),
    offCpuUsPerRequestMedian: median(runs.map((r) => r.offCpuUsPerRequest)),
    onReqPerSecMedian: median(runs.map((r) => r.on)),
    offReqPerSecMedian: median(runs.map((r) => r.off)),
    accessLinesWritten: accessLines,
    paired: { runs: paired, ratio: spread(paired.map((r) => r.ratio)), cpuPerRequestRatio: spread(paired.map((r) => r.cpuRatio)) },
    ...(profiles !== undefined ? { profiles } : {}),
    ...(gc !== undefined ? { collectionsPer10kRequests: gc } : {})
  }
}

/** --trace-gc lines in a proxy's stdout: young (Scavenge) and full (Mark-Compact) collections and their pause time, per 10,000 requests. */
function collections (file: string, requests: number): { scavenges: number, scavengeMs: number, markCompacts: number, markCompactMs: number } {
  const per10k = (x: number): number => round(x * 10_000 / Math.max(1, requests), 2)
  let scavenges = 0; let scavengeMs = 0; let markCompacts = 0; let markCompactMs = 0
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /: (Scavenge|Mark-Compact) .*?MB, (?:pooled: [\d.]+ MB, )?([\d.]+) \/ [\d.]+ ms/.exec(line)
    if (m === null) continue
    if (m[1] === 'Scavenge') { scavenges++; scavengeMs += Number(m[2]) } else { markCompacts++; markCompactMs += Number(m[2]) }
  }
  return { scavenges: per10k(scavenges), scavengeMs: per10k(scavengeMs), markCompacts: per10k(markCompacts), markCompactMs: per10k(markCompactMs) }
}
