// Writes the recorded results (bench/results/<commit>/*.json) into bench/README.md, between the
// "results:start" and "results:end" markers: the tables and every sentence that quotes a number,
// each naming the result file and the commit it measured. For each kind of result the newest run
// (by its "finished" time) is used. Run by `npm run bench`; alone it re-renders the section.
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { parseSettings } from './lib/cli.ts'
import { BENCH_DIR, RESULTS_DIR, log, readJson } from './lib/util.ts'
import { swarmRolloutRuns, swarmRolloutSection } from './lib/swarm-rollout-report.ts'

const s = parseSettings('bench/report.ts', 'Renders bench/results/<commit>/*.json into bench/README.md.', {
  readme: { flag: 'readme', env: 'README', help: 'file to update', default: join(BENCH_DIR, 'README.md') },
  results: { flag: 'results', env: 'RESULTS_DIR', help: 'results directory (one sub-directory per measured commit)', default: RESULTS_DIR }
})

// ---------------------------------------------------------------- result files

interface Found<T> { data: T, /** relative to bench/ */ file: string, commit: string, finished: string }

/** The newest `name` (a path inside a commit directory) over every bench/results/<commit>/. */
function latest<T extends { finished?: string }> (name: string): Found<T> | undefined {
  if (!existsSync(s.results)) return undefined
  let best: Found<T> | undefined
  for (const commit of readdirSync(s.results)) {
    if (commit === 'tmp' || !statSync(join(s.results, commit)).isDirectory()) continue
    const path = join(s.results, commit, name)
    const data = readJson<T>(path)
    if (data === undefined) continue
    const finished = data.finished ?? ''
    if (best === undefined || finished > best.finished) best = { data, file: relative(BENCH_DIR, path), commit, finished }
  }
  return best
}

const when = (iso: string): string => `${iso.slice(0, 16).replace('T', ' ')} UTC`
const source = (f: Found<unknown>, extra = ''): string => `Source: \`${f.file}\` (commit ${f.commit}, finished ${when(f.finished)}${extra}).`

// ---------------------------------------------------------------- formatting

const fmt = (n: number | undefined | null, digits = 0): string => n === undefined || n === null || Number.isNaN(n) ? '–' : n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
const counts = (o: Record<string, number> | undefined): string => o === undefined || Object.keys(o).length === 0 ? '–' : Object.entries(o).map(([k, v]) => `${k}: ${v}`).join(', ')
const med = (xs: number[]): number => {
  const a = [...xs].sort((x, y) => x - y)
  const m = Math.floor(a.length / 2)
  return a.length % 2 === 1 ? a[m]! : (a[m - 1]! + a[m]!) / 2
}

/** A ratio measured round by round: its median, its spread over rounds, and the number of rounds. */
interface Spread { median: number, min: number, max: number, n: number }
function spreadOf (xs: number[]): Spread | undefined {
  const v = xs.filter((x) => Number.isFinite(x))
  if (v.length === 0) return undefined
  return { median: med(v), min: Math.min(...v), max: Math.max(...v), n: v.length }
}
/** "0.51× (0.45–0.58 over 5 rounds)" */
const x = (r: Spread | undefined, digits = 2): string => r === undefined ? '–' : `${fmt(r.median, digits)}× (${fmt(r.min, digits)}–${fmt(r.max, digits)} over ${r.n} rounds)`
/** A target judged on every round: met only if every round meets it, missed only if none does. */
function verdict (r: Spread | undefined, ok: (v: number) => boolean): string {
  if (r === undefined) return '–'
  const a = ok(r.min)
  const b = ok(r.max)
  if (a && b) return 'met in every round'
  if (!a && !b) return '**missed** in every round'
  return 'not shown: the rounds fall on both sides'
}

// ---------------------------------------------------------------- throughput

interface RoundResult { round: number, reqPerSec: number, p50: number, p99: number, p99_9: number, errors: number, timeouts: number, non2xx: number, rssPeakMb?: number, cpuUsPerRequest?: number, tableHosts?: number }
interface Throughput {
  finished: string
  started: string
  machine: Record<string, string>
  settings: { connections: number, h2Streams?: number, durationS: number, warmupS: number, rounds: number, upstream: string, bodyBytes: number, manyHosts: number, proxyctlEnv?: Record<string, string> }
  summary: Record<string, { reqPerSec: number, p50: number, p90: number, p99: number, p99_9: number, errors: number, non2xx: number, rssPeakMb?: number, cpuUsPerRequest?: number, tableHosts?: number, tls?: string, cores?: Record<'busy' | 'server' | 'loadGenerator' | 'upstream', number | undefined> }>
  memory: Record<string, number | undefined>
  rounds: Record<string, RoundResult[]>
  /** Per process of each proxy (proxyctl: the process and its workers; nginx: its workers), idle before the rounds and at the end. */
  processes?: Record<string, { idle: ProcessMemory[], end: ProcessMemory[] }>
  profile?: Profile
  profileH2?: Profile
}
interface ProcessMemory { pid: number, role: 'root' | 'child', rssMb: number, hwmMb: number, anonMb?: number, pssMb?: number, privateMb?: number }
interface Profile { file: string, busyPct: number, top: Array<{ fn: string, where: string, selfPct: number }>, areas: Array<{ area: string, selfPct: number }> }

const LABELS: Record<string, string> = {
  direct: 'direct to the upstream',
  proxyctl: 'proxyctl, access log on',
  'proxyctl-nolog': 'proxyctl, access log off',
  'proxyctl-2w': 'proxyctl, 2 workers (WORKERS=2), access log on',
  'nginx-2w': 'nginx, 2 workers (worker_processes 2), access log on',
  'proxyctl-500': 'proxyctl, access log on, +500 hosts in the table',
  nginx: 'nginx, access log on',
  'nginx-nolog': 'nginx, access log off',
  'http-proxy': 'http-proxy (Node), access log on',
  'http-proxy-nolog': 'http-proxy (Node), access log off',
  'proxyctl-nometrics': 'proxyctl, access log on, METRICS=off REQUEST_IDS=off',
  'proxyctl-https': 'proxyctl, HTTPS (HTTP/1.1), access log on',
  'nginx-https': 'nginx, HTTPS (HTTP/1.1), access log on',
  'http-proxy-https': 'http-proxy (Node), HTTPS (HTTP/1.1), access log on',
  'proxyctl-h2': 'proxyctl, HTTP/2 over TLS, access log on',
  'nginx-h2': 'nginx, HTTP/2 over TLS, access log on'
}

/** Per-round a/b of one field, both measured in the same round. */
function ratio (t: Throughput, a: string, b: string, key: 'reqPerSec' | 'p99' | 'cpuUsPerRequest' = 'reqPerSec'): Spread | undefined {
  const ra = t.rounds[a]
  const rb = t.rounds[b]
  if (ra === undefined || rb === undefined) return undefined
  // Runs recorded before the bench measured CPU have none.
  if (key === 'cpuUsPerRequest' && ![...ra, ...rb].every((r) => r.cpuUsPerRequest !== undefined)) return undefined
  return spreadOf(ra.map((r, i) => (r[key] ?? NaN) / (rb[i]?.[key] ?? NaN)))
}

const reqRange = (t: Throughput, v: string): string => {
  const rs = t.rounds[v] ?? []
  return rs.length === 0 ? '–' : `${fmt(Math.min(...rs.map((r) => r.reqPerSec)))}–${fmt(Math.max(...rs.map((r) => r.reqPerSec)))}`
}

/** Where each variant's cores went (recorded since the bench read the machine's CPU split). */
function coresTable (t: Throughput, variants: string[]): string[] {
  const rows = variants.filter((v) => t.summary[v]?.cores?.busy !== undefined)
  if (rows.length === 0) return []
  return [
    '',
    'Cores used during the runs (CPU seconds per second, warm-up included; median over rounds): the whole machine busy, the server\'s own processes, the load generator (autocannon in the bench process, or h2load), the upstream container; the rest is the kernel\'s network work charged to no process and everything else on the machine.',
    '',
    '| variant | machine busy | server | load generator | upstream |', '|---|--:|--:|--:|--:|',
    ...rows.map((v) => { const c = t.summary[v]!.cores!; return `| ${LABELS[v] ?? v} | ${fmt(c.busy, 2)} | ${fmt(c.server, 2)} | ${fmt(c.loadGenerator, 2)} | ${fmt(c.upstream, 2)} |` })
  ]
}

function variantTable (t: Throughput, variants: string[]): string[] {
  const ms = (v: string, n: number): string => fmt(n, v.endsWith('-h2') ? 1 : 0)
  return [
    '| variant | req/s (median) | req/s (min–max over rounds) | p50 | p99 | p99.9 | peak RSS MB | CPU µs per request | hosts | errors + non-2xx |',
    '|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
    ...variants.map((v) => {
      const r = t.summary[v]!
      return `| ${LABELS[v] ?? v} | ${fmt(r.reqPerSec)} | ${reqRange(t, v)} | ${ms(v, r.p50)} | ${ms(v, r.p99)} | ${ms(v, r.p99_9)} | ${fmt(r.rssPeakMb, 1)} | ${fmt(r.cpuUsPerRequest, 1)} | ${r.tableHosts ?? '–'} | ${r.errors + r.non2xx} |`
    })
  ]
}

/** "no difference this run can separate from its spread" when the rounds straddle 1. */
function direction (r: Spread | undefined, lower: string, higher: string): string {
  if (r === undefined) return ''
  if (r.max < 1) return lower
  if (r.min > 1) return higher
  return 'the rounds fall on both sides of 1, so this run shows no difference it can tell from noise'
}

function throughputSection (f: Found<Throughput>): string {
  const t = f.data
  const plain = ['direct', 'proxyctl', 'proxyctl-nolog', 'proxyctl-2w', 'proxyctl-nometrics', 'proxyctl-500', 'nginx', 'nginx-nolog', 'nginx-2w', 'http-proxy', 'http-proxy-nolog'].filter((v) => t.summary[v] !== undefined)
  const tls = ['proxyctl-https', 'nginx-https', 'http-proxy-https', 'proxyctl-h2', 'nginx-h2'].filter((v) => t.summary[v] !== undefined)
  const has = (...v: string[]): boolean => v.every((n) => t.rounds[n] !== undefined)
  const R = {
    nginx: ratio(t, 'proxyctl', 'nginx'),
    nginxNolog: ratio(t, 'proxyctl-nolog', 'nginx-nolog'),
    direct: ratio(t, 'proxyctl', 'direct'),
    httpProxy: ratio(t, 'proxyctl', 'http-proxy'),
    httpProxyNolog: ratio(t, 'proxyctl-nolog', 'http-proxy-nolog'),
    p99: ratio(t, 'proxyctl', 'nginx', 'p99'),
    log: ratio(t, 'proxyctl', 'proxyctl-nolog'),
    hosts: ratio(t, 'proxyctl-500', 'proxyctl'),
    httpsNginx: ratio(t, 'proxyctl-https', 'nginx-https'),
    httpsP99: ratio(t, 'proxyctl-https', 'nginx-https', 'p99'),
    httpsHttpProxy: ratio(t, 'proxyctl-https', 'http-proxy-https'),
    h2Nginx: ratio(t, 'proxyctl-h2', 'nginx-h2'),
    h2P99: ratio(t, 'proxyctl-h2', 'nginx-h2', 'p99'),
    tlsProxyctl: ratio(t, 'proxyctl-https', 'proxyctl'),
    tlsNginx: ratio(t, 'nginx-https', 'nginx'),
    nginx2w: ratio(t, 'proxyctl-2w', 'nginx-2w'),
    scale: ratio(t, 'proxyctl-2w', 'proxyctl'),
    nginxScale: ratio(t, 'nginx-2w', 'nginx'),
    // CPU time of the server's processes per request: unlike req/s, not moved by how a round
    // shared the two cores with autocannon.
    logCpu: ratio(t, 'proxyctl', 'proxyctl-nolog', 'cpuUsPerRequest'),
    nginxCpu: ratio(t, 'proxyctl', 'nginx', 'cpuUsPerRequest'),
    nginxLogCpu: ratio(t, 'nginx', 'nginx-nolog', 'cpuUsPerRequest'),
    scaleCpu: ratio(t, 'proxyctl-2w', 'proxyctl', 'cpuUsPerRequest'),
    h2Cpu: ratio(t, 'proxyctl-h2', 'nginx-h2', 'cpuUsPerRequest'),
    httpsCpu: ratio(t, 'proxyctl-https', 'nginx-https', 'cpuUsPerRequest')
  }
  // Per worker: the largest of any one proxyctl process (its workers, or the one process) over every proxyctl run.
  // A process that serves: the one process of a 1-worker run, a worker (child) of a multi-worker
  // run; a multi-worker run's primary (discovery, health checks, log relay) is counted apart.
  const pcProcs = Object.entries(t.processes ?? {}).filter(([name]) => name.startsWith('proxyctl'))
  const serving = (ms: ProcessMemory[]): ProcessMemory[] => ms.some((m) => m.role === 'child') ? ms.filter((m) => m.role === 'child') : ms
  const idleMax = pcProcs.length === 0 ? undefined : Math.max(...pcProcs.flatMap(([, p]) => serving(p.idle).map((m) => m.rssMb)))
  const peakMax = pcProcs.length === 0 ? undefined : Math.max(...pcProcs.flatMap(([, p]) => serving(p.end).map((m) => m.hwmMb)))
  const primaries = pcProcs.flatMap(([, p]) => p.end.some((m) => m.role === 'child') ? p.end.filter((m) => m.role === 'root') : [])
  const primaryPeak = primaries.length === 0 ? undefined : Math.max(...primaries.map((m) => m.hwmMb))
  const twoW = t.processes?.['proxyctl-2w']
  const twoWProcs = twoW === undefined ? undefined : Math.max(twoW.idle.length, twoW.end.length)
  const perWorker = (what: string, v: number | undefined, max: number): string => `| ${what} | ${fmt(v, 1)} MB (the largest of any one serving proxyctl process over every proxyctl run: a 1-worker run's process, a 2-worker run's workers${primaryPeak === undefined ? '' : `; the 2-worker primary, which does not serve, peaked at ${fmt(primaryPeak, 1)} MB`}) | ${v === undefined ? '–' : v <= max ? 'met' : '**missed**'} |`
  const rss = t.memory.proxyctlVmHWMMb
  const rssTls = t.memory.proxyctlTlsVmHWMMb
  const rssLine = (what: string, v: number | undefined): string => `| ${what} | ${fmt(v, 1)} MB (one value: the high-water mark over the whole run) | ${v === undefined ? '–' : v <= 80 ? 'met' : '**missed**'} |`
  const row = (what: string, r: Spread | undefined, ok: (v: number) => boolean): string => `| ${what} | ${x(r)} | ${verdict(r, ok)} |`
  const targets = [
    '| target | measured: median (min–max over rounds) | verdict |', '|---|---|---|',
    row('proxyctl, 1 worker ≥ 0.55× nginx, 1 worker req/s, access log on', R.nginx, (v) => v >= 0.55),
    ...(R.nginx2w === undefined
      ? []
      : [
          row(`proxyctl, 2 workers ≥ 0.55× nginx, 2 workers req/s, access log on${twoWProcs === 1 ? ' (proxyctl ran as one process: no worker processes in this build)' : ''}`, R.nginx2w, (v) => v >= 0.55),
          row('proxyctl, 2 workers ≥ 1.3× proxyctl, 1 worker req/s', R.scale, (v) => v >= 1.3)
        ]),
    row('proxyctl access log on / off ≥ 0.95 req/s', R.log, (v) => v >= 0.95),
    ...(R.logCpu === undefined ? [] : [row('the same in CPU: proxyctl CPU per request, access log on / off ≤ 1.05 (the log costs ≤ 5 %)', R.logCpu, (v) => v <= 1.05)]),
    row('proxyctl ≥ 1.6× http-proxy req/s, access log on', R.httpProxy, (v) => v >= 1.6),
    row('proxyctl p99 ≤ 2× nginx p99, access log on', R.p99, (v) => v <= 2),
    ...(idleMax === undefined ? [rssLine('proxyctl peak RSS ≤ 80 MB under load (VmHWM)', rss)] : [perWorker('proxyctl idle RSS ≤ 60 MB per worker (VmRSS before the rounds)', idleMax, 60), perWorker('proxyctl peak RSS ≤ 80 MB per worker under load (VmHWM)', peakMax, 80)]),
    ...(tls.length === 0
      ? []
      : [
          row('HTTPS (HTTP/1.1): proxyctl ≥ 0.45× nginx req/s', R.httpsNginx, (v) => v >= 0.45),
          row('HTTPS (HTTP/1.1): proxyctl ≥ 1.6× http-proxy req/s', R.httpsHttpProxy, (v) => v >= 1.6),
          row('HTTPS (HTTP/1.1): proxyctl p99 ≤ 2× nginx p99', R.httpsP99, (v) => v <= 2),
          row('HTTP/2: proxyctl ≥ 0.55× nginx req/s', R.h2Nginx, (v) => v >= 0.55),
          row('HTTP/2: proxyctl p99 ≤ 2× nginx p99', R.h2P99, (v) => v <= 2),
          rssLine('HTTPS/HTTP/2: proxyctl peak RSS ≤ 80 MB under load (VmHWM)', rssTls)
        ])
  ]
  const negotiated = [...new Set(tls.map((v) => t.summary[v]!.tls).filter((n): n is string => n !== undefined))]
  const sentences: string[] = []
  if (has('proxyctl', 'nginx')) sentences.push(`proxyctl serves ${x(R.nginx)} nginx's req/s with the access log on${R.nginxNolog !== undefined ? ` and ${x(R.nginxNolog)} with it off` : ''}; its p99 is ${x(R.p99)} nginx's.`)
  if (has('proxyctl', 'http-proxy')) sentences.push(`Against the plain Node proxy on http-proxy it serves ${x(R.httpProxy)} the req/s with the access log on${R.httpProxyNolog !== undefined ? ` and ${x(R.httpProxyNolog)} with it off` : ''}.`)
  if (has('proxyctl', 'direct')) sentences.push(`Going through proxyctl leaves ${x(R.direct)} of the req/s of going direct to the upstream.`)
  if (R.nginx2w !== undefined) sentences.push(`With 2 workers each${twoWProcs === 1 ? ' (WORKERS=2 given, but this build of proxyctl ran one process: the worker processes had not landed)' : ''}, proxyctl serves ${x(R.nginx2w)} nginx's req/s; 2 workers serve ${x(R.scale)} of proxyctl's 1-worker req/s, nginx's 2 workers ${x(R.nginxScale)} of its 1 worker's (autocannon shares the 2 cores with them).`)
  const c2w = t.summary['proxyctl-2w']?.cores
  const c1w = t.summary.proxyctl?.cores
  if (c2w?.busy !== undefined && c1w?.server !== undefined) sentences.push(`What limits that on this machine: with 1 worker proxyctl used ${fmt(c1w.server, 2)} cores (median), with 2 workers ${fmt(c2w.server, 2)}, while the machine was ${fmt(c2w.busy, 2)} of ${t.machine.nproc ?? 2} cores busy, autocannon using ${fmt(c2w.loadGenerator, 2)} and the upstream ${fmt(c2w.upstream, 2)}: a second worker can only use the cores the others leave.`)
  if (R.log !== undefined) sentences.push(`With its access log on proxyctl serves ${x(R.log)} its req/s with the log off.`)
  if (R.logCpu !== undefined) sentences.push(`In CPU time of its own processes per request, which does not depend on how a round shared the cores with autocannon, the access log on costs ${x(R.logCpu)} of off (nginx's ${x(R.nginxLogCpu)}); proxyctl spends ${x(R.nginxCpu)} nginx's CPU per request, and 2 workers ${x(R.scaleCpu)} one worker's.`)
  if (R.hosts !== undefined) sentences.push(`With ${t.settings.manyHosts} more hosts in the table (an exact-name lookup) it serves ${x(R.hosts)} its 1-host req/s: ${direction(R.hosts, 'slower in every round', 'faster in every round')}.`)
  if (R.tlsProxyctl !== undefined && R.tlsNginx !== undefined) {
    const overlap = R.tlsProxyctl.min <= R.tlsNginx.max && R.tlsNginx.min <= R.tlsProxyctl.max
    sentences.push(`Over HTTPS (HTTP/1.1) proxyctl serves ${x(R.tlsProxyctl)} its plain-HTTP req/s, nginx ${x(R.tlsNginx)} its own: ${overlap ? 'the two spreads overlap, so this run does not show TLS costing one of them more than the other' : R.tlsProxyctl.min > R.tlsNginx.max ? 'TLS costs proxyctl less than nginx in relative terms, in every round' : 'TLS costs proxyctl more than nginx in relative terms, in every round'}.`)
  }
  if (R.h2Nginx !== undefined) sentences.push(`HTTP/2 (h2load, ${t.settings.connections} connections × ${t.settings.h2Streams ?? 1} stream): proxyctl serves ${x(R.h2Nginx)} nginx's req/s, with a p99 of ${x(R.h2P99)} nginx's${R.h2Cpu !== undefined ? `, spending ${x(R.h2Cpu)} nginx's CPU per request (HTTPS/1.1: ${x(R.httpsCpu)})` : ''}.`)
  if (rss !== undefined) sentences.push(`proxyctl's peak RSS under load (VmHWM) was ${fmt(rss, 1)} MB for plain HTTP${rssTls !== undefined ? ` and ${fmt(rssTls, 1)} MB for the process serving HTTPS and HTTP/2` : ''}; nginx's worker ${fmt(t.memory.nginxWorkerVmHWMMb, 1)} MB, the http-proxy proxy ${fmt(t.memory.httpProxyVmHWMMb, 1)} MB.`)
  const out = [
    `${source(f, `, proxyctl: ${t.machine.proxyctl ?? '?'}, load average at the end ${t.machine.load ?? '?'}`)} autocannon, ${t.settings.connections} connections, ${t.settings.rounds} alternating rounds (A B C …, then … C B A) of ${t.settings.warmupS} s warm-up + ${t.settings.durationS} s; upstream: ${t.settings.upstream === 'nginx' ? 'nginx `return 200` in a container' : 'bench/upstream.ts in a container'}, ${t.settings.bodyBytes}-byte body. Latency in ms (autocannon records whole ms), medians of rounds. ${t.settings.proxyctlEnv !== undefined && Object.keys(t.settings.proxyctlEnv).length > 0 ? `proxyctl runs with the memory settings its image sets (${Object.entries(t.settings.proxyctlEnv).map(([k, v]) => `\`${k}=${v}\``).join(', ')}). ` : ''}RSS: the largest VmRSS of any one process seen during that variant's runs (proxyctl's process or one of its workers; nginx: one of its workers). "hosts" = hosts in proxyctl's table during the run. On this shared 2-core machine absolute req/s move by tens of percent between rounds (the min–max column); ratios are taken per round, both sides measured in the same round, and given as median (min–max over rounds).`,
    '',
    sentences.join(' '),
    '',
    '**Plain HTTP/1.1**',
    '',
    ...variantTable(t, plain),
    ...coresTable(t, [...plain, ...tls]),
    ...(tls.length === 0
      ? []
      : [
          '',
          `**TLS**: one self-signed P-256 certificate (openssl) for every server; proxyctl with HTTPS on (its own process, the certificate in its certs/ directory), nginx as nginx-proxy's HTTPS server (Mozilla-Intermediate policy, HSTS, \`listen ssl http2\`), http-proxy on node:https with the same suites. HTTPS rows: autocannon over TLS (SNI = the host); HTTP/2 rows: h2load (nghttp2), ${t.settings.connections} connections × ${t.settings.h2Streams ?? 1} stream, latency from its per-request log (µs, shown to 0.1 ms). Negotiated: ${negotiated.map((n) => `\`${n}\``).join(', ')}.`,
          '',
          ...variantTable(t, tls)
        ]),
    '',
    'A target counts as met (or missed) only if every round meets (or misses) it.',
    '',
    ...targets,
    '',
    '<details><summary>every ratio, and the memory high-water marks</summary>',
    '',
    '| ratio | median | min–max | rounds |', '|---|--:|--:|--:|',
    ...Object.entries({
      'proxyctl/nginx req/s (access log on)': R.nginx,
      'proxyctl/nginx req/s (access log off)': R.nginxNolog,
      'proxyctl/direct req/s': R.direct,
      'proxyctl/http-proxy req/s (access log on)': R.httpProxy,
      'proxyctl/http-proxy req/s (access log off)': R.httpProxyNolog,
      'proxyctl p99 / nginx p99 (access log on)': R.p99,
      'proxyctl access log on / off req/s': R.log,
      'proxyctl access log on / off CPU per request': R.logCpu,
      'nginx access log on / off CPU per request': R.nginxLogCpu,
      'proxyctl/nginx CPU per request (access log on)': R.nginxCpu,
      'proxyctl 2 workers / 1 worker CPU per request': R.scaleCpu,
      'proxyctl 500 hosts / 1 host req/s': R.hosts,
      'proxyctl 2 workers / nginx 2 workers req/s (access log on)': R.nginx2w,
      'proxyctl 2 workers / 1 worker req/s': R.scale,
      'nginx 2 workers / 1 worker req/s': R.nginxScale,
      'proxyctl/nginx req/s (HTTPS, HTTP/1.1)': R.httpsNginx,
      'proxyctl p99 / nginx p99 (HTTPS, HTTP/1.1)': R.httpsP99,
      'proxyctl/http-proxy req/s (HTTPS, HTTP/1.1)': R.httpsHttpProxy,
      'proxyctl/nginx req/s (HTTP/2)': R.h2Nginx,
      'proxyctl p99 / nginx p99 (HTTP/2)': R.h2P99,
      'proxyctl/nginx CPU per request (HTTP/2)': R.h2Cpu,
      'proxyctl/nginx CPU per request (HTTPS, HTTP/1.1)': R.httpsCpu,
      'proxyctl HTTPS / HTTP req/s (HTTP/1.1)': R.tlsProxyctl,
      'nginx HTTPS / HTTP req/s (HTTP/1.1)': R.tlsNginx
    }).filter(([, r]) => r !== undefined).map(([k, r]) => `| ${k} | ${fmt(r!.median, 2)} | ${fmt(r!.min, 2)}–${fmt(r!.max, 2)} | ${r!.n} |`),
    '',
    '| process | VmHWM MB |', '|---|--:|',
    ...Object.entries(t.memory).filter(([, v]) => v !== undefined).map(([k, v]) => `| ${k.replace(/VmHWMMb$/, '')} | ${fmt(v, 1)} |`),
    '',
    ...(t.processes === undefined
      ? []
      : ['Per process: RSS counts the pages of the node (nginx) binary a process has touched, shared by every process of the tree; PSS splits shared pages between the processes that map them; private = what that process alone holds.', '',
          '| proxy | process | idle RSS MB | idle PSS MB | idle private MB | VmHWM MB at the end | RSS MB at the end | of it anonymous (heaps) | PSS MB at the end | private MB at the end |', '|---|---|--:|--:|--:|--:|--:|--:|--:|--:|',
          ...Object.entries(t.processes).flatMap(([name, p]) => p.end.map((e) => {
            const i = p.idle.find((m) => m.pid === e.pid)
            return `| ${name} | ${e.role === 'root' ? 'main' : 'child'} | ${fmt(i?.rssMb, 1)} | ${fmt(i?.pssMb, 1)} | ${fmt(i?.privateMb, 1)} | ${fmt(e.hwmMb, 1)} | ${fmt(e.rssMb, 1)} | ${fmt(e.anonMb, 1)} | ${fmt(e.pssMb, 1)} | ${fmt(e.privateMb, 1)} |`
          })),
          '']),
    '</details>'
  ]
  for (const [p, what] of [[t.profile, 'plain HTTP/1.1'], [t.profileH2, 'HTTP/2 over TLS (h2load)']] as const) {
    if (p === undefined) continue
    const socketWrites = p.top.filter((fn) => ['writev', 'writeLatin1String', 'writeString', 'writeUtf8String', 'writeBuffer'].includes(fn.fn)).reduce((a, fn) => a + fn.selfPct, 0)
    out.push('', `CPU profile of proxyctl, ${what}, access log on, under the same load after the rounds (\`node --cpu-prof\`, ${p.busyPct}% of the main thread busy; the profile file stays local). Self time, share of busy time; the native socket and file writes (\`writev\`, \`write*String\`) together: ${fmt(socketWrites, 1)}%.`, '',
      '| function | where | self % |', '|---|---|--:|',
      ...p.top.slice(0, 12).map((fn) => `| \`${fn.fn}\` | ${fn.where === '' ? '' : `\`${fn.where}\``} | ${fmt(fn.selfPct, 1)} |`),
      '', '| area | self % |', '|---|--:|', ...p.areas.map((a) => `| ${a.area} | ${fmt(a.selfPct, 1)} |`))
  }
  return out.join('\n')
}

/** A throughput run of two variants only (HTTP/2 with more streams, metrics off): rounds side by side. */
function pairSection (f: Found<Throughput>, a: string, b: string, sentence: (r: Spread | undefined, perRound: number[]) => string): string {
  const t = f.data
  const ra = t.rounds[a] ?? []
  const rb = t.rounds[b] ?? []
  const errs = (rs: RoundResult[]): number => rs.reduce((n, r) => n + r.errors + r.timeouts + r.non2xx, 0)
  return [
    `${source(f, `, proxyctl: ${t.machine.proxyctl ?? '?'}, load average at the end ${t.machine.load ?? '?'}`)} ${t.settings.rounds} alternating rounds of ${t.settings.warmupS} s warm-up + ${t.settings.durationS} s, ${t.settings.connections} connections${a.endsWith('-h2') ? ` × ${t.settings.h2Streams ?? 1} streams (h2load)` : ' (autocannon)'}.`,
    '',
    sentence(ratio(t, a, b), ra.map((r, i) => r.reqPerSec / (rb[i]?.reqPerSec ?? NaN))),
    '',
    `| round | ${LABELS[a] ?? a}, req/s | ${LABELS[b] ?? b}, req/s | ratio |`, '|--:|--:|--:|--:|',
    ...ra.map((r, i) => `| ${r.round} | ${fmt(r.reqPerSec)} | ${fmt(rb[i]?.reqPerSec)} | ${fmt(r.reqPerSec / (rb[i]?.reqPerSec ?? NaN), 2)} |`),
    `| errors + non-2xx, all rounds | ${errs(ra)} | ${errs(rb)} | |`,
    `| peak RSS MB (largest over rounds) | ${fmt(t.summary[a]?.rssPeakMb, 1)} | ${fmt(t.summary[b]?.rssPeakMb, 1)} | |`
  ].join('\n')
}

// ---------------------------------------------------------------- balancing

interface Balancing {
  finished: string
  machine: Record<string, string>
  settings: { connections: number, durationS: number, warmupS: number, rounds: number, slowMs: number, modes: string[] }
  runs: Array<{ round: number, mode: string, reqPerSec: number, p50: number, p99: number, errors: number, non2xx: number, fastShare: number }>
}

function balancingSection (f: Found<Balancing>): string {
  const b = f.data
  const per = (mode: string, k: 'reqPerSec' | 'p50' | 'p99' | 'fastShare', d = 0, scale = 1): string => b.runs.filter((r) => r.mode === mode).map((r) => fmt(r[k] * scale, d)).join(' / ')
  const byRound = (mode: string): Map<number, number> => new Map(b.runs.filter((r) => r.mode === mode).map((r) => [r.round, r.reqPerSec]))
  const lo = byRound('least-outstanding')
  const rr = byRound('round-robin')
  const r = spreadOf([...lo.keys()].map((k) => (lo.get(k) ?? NaN) / (rr.get(k) ?? NaN)))
  return [
    `${source(f, `, proxyctl: ${b.machine.proxyctl ?? '?'}, load average at the end ${b.machine.load ?? '?'}`)} Two replicas of the test app behind one \`proxyctl serve\` (access log off): one answers at once, one ${b.settings.slowMs} ms later. autocannon, ${b.settings.connections} connections, ${b.settings.rounds} alternating rounds of ${b.settings.warmupS} s warm-up + ${b.settings.durationS} s; "fast share" = the part of the requests the fast replica served, from proxyctl's \`proxyctl_requests_total\` counter. Per-round values are separated by "/".`,
    '',
    [
      r !== undefined ? `Least-outstanding (the default) serves ${x(r)} the req/s of round-robin.` : '',
      ...b.settings.modes.map((m) => {
        const shares = b.runs.filter((y) => y.mode === m).map((y) => y.fastShare * 100)
        return `${m === 'least-outstanding' ? 'Least-outstanding' : 'Round-robin'} sent ${range(shares)} % of the requests to the fast replica (${shares.length} rounds).`
      })
    ].filter((y) => y !== '').join(' '),
    '',
    '| balancing | req/s | p50 ms | p99 ms | fast share % | errors + non-2xx |', '|---|---|---|---|---|--:|',
    ...b.settings.modes.map((m) => `| ${m} | ${per(m, 'reqPerSec')} | ${per(m, 'p50')} | ${per(m, 'p99')} | ${per(m, 'fastShare', 1, 100)} | ${b.runs.filter((x) => x.mode === m).reduce((a, x) => a + x.errors + x.non2xx, 0)} |`)
  ].join('\n')
}

// ---------------------------------------------------------------- route lookup

interface Lookup { finished: string, machine: Record<string, string>, results: Array<{ size: number, case: string, nsPerOp: number }>, growth: Record<string, number>, settings: { sizes: number[] } }

function lookupSection (f: Found<Lookup>): string {
  const l = f.data
  const sizes = l.settings.sizes
  const cases = [...new Set(l.results.map((r) => r.case))]
  const ns = (size: number, c: string): number | undefined => l.results.find((r) => r.size === size && r.case === c)?.nsPerOp
  const big = sizes[sizes.length - 1]!
  const small = sizes[0]!
  const us = (n: number | undefined): string => n === undefined ? '–' : n >= 1000 ? `${fmt(n / 1000, 1)} µs` : `${fmt(n, 0)} ns`
  return [
    `${source(f, `, ${l.machine.proxyctl ?? ''}, load average at the end ${l.machine.load ?? '?'}; wall time, so a loaded machine inflates it`)} \`RouteTable.lookup()\` from src/, ns per call (median of samples). A table "of N" holds N exact names, N \`*.x\` and N \`x.*\` wildcards and N \`~regex\` hosts.`,
    '',
    `An exact name costs ${us(ns(small, 'exact'))} at ${small} and ${us(ns(big, 'exact'))} at ${big} of each kind (a Map). With ${big} of each kind a leading wildcard costs ${us(ns(big, 'leading wildcard'))}, a trailing one ${us(ns(big, 'trailing wildcard'))}, a regex ${us(ns(big, 'regex'))}, and a miss (an unknown Host header, e.g. from a scanner) ${us(ns(big, 'miss'))}, since it tries every wildcard and regex.`,
    '',
    `| lookup | ${sizes.map((n) => `${n} of each, ns`).join(' | ')} | growth |`,
    `|---|${sizes.map(() => '--:').join('|')}|--:|`,
    ...cases.map((c) => `| ${c} | ${sizes.map((n) => fmt(ns(n, c), 1)).join(' | ')} | ${fmt(l.growth[c], 2)}× |`)
  ].join('\n')
}

// ---------------------------------------------------------------- hostile input

interface Redos {
  finished: string
  commit: string
  dirty: boolean
  node: string
  loadAvg: string
  settings: { jsStopMs: number, jsKillMs: number, maxHostLength: number, shapes: string[] }
  summary: { re2SteadyMaxMs: number, re2ColdMaxMs: number, targetMs: number }
  patterns: Array<{
    name: string
    pattern: string
    programSize: number
    re2: Record<'steady' | 'cold', { maxMs: number, p99Ms: number, over1Ms: number, matches: number }>
    js: Array<{ shape: string, longestLength: number, msAtLongest: number, stoppedBy: string }>
  }>
  lookup: Array<{ engine: string, case: string, nsPerOp: number }>
}
interface Auth {
  finished: string
  settings: { durationMs: number, rate: number, attackRate: number, bcryptCost: number }
  results: Array<{ variant: string, openHost: { requests: number, failed: number, p50Ms: number, p99Ms: number, maxMs: number }, attacker?: { sent: number, statuses: Record<string, number> } }>
}

const VARIANTS: Record<string, string> = {
  'no-attack': 'no guessing',
  'attack-inline': 'bcrypt on the event loop (bench-only `inline` option: what the code before issue 10 did)',
  'attack-pool': 'worker pool, throttle off',
  'attack-pool-throttle': 'worker pool + throttle (the defaults)'
}

function redosSection (f: Found<Redos>): string {
  const r = f.data
  const js = (p: Redos['patterns'][number]): string => {
    const killed = p.js.filter((j) => j.stoppedBy !== 'stop threshold' && !j.stoppedBy.startsWith('reached')).sort((a, b) => a.longestLength - b.longestLength)[0]
    if (killed !== undefined) return `killed (> ${fmt(r.settings.jsKillMs / 1000)} s) at ${killed.longestLength} chars`
    const stopped = p.js.filter((j) => j.stoppedBy === 'stop threshold').sort((a, b) => a.longestLength - b.longestLength)[0]
    if (stopped !== undefined) return `${fmt(stopped.msAtLongest, 0)} ms at ${stopped.longestLength} chars`
    const worst = [...p.js].sort((a, b) => b.msAtLongest - a.msAtLongest)[0]
    return worst === undefined ? '–' : `${fmt(worst.msAtLongest, worst.msAtLongest < 1 ? 3 : 2)} ms at ${worst.longestLength} chars`
  }
  const steady = r.patterns.reduce((a, p) => ({ over: a.over + p.re2.steady.over1Ms, n: a.n + p.re2.steady.matches }), { over: 0, n: 0 })
  const cold = r.patterns.reduce((a, p) => ({ over: a.over + p.re2.cold.over1Ms, n: a.n + p.re2.cold.matches }), { over: 0, n: 0 })
  const worstP99 = Math.max(...r.patterns.map((p) => Math.max(p.re2.steady.p99Ms, p.re2.cold.p99Ms)))
  const lk = (engine: string, c: string): number | undefined => r.lookup.find((x) => x.engine.startsWith(engine) && x.case.startsWith(c))?.nsPerOp
  return [
    `${source(f, `, ${r.dirty ? 'with uncommitted changes, ' : ''}node ${r.node}, load average ${r.loadAvg}`)} One match of each pattern against every host length 1–${r.settings.maxHostLength} in ${r.settings.shapes.length} hostile shapes (${r.settings.shapes.map((x) => `\`${x}\``).join(', ')}), on RE2 (re2js, as the proxy compiles it) reused as the proxy reuses it ("steady") and recompiled for every match, so that every character builds new DFA state ("cold", the most a client can force). Beside it, JS RegExp in a child process, stopped once one match takes ${r.settings.jsStopMs} ms and killed at ${fmt(r.settings.jsKillMs / 1000)} s.`,
    '',
    `The largest p99 of any pattern, steady or cold, is ${fmt(worstP99, 3)} ms (target ${r.summary.targetMs} ms). Single matches over 1 ms: ${steady.over} of ${fmt(steady.n)} steady and ${cold.over} of ${fmt(cold.n)} cold; the largest took ${fmt(Math.max(r.summary.re2SteadyMaxMs, r.summary.re2ColdMaxMs), 1)} ms. A normal lookup costs more on RE2: 10 regex hosts, hit on the last, ${us(lk('RouteTable', 'hit'))} through \`RouteTable.lookup\` against ${us(lk('RegExp', 'hit'))} for RegExp; a miss ${us(lk('RouteTable', 'miss'))} against ${us(lk('RegExp', 'miss'))}.`,
    '',
    '| pattern | RE2 instructions | steady p99, ms | cold p99, ms | cold max, ms | RegExp |',
    '|---|--:|--:|--:|--:|---|',
    ...r.patterns.map((p) => `| ${p.pattern.length > 40 ? p.name : `\`${p.pattern.replace(/\|/g, '\\|')}\``} | ${p.programSize} | ${fmt(p.re2.steady.p99Ms, 4)} | ${fmt(p.re2.cold.p99Ms, 4)} | ${fmt(p.re2.cold.maxMs, 2)} | ${js(p)} |`)
  ].join('\n')
}
const us = (ns: number | undefined): string => ns === undefined ? '–' : `${fmt(ns / 1000, 2)} µs`

function authSection (f: Found<Auth>): string {
  const a = f.data
  return [
    `${source(f)} proxyctl's data plane (ProxyServer, RequestRouter, Reconciler, one loopback upstream) serves \`open.test\` and \`secret.test\` (a bcrypt cost-${a.settings.bcryptCost} htpasswd). Open-loop load of ${a.settings.rate} req/s to \`open.test\` for ${fmt(a.settings.durationMs / 1000)} s, while a client sends ${a.settings.attackRate} wrong passwords a second to \`secret.test\`. One run of each variant, not rounds.`,
    '',
    '| variant | open.test p50, ms | p99, ms | max, ms | failed | the guesser got |',
    '|---|--:|--:|--:|--:|---|',
    ...a.results.map((r) => `| ${VARIANTS[r.variant] ?? r.variant} | ${fmt(r.openHost.p50Ms, 1)} | ${fmt(r.openHost.p99Ms, 1)} | ${fmt(r.openHost.maxMs, 1)} | ${fmt(r.openHost.failed)} / ${fmt(r.openHost.requests)} | ${r.attacker === undefined ? '–' : Object.entries(r.attacker.statuses).map(([k, v]) => `${v} × ${k}`).join(', ')} |`)
  ].join('\n')
}

// ---------------------------------------------------------------- rollouts

interface RolloutStats { rollout: number, requests: number, failed: number, non2xx: Record<string, number>, socketErrors: Record<string, number>, firstFailureMs: number | null, lastFailureMs: number | null, outageMs: number, deployDurationMs: number, deployExitCode: number, getP99Ms: number, maxMs: number }
interface Rollout {
  approach: string
  title: string
  sigterm: string
  chart: string
  totals: { requests: number, failed: number, baselineFailed: number }
  /** Older runs: the whole run, the readiness probes before the load included. */
  edgeAnswered?: Record<string, number>
  edgeAnsweredDuringLoad?: Record<string, number>
  baseline?: { achievedPerSec: number, getP99Ms: number }
  loadAverage?: { before: string, after: string }
  settings: { rollouts: number, rate: number, connections: number, postEvery: number, postSpreadMs: number, postDelayMs: number, bootMs: number, recipeSleepS: number, recipeUpstreamKeepalive: boolean, requestTimeoutMs?: number }
  rollouts: RolloutStats[]
  /** Set by latestRollouts(): where this row's run lives (relative to bench/) and the commit it measured. */
  dir?: string
  commit?: string
}
interface RolloutSummary { finished: string, machine: Record<string, string>, scenarios: Rollout[] }

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0)
const range = (xs: number[], d = 1): string => xs.length === 0 ? '–' : Math.min(...xs) === Math.max(...xs) ? fmt(Math.min(...xs), d) : `${fmt(Math.min(...xs), d)}–${fmt(Math.max(...xs), d)}`

function rolloutSentences (scenarios: Rollout[]): string {
  const byApproach = new Map<string, Rollout[]>()
  for (const r of scenarios) byApproach.set(r.approach, [...(byApproach.get(r.approach) ?? []), r])
  const out: string[] = []
  for (const [, rs] of byApproach) {
    const all = rs.flatMap((r) => r.rollouts)
    const clean = all.filter((x) => x.failed === 0).length
    const failedPer = all.map((x) => x.failed)
    const modes = rs.map((r) => `${r.sigterm}: ${fmt(sum(r.rollouts.map((x) => x.failed)))} failed of ${fmt(sum(r.rollouts.map((x) => x.requests)))}`).join('; ')
    out.push(`**${rs[0]!.title}**: ${clean} of ${all.length} rollouts without a failed request; ${range(failedPer, 0)} failed requests per rollout (${modes}), ${range(all.map((x) => x.outageMs / 1000))} s of outage and ${range(all.map((x) => x.deployDurationMs / 1000))} s of deploy per rollout.`)
  }
  return out.join(' ')
}

function rolloutTables (scenarios: Rollout[], chartDir: string): string {
  const st = scenarios[0]!.settings
  const same = (a: Rollout['settings'], b: Rollout['settings']): boolean => JSON.stringify({ ...a, rollouts: 0 }) === JSON.stringify({ ...b, rollouts: 0 })
  const differing = scenarios.filter((r) => !same(r.settings, st))
  if (differing.length > 0) throw new Error(`rollout rows with other load settings than ${scenarios[0]!.approach}/${scenarios[0]!.sigterm}: ${differing.map((r) => `${r.approach}/${r.sigterm} (${r.commit ?? '?'})`).join(', ')}; re-run them with the same RATE/ROLLOUTS settings`)
  const summary = scenarios.map((r) => {
    const failedPer = r.rollouts.map((x) => x.failed).join(' / ')
    const outagePer = r.rollouts.map((x) => (x.outageMs / 1000).toFixed(1)).join(' / ')
    const deployPer = r.rollouts.map((x) => (x.deployDurationMs / 1000).toFixed(1)).join(' / ')
    const non2xx: Record<string, number> = {}
    const sock: Record<string, number> = {}
    for (const x of r.rollouts) {
      for (const [k, v] of Object.entries(x.non2xx)) non2xx[k] = (non2xx[k] ?? 0) + v
      for (const [k, v] of Object.entries(x.socketErrors)) sock[k] = (sock[k] ?? 0) + v
    }
    const bad = r.rollouts.filter((x) => x.deployExitCode !== 0).length
    return `| ${r.title} | ${r.sigterm} | ${r.commit ?? '–'} | ${fmt(sum(r.rollouts.map((x) => x.requests)))} | **${fmt(sum(r.rollouts.map((x) => x.failed)))}** (${failedPer}) | ${counts(non2xx)} | ${counts(sock)} | ${outagePer} | ${deployPer}${bad > 0 ? ` (${bad} failed)` : ''} | ${r.loadAverage?.before.split(' ')[0] ?? '–'} / ${r.loadAverage?.after.split(' ')[0] ?? '–'} | [svg](${r.dir ?? chartDir}/${r.chart}) |`
  })
  const details = scenarios.map((r) => [
    `**${r.title}, ON_SIGTERM=${r.sigterm}** — before the first rollout: ${r.baseline !== undefined ? `${r.baseline.achievedPerSec} req/s succeeded, GET p99 ${r.baseline.getP99Ms} ms, ` : ''}${r.totals.baselineFailed} failed${r.loadAverage !== undefined ? `; load average ${r.loadAverage.before} before, ${r.loadAverage.after} after` : ''}${r.edgeAnsweredDuringLoad !== undefined ? `; statuses in proxyctl's own access log while the load ran: ${counts(r.edgeAnsweredDuringLoad)}` : r.edgeAnswered !== undefined ? `; statuses in proxyctl's own access log, readiness probes before the load included: ${counts(r.edgeAnswered)}` : ''}.`,
    '',
    '| # | requests | failed | non-2xx | socket errors | first / last failure (ms after deploy start) | outage ms | deploy ms | GET p99 / max (any) latency ms |',
    '|--:|--:|--:|---|---|---|--:|--:|---|',
    ...r.rollouts.map((x) => `| ${x.rollout} | ${fmt(x.requests)} | ${fmt(x.failed)} | ${counts(x.non2xx)} | ${counts(x.socketErrors)} | ${x.firstFailureMs === null ? '–' : `${x.firstFailureMs} / ${x.lastFailureMs}`} | ${fmt(x.outageMs)} | ${fmt(x.deployDurationMs)}${x.deployExitCode !== 0 ? ` (exit ${x.deployExitCode})` : ''} | ${fmt(x.getP99Ms)} / ${fmt(x.maxMs)} |`),
    ''
  ].join('\n'))
  return [
    `${st.rollouts} rollouts per row; ${st.rate} req/s open loop over ${st.connections} keep-alive connections, 1 request in ${st.postEvery} a slow POST (body over ${st.postSpreadMs} ms, held ${st.postDelayMs} ms by the app); ${st.requestTimeoutMs !== undefined ? `a request not answered within ${fmt(st.requestTimeoutMs)} ms of its scheduled start (queueing in the client included) counts as failed (CLIENT_TIMEOUT); ` : ''}app boot time ${st.bootMs} ms; recipe sleep ${st.recipeSleepS} s, recipe nginx upstream keep-alive ${st.recipeUpstreamKeepalive ? 'on' : 'off (2018 template)'}. Requests belong to the rollout whose deploy started last before their scheduled start. "outage" = total length of the 100 ms slices (by scheduled start) in which at least one request failed. "load" = the 1-minute load average before / after the row (2 cores). Per-rollout values are separated by "/".`,
    '',
    '| approach | app SIGTERM | commit | requests | failed (per rollout) | non-2xx | socket errors | outage s | deploy s | load | timeline |',
    '|---|---|---|--:|---|---|---|---|---|---|---|',
    ...summary,
    '',
    '<details><summary>per rollout</summary>',
    '',
    ...details,
    '</details>'
  ].join('\n')
}

/**
 * Every row (approach × app SIGTERM behaviour) from the newest rollout.json that has it: a run of
 * one approach on a later commit (say proxyctl's after a deploy change) replaces only its rows.
 */
function latestRollouts (): Array<Found<RolloutSummary>> {
  if (!existsSync(s.results)) return []
  const runs: Array<Found<RolloutSummary>> = []
  for (const commit of readdirSync(s.results)) {
    if (commit === 'tmp' || !statSync(join(s.results, commit)).isDirectory()) continue
    const path = join(s.results, commit, 'rollout.json')
    const data = readJson<RolloutSummary>(path)
    if (data !== undefined) runs.push({ data, file: relative(BENCH_DIR, path), commit, finished: data.finished ?? '' })
  }
  runs.sort((a, b) => (a.finished < b.finished ? 1 : -1))
  const seen = new Set<string>()
  const used: Array<Found<RolloutSummary>> = []
  for (const run of runs) {
    const rows = run.data.scenarios.filter((sc) => !seen.has(`${sc.approach}/${sc.sigterm}`))
    if (rows.length === 0) continue
    for (const sc of rows) { seen.add(`${sc.approach}/${sc.sigterm}`); sc.dir = dirname(run.file); sc.commit = run.commit }
    used.push({ ...run, data: { ...run.data, scenarios: rows } })
  }
  return used
}

function rolloutSection (runs: Array<Found<RolloutSummary>>): string {
  const order = ['proxyctl', 'recipe', 'compose']
  const scenarios = runs.flatMap((f) => f.data.scenarios)
    .sort((a, b) => order.indexOf(a.approach) - order.indexOf(b.approach) || a.sigterm.localeCompare(b.sigterm))
  if (scenarios.length === 0) return '(no rollout results)'
  const r = { ...runs[0]!.data, scenarios }
  const chartDir = dirname(runs[0]!.file)
  return [
    runs.map((f) => `${source(f, `, proxyctl: ${f.data.machine.proxyctl ?? '?'}`)} Rows: ${f.data.scenarios.map((sc) => `${sc.approach}/${sc.sigterm}`).join(', ')}.`).join(' '),
    '',
    rolloutSentences(r.scenarios),
    '',
    rolloutTables(r.scenarios, chartDir),
    '',
    ...r.scenarios.map((sc) => `![${sc.title}, ON_SIGTERM=${sc.sigterm}](${sc.dir ?? chartDir}/${sc.chart})`)
  ].join('\n')
}

function recipeSleepSection (f: Found<RolloutSummary>): string {
  const r = f.data
  const st = r.scenarios[0]?.settings
  if (st === undefined) return '(no results)'
  const chartDir = dirname(f.file)
  return [
    `${source(f, `, proxyctl: ${r.machine.proxyctl ?? '?'}`)} The seed recipe again, with its sleep after scaling raised to ${st.recipeSleepS} s, longer than nginx's \`fail_timeout\` (10 s).`,
    '',
    rolloutSentences(r.scenarios),
    '',
    rolloutTables(r.scenarios, chartDir)
  ].join('\n')
}

// ---------------------------------------------------------------- machine and assembly

function machineSection (m: Record<string, string>): string {
  return [
    '| | |', '|---|---|',
    `| CPU | ${m.nproc} cores, ${m.cpu} |`,
    `| memory | ${m.memory} |`,
    `| OS | ${m.os} |`,
    `| Node.js | ${m.node} |`,
    `| nginx | ${m.nginx} |`,
    `| Docker | ${m.docker} |`
  ].join('\n')
}

const t = latest<Throughput>('throughput.json')
const h2 = latest<Throughput>('throughput-h2-streams.json')
const nometrics = latest<Throughput>('throughput-nometrics.json')
const bal = latest<Balancing>('balancing.json')
const l = latest<Lookup>('route-lookup.json')
const redos = latest<Redos>('redos.json')
const auth = latest<Auth>('auth-starvation.json')
const rolloutRuns = latestRollouts()
const r = rolloutRuns[0]
const sleepRun = latest<RolloutSummary>('recipe-sleep/rollout.json')
const swarmRuns = swarmRolloutRuns(s.results, BENCH_DIR)
const machine = r?.data.machine ?? t?.data.machine

const used: Array<Found<unknown>> = []
for (const f of [t, h2, nometrics, bal, l, redos, auth, ...rolloutRuns, sleepRun, ...swarmRuns]) if (f !== undefined) used.push(f)
const parts = [
  '<!-- results:start (generated by bench/report.ts from bench/results/<commit>/*.json; do not edit by hand) -->',
  '',
  'Every number between this line and the end marker is written by `bench/report.ts` from the result files listed here, each in the directory of the commit it measured.',
  '',
  '| result file | commit | finished |', '|---|---|---|',
  ...used.map((f) => `| \`${f.file}\` | ${f.commit} | ${when(f.finished)} |`),
  '',
  '### Machine', '', machine !== undefined ? machineSection(machine) : '(no results yet)', '',
  '### Rollouts under load', '', rolloutRuns.length > 0 ? rolloutSection(rolloutRuns) : '(not run)', '',
  ...(sleepRun !== undefined ? ['#### The seed recipe with a longer sleep', '', recipeSleepSection(sleepRun), ''] : []),
  ...(swarmRuns.length > 0 ? ['### Swarm rollouts under load', '', swarmRolloutSection(swarmRuns), ''] : []),
  '### Throughput and latency', '', t !== undefined ? throughputSection(t) : '(not run)', '',
  ...(h2 !== undefined
    ? ['#### HTTP/2 with several streams per connection', '', pairSection(h2, 'proxyctl-h2', 'nginx-h2', (x2) => `With ${h2.data.settings.h2Streams ?? 1} streams on each of ${h2.data.settings.connections} connections, proxyctl serves ${x(x2)} nginx's req/s.`), '']
    : []),
  ...(nometrics !== undefined
    ? ['#### What metrics and request IDs cost', '', pairSection(nometrics, 'proxyctl-nometrics', 'proxyctl', (m, per) => `With \`METRICS=off REQUEST_IDS=off\` proxyctl serves ${x(m)} the req/s of the default (both on): the ratio is above 1.05 (the two features costing more than 5 %) in ${per.filter((v) => v > 1.05).length}, within ±5 % in ${per.filter((v) => v >= 0.95 && v <= 1.05).length} and below 0.95 in ${per.filter((v) => v < 0.95).length} of ${per.length} rounds${m !== undefined && (m.min < 0.95 || m.max > 1.05) ? ', so this run does not show a cost within 5 %' : ''}.`), '']
    : []),
  ...(bal !== undefined ? ['### Balancing', '', balancingSection(bal), ''] : []),
  '### Route lookup', '', l !== undefined ? lookupSection(l) : '(not run)', '',
  ...(redos !== undefined || auth !== undefined ? ['### Hostile input: regex hosts and password guessing (issue 10)', ''] : []),
  ...(redos !== undefined ? ['**`~regex` hosts** (`bench/redos.ts`).', '', redosSection(redos), ''] : []),
  ...(auth !== undefined ? ['**Password guessing** (`bench/auth-starvation.ts`).', '', authSection(auth), ''] : []),
  '<!-- results:end -->'
]
const readme = readFileSync(s.readme, 'utf8')
const start = readme.indexOf('<!-- results:start')
const end = readme.indexOf('<!-- results:end -->')
if (start < 0 || end < 0) throw new Error(`${s.readme} has no results:start/results:end markers`)
writeFileSync(s.readme, readme.slice(0, start) + parts.join('\n') + readme.slice(end + '<!-- results:end -->'.length))
log(`updated ${s.readme}`)
