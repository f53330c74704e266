// Writes the latest results (bench/results/*.json) into bench/README.md, between the
// "results:start" and "results:end" markers. Run by `npm run bench`; alone it re-renders the tables.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseSettings } from './lib/cli.ts'
import { BENCH_DIR, RESULTS_DIR, log, readJson } from './lib/util.ts'

const s = parseSettings('bench/report.ts', 'Renders bench/results/*.json into bench/README.md.', {
  readme: { flag: 'readme', env: 'README', help: 'file to update', default: join(BENCH_DIR, 'README.md') },
  results: { flag: 'results', env: 'RESULTS_DIR', help: 'results directory', default: RESULTS_DIR }
})

interface Throughput {
  started: string
  machine: Record<string, string>
  settings: { connections: number, h2Streams?: number, durationS: number, warmupS: number, rounds: number, upstream: string, bodyBytes: number, manyHosts: number }
  summary: Record<string, { reqPerSec: number, p50: number, p90: number, p99: number, p99_9: number, errors: number, non2xx: number, rssPeakMb?: number, tableHosts?: number, tls?: string }>
  ratios: Record<string, number | undefined>
  memory: Record<string, number | undefined>
  profile?: Profile
  profileH2?: Profile
}
interface Profile { file: string, busyPct: number, top: Array<{ fn: string, where: string, selfPct: number }>, areas: Array<{ area: string, selfPct: number }> }
interface Lookup { results: Array<{ size: number, case: string, nsPerOp: number }>, growth: Record<string, number>, settings: { sizes: number[] } }
interface Rollout {
  approach: string
  title: string
  sigterm: string
  chart: string
  totals: { requests: number, failed: number, baselineFailed: number }
  baseline?: { achievedPerSec: number, getP99Ms: number }
  loadAverage?: { before: string, after: string }
  settings: { rollouts: number, rate: number, connections: number, postEvery: number, postSpreadMs: number, postDelayMs: number, bootMs: number, recipeSleepS: number, recipeUpstreamKeepalive: boolean }
  rollouts: Array<{ rollout: number, requests: number, failed: number, non2xx: Record<string, number>, socketErrors: Record<string, number>, firstFailureMs: number | null, lastFailureMs: number | null, outageMs: number, deployDurationMs: number, deployExitCode: number, getP99Ms: number, maxMs: number }>
}

const LABELS: Record<string, string> = {
  direct: 'direct to the upstream',
  proxyctl: 'proxyctl, access log on',
  'proxyctl-nolog': 'proxyctl, access log off',
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

const fmt = (n: number | undefined | null, digits = 0): string => n === undefined || n === null || Number.isNaN(n) ? '–' : n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
const verdict = (ok: boolean | undefined): string => ok === undefined ? '–' : ok ? 'met' : '**missed**'
const counts = (o: Record<string, number>): string => Object.keys(o).length === 0 ? '–' : Object.entries(o).map(([k, v]) => `${k}: ${v}`).join(', ')

function machineSection (m: Record<string, string>): string {
  return [
    '| | |', '|---|---|',
    `| CPU | ${m.nproc} cores, ${m.cpu} |`,
    `| memory | ${m.memory} |`,
    `| OS | ${m.os} |`,
    `| Node.js | ${m.node} |`,
    `| nginx | ${m.nginx} |`,
    `| Docker | ${m.docker} |`,
    `| proxyctl | ${m.proxyctl ?? 'dist/'} |`,
    `| load average at the end | ${m.load} |`
  ].join('\n')
}

function throughputSection (t: Throughput): string {
  const row = (v: string): string => {
    const r = t.summary[v]!
    return `| ${LABELS[v] ?? v} | ${fmt(r.reqPerSec)} | ${fmt(r.p50, v.endsWith('-h2') ? 1 : 0)} | ${fmt(r.p99, v.endsWith('-h2') ? 1 : 0)} | ${fmt(r.p99_9, v.endsWith('-h2') ? 1 : 0)} | ${fmt(r.rssPeakMb, 1)} | ${r.tableHosts ?? '–'} | ${r.errors + r.non2xx} |`
  }
  const plain = ['direct', 'proxyctl', 'proxyctl-nolog', 'proxyctl-nometrics', 'proxyctl-500', 'nginx', 'nginx-nolog', 'http-proxy', 'http-proxy-nolog'].filter((v) => t.summary[v] !== undefined)
  const tls = ['proxyctl-https', 'nginx-https', 'http-proxy-https', 'proxyctl-h2', 'nginx-h2'].filter((v) => t.summary[v] !== undefined)
  const ratio = (k: string): number | undefined => t.ratios[k]
  const target = (what: string, k: string, ok: (x: number) => boolean, unit = '×'): string => {
    const x = ratio(k)
    return `| ${what} | ${fmt(x, 2)}${unit} | ${verdict(x === undefined ? undefined : ok(x))} |`
  }
  const rss = t.memory.proxyctlVmHWMMb
  const targets = [
    '| target | measured | |', '|---|---|---|',
    target('proxyctl ≥ 0.45× nginx req/s, access log on', 'proxyctl/nginx req/s (access log on)', (x) => x >= 0.45),
    target('proxyctl ≥ 1.6× http-proxy req/s, access log on', 'proxyctl/http-proxy req/s (access log on)', (x) => x >= 1.6),
    target('proxyctl p99 ≤ 2× nginx p99, access log on', 'proxyctl p99 / nginx p99 (access log on)', (x) => x <= 2),
    `| proxyctl peak RSS ≤ 80 MB under load (VmHWM) | ${fmt(rss, 1)} MB | ${verdict(rss === undefined ? undefined : rss <= 80)} |`,
    ...(tls.length === 0
      ? []
      : [
          target('HTTPS (HTTP/1.1): proxyctl ≥ 0.45× nginx req/s', 'proxyctl/nginx req/s (HTTPS, HTTP/1.1)', (x) => x >= 0.45),
          target('HTTPS (HTTP/1.1): proxyctl ≥ 1.6× http-proxy req/s', 'proxyctl/http-proxy req/s (HTTPS, HTTP/1.1)', (x) => x >= 1.6),
          target('HTTPS (HTTP/1.1): proxyctl p99 ≤ 2× nginx p99', 'proxyctl p99 / nginx p99 (HTTPS, HTTP/1.1)', (x) => x <= 2),
          target('HTTP/2: proxyctl ≥ 0.45× nginx req/s', 'proxyctl/nginx req/s (HTTP/2)', (x) => x >= 0.45),
          target('HTTP/2: proxyctl p99 ≤ 2× nginx p99', 'proxyctl p99 / nginx p99 (HTTP/2)', (x) => x <= 2),
          `| HTTPS/HTTP/2: proxyctl peak RSS ≤ 80 MB under load (VmHWM) | ${fmt(t.memory.proxyctlTlsVmHWMMb, 1)} MB | ${verdict(t.memory.proxyctlTlsVmHWMMb === undefined ? undefined : t.memory.proxyctlTlsVmHWMMb <= 80)} |`
        ])
  ]
  const other = Object.entries(t.ratios).filter(([, v]) => v !== undefined).map(([k, v]) => `| ${k} | ${fmt(v, 2)} |`)
  const head = ['| variant | req/s | p50 | p99 | p99.9 | peak RSS MB | hosts | errors + non-2xx |', '|---|--:|--:|--:|--:|--:|--:|--:|']
  const negotiated = [...new Set(tls.map((v) => t.summary[v]!.tls).filter((x): x is string => x !== undefined))]
  const out = [
    `Run ${t.started.slice(0, 16).replace('T', ' ')} UTC. autocannon, ${t.settings.connections} connections, ${t.settings.rounds} alternating rounds of ${t.settings.warmupS} s warm-up + ${t.settings.durationS} s, medians of rounds; upstream: ${t.settings.upstream === 'nginx' ? 'nginx `return 200` in a container' : 'bench/upstream.ts in a container'}, ${t.settings.bodyBytes}-byte body. Latency in ms (autocannon records whole ms). RSS: the largest VmRSS seen during that variant's runs (nginx: its one worker). "hosts" = hosts in proxyctl's table during the run.`,
    '',
    '**Plain HTTP/1.1**',
    '',
    ...head,
    ...plain.map(row),
    ...(tls.length === 0
      ? []
      : [
          '',
          `**TLS**: one self-signed P-256 certificate (openssl) for every server; proxyctl with HTTPS on (its own process, the certificate in its certs/ directory), nginx as nginx-proxy's HTTPS server (Mozilla-Intermediate policy, HSTS, \`listen ssl http2\`), http-proxy on node:https with the same suites. HTTPS rows: autocannon over TLS (SNI = the host); HTTP/2 rows: h2load (nghttp2), ${t.settings.connections} connections × ${t.settings.h2Streams ?? 1} stream, latency from its per-request log (µs, shown to 0.1 ms). Negotiated: ${negotiated.map((n) => `\`${n}\``).join(', ')}.`,
          '',
          ...head,
          ...tls.map(row)
        ]),
    '',
    'Ratios are medians of per-round ratios (both sides measured in the same round).',
    '',
    ...targets,
    '',
    '<details><summary>all ratios and memory high-water marks</summary>',
    '',
    '| ratio | value |', '|---|--:|', ...other,
    '',
    '| process | VmHWM MB |', '|---|--:|',
    ...Object.entries(t.memory).filter(([, v]) => v !== undefined).map(([k, v]) => `| ${k.replace(/VmHWMMb$/, '')} | ${fmt(v, 1)} |`),
    '',
    '</details>'
  ]
  for (const [p, what] of [[t.profile, 'plain HTTP/1.1'], [t.profileH2, 'HTTP/2 over TLS (h2load)']] as const) {
    if (p === undefined) continue
    out.push('', `CPU profile of proxyctl, ${what}, access log on, under the same load (\`node --cpu-prof\`, ${p.busyPct}% of the main thread busy; \`${p.file}\`, not committed). Self time, share of busy time:`, '',
      '| function | where | self % |', '|---|---|--:|',
      ...p.top.slice(0, 12).map((f) => `| \`${f.fn}\` | ${f.where === '' ? '' : `\`${f.where}\``} | ${fmt(f.selfPct, 1)} |`),
      '', '| area | self % |', '|---|--:|', ...p.areas.map((a) => `| ${a.area} | ${fmt(a.selfPct, 1)} |`))
  }
  return out.join('\n')
}

function lookupSection (l: Lookup): string {
  const sizes = l.settings.sizes
  const cases = [...new Set(l.results.map((r) => r.case))]
  const ns = (size: number, c: string): number | undefined => l.results.find((r) => r.size === size && r.case === c)?.nsPerOp
  return [
    `\`RouteTable.lookup()\` from src/, ns per call (median of samples). A table "of N" holds N exact names, N \`*.x\` and N \`x.*\` wildcards and N \`~regex\` hosts.`,
    '',
    `| lookup | ${sizes.map((n) => `${n} of each, ns`).join(' | ')} | growth |`,
    `|---|${sizes.map(() => '--:').join('|')}|--:|`,
    ...cases.map((c) => `| ${c} | ${sizes.map((n) => fmt(ns(n, c), 1)).join(' | ')} | ${fmt(l.growth[c], 2)}× |`)
  ].join('\n')
}

function rolloutSection (scenarios: Rollout[]): string {
  const first = scenarios[0]
  if (first === undefined) return '(no rollout results)'
  const st = first.settings
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
    return `| ${r.title} | ${r.sigterm} | ${fmt(r.rollouts.reduce((a, x) => a + x.requests, 0))} | **${fmt(r.rollouts.reduce((a, x) => a + x.failed, 0))}** (${failedPer}) | ${counts(non2xx)} | ${counts(sock)} | ${outagePer} | ${deployPer}${bad > 0 ? ` (${bad} failed)` : ''} | [svg](results/${r.chart}) |`
  })
  const details = scenarios.map((r) => [
    `**${r.title}, ON_SIGTERM=${r.sigterm}** — before the first rollout: ${r.baseline !== undefined ? `${r.baseline.achievedPerSec} req/s succeeded, GET p99 ${r.baseline.getP99Ms} ms, ` : ''}${r.totals.baselineFailed} failed${r.loadAverage !== undefined ? `; load average ${r.loadAverage.before} before, ${r.loadAverage.after} after` : ''}.`,
    '',
    '| # | requests | failed | non-2xx | socket errors | first / last failure (ms after deploy start) | outage ms | deploy ms | GET p99 / max (any) latency ms |',
    '|--:|--:|--:|---|---|---|--:|--:|---|',
    ...r.rollouts.map((x) => `| ${x.rollout} | ${fmt(x.requests)} | ${fmt(x.failed)} | ${counts(x.non2xx)} | ${counts(x.socketErrors)} | ${x.firstFailureMs === null ? '–' : `${x.firstFailureMs} / ${x.lastFailureMs}`} | ${fmt(x.outageMs)} | ${fmt(x.deployDurationMs)}${x.deployExitCode !== 0 ? ` (exit ${x.deployExitCode})` : ''} | ${fmt(x.getP99Ms)} / ${fmt(x.maxMs)} |`),
    ''
  ].join('\n'))
  return [
    `${st.rollouts} rollouts per row; ${st.rate} req/s open loop over ${st.connections} keep-alive connections, 1 request in ${st.postEvery} a slow POST (body over ${st.postSpreadMs} ms, held ${st.postDelayMs} ms by the app); app boot time ${st.bootMs} ms; recipe sleep ${st.recipeSleepS} s, recipe nginx upstream keep-alive ${st.recipeUpstreamKeepalive ? 'on' : 'off (2018 template)'}. Requests belong to the rollout whose deploy started last before their scheduled start. "outage" = total length of the 100 ms slices (by scheduled start) in which at least one request failed. Per-rollout values are separated by "/".`,
    '',
    '| approach | app SIGTERM | requests | failed (per rollout) | non-2xx | socket errors | outage s | deploy s | timeline |',
    '|---|---|--:|---|---|---|---|---|---|',
    ...summary,
    '',
    ...scenarios.map((r) => `![${r.title}, ON_SIGTERM=${r.sigterm}](results/${r.chart})`),
    '',
    '<details><summary>per rollout</summary>',
    '',
    ...details,
    '</details>'
  ].join('\n')
}

const t = readJson<Throughput>(join(s.results, 'throughput.json'))
const l = readJson<Lookup>(join(s.results, 'route-lookup.json'))
const r = readJson<{ scenarios: Rollout[], machine: Record<string, string> }>(join(s.results, 'rollout.json'))
// Older summaries lack the baseline: take it from each scenario's own file.
for (const sc of r?.scenarios ?? []) {
  if (sc.baseline !== undefined) continue
  const own = readJson<Rollout>(join(s.results, sc.chart.replace(/\.svg$/, '.json')))
  if (own !== undefined) { sc.baseline = own.baseline; sc.loadAverage = own.loadAverage }
}
const machine = t?.machine ?? r?.machine
const parts = [
  '<!-- results:start (generated by bench/report.ts from bench/results/*.json; do not edit by hand) -->',
  '',
  '### Machine', '', machine !== undefined ? machineSection(machine) : '(no results yet)', '',
  '### Throughput and latency', '', t !== undefined ? throughputSection(t) : '(not run)', '',
  '### Route lookup', '', l !== undefined ? lookupSection(l) : '(not run)', '',
  '### Rollouts under load', '', r !== undefined ? rolloutSection(r.scenarios) : '(not run)', '',
  '<!-- results:end -->'
]
const readme = readFileSync(s.readme, 'utf8')
const start = readme.indexOf('<!-- results:start')
const end = readme.indexOf('<!-- results:end -->')
if (start < 0 || end < 0) throw new Error(`${s.readme} has no results:start/results:end markers`)
writeFileSync(s.readme, readme.slice(0, start) + parts.join('\n') + readme.slice(end + '<!-- results:end -->'.length))
log(`updated ${s.readme}`)
