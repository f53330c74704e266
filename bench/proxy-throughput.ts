// Throughput and latency: the same fast upstream reached directly, through proxyctl, through nginx
// (Debian package, 1 worker, keep-alive upstream, nginx-proxy's headers) and through a plain Node
// proxy on `http-proxy`. autocannon, alternating rounds (A B C … then … C B A), medians of rounds.
import autocannon, { type Result as AutocannonResult } from 'autocannon'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { request } from 'undici'
import { bool, int, list, parseSettings } from './lib/cli.ts'
import { newestProfile, summarizeProfile, type ProfileSummary } from './lib/cpuprofile.ts'
import {
  BENCH_DIR, BENCH_LABEL, RESULTS_DIR, RssMonitor, compileStandalone, containerIp, docker, ensureNginx, freePort, log, machineInfo, makeTempDir, median,
  nginxUserDirective, proxyctlStatus, removeBenchContainers, round, run, spawnLogged, startNginx, startProxyctl, waitFor,
  waitForProxyctlHost, writeJson, type Proc, type ProxyctlProcess
} from './lib/util.ts'

const DEFAULT_VARIANTS = ['direct', 'proxyctl', 'proxyctl-nolog', 'proxyctl-500', 'nginx', 'nginx-nolog', 'http-proxy', 'http-proxy-nolog']
/** proxyctl-nometrics: access log on, METRICS=off and REQUEST_IDS=off (what issue 6's features cost). */
const ALL_VARIANTS = [...DEFAULT_VARIANTS, 'proxyctl-nometrics']

const s = parseSettings('bench/proxy-throughput.ts', `Throughput/latency of proxyctl next to direct, nginx and an http-proxy Node proxy.
Needs Docker (the upstream is a container, which proxyctl discovers by VIRTUAL_HOST) and nginx
(installed with apt-get when missing and root). Writes bench/results/throughput.json.
Variants: ${ALL_VARIANTS.join(', ')} ("-nolog" = access log off; proxyctl-500 = a second
upstream container with MANY_HOSTS names in VIRTUAL_HOST is started for that run, so the table
holds that many more hosts, and stopped after it).`, {
  connections: { flag: 'connections', env: 'CONNECTIONS', help: 'autocannon connections', default: '50' },
  pipelining: { flag: 'pipelining', env: 'PIPELINING', help: 'autocannon pipelining', default: '1' },
  duration: { flag: 'duration', env: 'DURATION', help: 'seconds per measured run', default: '5' },
  warmup: { flag: 'warmup', env: 'WARMUP', help: 'seconds of discarded load before each measured run', default: '1' },
  rounds: { flag: 'rounds', env: 'ROUNDS', help: 'rounds; each runs every variant once, order reversed every other round', default: '5' },
  variants: { flag: 'variants', env: 'VARIANTS', help: `comma-separated, from ${ALL_VARIANTS.join(', ')}`, default: DEFAULT_VARIANTS.join(',') },
  upstream: { flag: 'upstream', env: 'UPSTREAM', help: 'nginx (the host\'s nginx binary run in a container, `return 200`) or node (bench/upstream.ts in node:24)', default: 'nginx' },
  image: { flag: 'image', env: 'BASE_IMAGE', help: 'image for the upstream container', default: 'node:24-bookworm-slim' },
  bodyBytes: { flag: 'body-bytes', env: 'BODY_BYTES', help: 'response body size', default: '128' },
  manyHosts: { flag: 'many-hosts', env: 'MANY_HOSTS', help: 'host names for proxyctl-500', default: '500' },
  profile: { flag: 'profile', env: 'PROFILE', help: 'after the rounds, profile proxyctl (node --cpu-prof) under the same load: on, off, or auto (when proxyctl < 0.45x nginx)', default: 'auto' },
  out: { flag: 'out', env: 'THROUGHPUT_OUT', help: 'result file', default: join(RESULTS_DIR, 'throughput.json') },
  keep: { flag: 'keep', env: 'KEEP_RUNNING', help: 'leave containers and processes for inspection', default: 'false', boolean: true }
})

const HOST = 'tp.bench.test'
const MANY_HOST = (i: number): string => `h${i}.many.bench.test`
const NAME = 'pxb-tp-'
const connections = int(s.connections, 'connections')
const duration = int(s.duration, 'duration')
const warmup = int(s.warmup, 'warmup')
const rounds = int(s.rounds, 'rounds')
const manyHosts = int(s.manyHosts, 'many-hosts')
const variants = list(s.variants)
for (const v of variants) if (!ALL_VARIANTS.includes(v)) throw new Error(`unknown variant ${v}`)

interface Target {
  name: string
  url: string
  host: string
  /** The process whose memory we report. */
  pid?: () => number | undefined
  adminSocket?: string
  before?: () => Promise<void>
  after?: () => Promise<void>
}

interface RunResult {
  round: number
  reqPerSec: number
  p50: number
  p90: number
  p99: number
  p99_9: number
  errors: number
  timeouts: number
  non2xx: number
  rssPeakMb: number | undefined
  tableHosts: number | undefined
}

function body (bytes: number): string {
  const head = '{"ok":true,"pad":"'
  const tail = '"}'
  return head + 'x'.repeat(Math.max(0, bytes - head.length - tail.length)) + tail
}

/** The host's nginx binary and the libraries it links (ldd), to bind-mount into a container. */
async function nginxMounts (bin: string): Promise<string[]> {
  const out = (await run('ldd', [bin])).stdout
  const mounts = [`${bin}:/pxb/nginx:ro`]
  for (const line of out.split('\n')) {
    const lib = /=>\s+(\/\S+)/.exec(line)?.[1]
    if (lib !== undefined) mounts.push(`${lib}:/pxb/lib/${lib.split('/').pop()!}:ro`)
    const loader = /^\s*(\/\S*ld-linux\S*)\s/.exec(line)?.[1]
    if (loader !== undefined) mounts.push(`${loader}:/pxb/ld.so:ro`)
  }
  return mounts
}

async function startUpstream (dir: string, name: string, virtualHost: string, start: boolean): Promise<string> {
  const common = ['--name', name, '--label', BENCH_LABEL, '-e', `VIRTUAL_HOST=${virtualHost}`, '-e', 'VIRTUAL_PORT=8080', '--user', '1000:1000']
  let args: string[]
  if (s.upstream === 'nginx') {
    const bin = await ensureNginx()
    const conf = join(dir, 'upstream-nginx.conf')
    writeFileSync(conf, `daemon off;
worker_processes 1;
pid /tmp/nginx.pid;
error_log stderr warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path /tmp/cb; proxy_temp_path /tmp/pt; fastcgi_temp_path /tmp/ft; uwsgi_temp_path /tmp/ut; scgi_temp_path /tmp/st;
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  server {
    listen 8080;
    location / { default_type application/json; return 200 '${body(int(s.bodyBytes, 'body-bytes'))}'; }
  }
}
`)
    // The image's own libraries are not used: the host's loader runs the host's nginx with its libraries.
    const mounts = (await nginxMounts(bin)).flatMap((m) => ['-v', m])
    args = [...common, ...mounts, '-v', `${conf}:/pxb/nginx.conf:ro`, '--entrypoint', '/pxb/ld.so', s.image, '--library-path', '/pxb/lib', '/pxb/nginx', '-p', '/tmp/', '-c', '/pxb/nginx.conf']
  } else {
    args = [...common, '-e', `BODY_BYTES=${s.bodyBytes}`, '-v', `${join(BENCH_DIR, 'upstream.ts')}:/pxb/upstream.ts:ro`, '--entrypoint', 'node', s.image, '--no-warnings', '/pxb/upstream.ts', '--port', '8080']
  }
  await docker(start ? 'run' : 'create', ...(start ? ['-d'] : []), ...args)
  return name
}

async function directReady (url: string, host: string): Promise<void> {
  await waitFor(async () => {
    const r = await request(url, { headers: { host } })
    await r.body.dump()
    return r.statusCode === 200
  }, { timeoutMs: 30_000, what: `${url} (Host: ${host}) to answer 200` })
}

function nginxProxyConf (dir: string, upstreamIp: string, ports: { log: number, nolog: number }): string {
  // The http-level settings nginx-proxy's template writes, with keep-alive to the upstream (its
  // newer `keepalive` support; 64 idle connections so 50 clients never churn them), 1 worker.
  return `${nginxUserDirective()}
worker_processes 1;
pid ${dir}/nginx-proxy.pid;
error_log ${dir}/nginx-proxy.error.log warn;
events { worker_connections 4096; }
http {
  client_body_temp_path ${dir}/cb; proxy_temp_path ${dir}/pt; fastcgi_temp_path ${dir}/ft; uwsgi_temp_path ${dir}/ut; scgi_temp_path ${dir}/st;
  keepalive_timeout 65s;
  keepalive_requests 10000000;
  map $http_x_forwarded_proto $proxy_x_forwarded_proto { default $http_x_forwarded_proto; '' $scheme; }
  map $http_x_forwarded_host $proxy_x_forwarded_host { default $http_x_forwarded_host; '' $http_host; }
  map $http_x_forwarded_port $proxy_x_forwarded_port { default $http_x_forwarded_port; '' $server_port; }
  map $http_upgrade $proxy_connection { default upgrade; '' ''; }
  map $scheme $proxy_x_forwarded_ssl { default off; https on; }
  log_format vhost '$host $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" "$upstream_addr"';
  access_log off;
  proxy_http_version 1.1;
  proxy_buffering off;
  proxy_set_header Host $http_host;
  proxy_set_header Upgrade $http_upgrade;
  proxy_set_header Connection $proxy_connection;
  proxy_set_header X-Real-IP $remote_addr;
  proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
  proxy_set_header X-Forwarded-Host $proxy_x_forwarded_host;
  proxy_set_header X-Forwarded-Proto $proxy_x_forwarded_proto;
  proxy_set_header X-Forwarded-Ssl $proxy_x_forwarded_ssl;
  proxy_set_header X-Forwarded-Port $proxy_x_forwarded_port;
  proxy_set_header X-Original-URI $request_uri;
  proxy_set_header Proxy "";
  upstream ${HOST} {
    server ${upstreamIp}:8080;
    keepalive 64;
    keepalive_requests 10000000;
  }
  server {
    server_name ${HOST};
    listen 127.0.0.1:${ports.log};
    access_log ${dir}/nginx-access.log vhost;
    location / { proxy_pass http://${HOST}; }
  }
  server {
    server_name ${HOST};
    listen 127.0.0.1:${ports.nolog};
    access_log off;
    location / { proxy_pass http://${HOST}; }
  }
}
`
}

function nginxWorkerPid (masterPid: number): number | undefined {
  try {
    const kids = readFileSync(`/proc/${masterPid}/task/${masterPid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)
    return kids.length > 0 ? Number(kids[0]) : undefined
  } catch { return undefined }
}

async function load (t: Target, seconds: number): Promise<AutocannonResult> {
  return await autocannon({ url: t.url, connections, pipelining: int(s.pipelining, 'pipelining'), duration: seconds, headers: { host: t.host } })
}

async function main (): Promise<void> {
  const dir = makeTempDir('pxb-tp-')
  const procs: Proc[] = []
  const monitors = new Map<string, RssMonitor>()
  const started = new Date().toISOString()
  log(`throughput: variants ${variants.join(', ')}; ${rounds} rounds x (${warmup}s warmup + ${duration}s); ${connections} connections; upstream ${s.upstream}; work dir ${dir}`)
  await removeBenchContainers(NAME)
  let profile: ProfileSummary | undefined
  try {
    // --- upstream containers
    await startUpstream(dir, `${NAME}upstream`, HOST, true)
    const ip = await containerIp(`${NAME}upstream`)
    const direct = `http://${ip}:8080`
    await directReady(direct, HOST)
    const needMany = variants.includes('proxyctl-500')
    const manyNames = Array.from({ length: manyHosts }, (_, i) => MANY_HOST(i))
    if (needMany) await startUpstream(dir, `${NAME}upstream-many`, manyNames.join(','), false)

    // --- proxies
    const targets = new Map<string, Target>()
    targets.set('direct', { name: 'direct', url: direct, host: HOST })
    let pcLog: ProxyctlProcess | undefined
    if (variants.some((v) => v === 'proxyctl' || v === 'proxyctl-500')) {
      pcLog = await startProxyctl({ dir, name: 'proxyctl', accessLog: true })
      procs.push(pcLog)
      monitors.set('proxyctl', new RssMonitor(pcLog.pid))
      await waitForProxyctlHost(pcLog.adminSocket, HOST)
      const p = pcLog
      targets.set('proxyctl', { name: 'proxyctl', url: `http://127.0.0.1:${p.port}`, host: HOST, pid: () => p.pid, adminSocket: p.adminSocket })
      const many = MANY_HOST(Math.floor(manyHosts / 2))
      targets.set('proxyctl-500', {
        name: 'proxyctl-500',
        url: `http://127.0.0.1:${p.port}`,
        host: many,
        pid: () => p.pid,
        adminSocket: p.adminSocket,
        before: async () => {
          await docker('start', `${NAME}upstream-many`)
          await waitFor(async () => (await proxyctlStatus(p.adminSocket)).upstreams.filter((u) => u.name === `${NAME}upstream-many` && u.state === 'ready').length > 0,
            { timeoutMs: 30_000, what: 'proxyctl to admit the many-hosts upstream' })
          await directReady(`http://127.0.0.1:${p.port}`, many)
        },
        after: async () => {
          await docker('stop', '-t', '1', `${NAME}upstream-many`)
          await waitForProxyctlHost(p.adminSocket, many, false)
        }
      })
    }
    if (variants.includes('proxyctl-nometrics')) {
      const p = await startProxyctl({ dir, name: 'proxyctl-nometrics', accessLog: true, env: { METRICS: 'off', REQUEST_IDS: 'off' } })
      procs.push(p)
      monitors.set('proxyctl-nometrics', new RssMonitor(p.pid))
      await waitForProxyctlHost(p.adminSocket, HOST)
      targets.set('proxyctl-nometrics', { name: 'proxyctl-nometrics', url: `http://127.0.0.1:${p.port}`, host: HOST, pid: () => p.pid, adminSocket: p.adminSocket })
    }
    if (variants.includes('proxyctl-nolog')) {
      const p = await startProxyctl({ dir, name: 'proxyctl-nolog', accessLog: false })
      procs.push(p)
      monitors.set('proxyctl-nolog', new RssMonitor(p.pid))
      await waitForProxyctlHost(p.adminSocket, HOST)
      targets.set('proxyctl-nolog', { name: 'proxyctl-nolog', url: `http://127.0.0.1:${p.port}`, host: HOST, pid: () => p.pid, adminSocket: p.adminSocket })
    }
    if (variants.some((v) => v.startsWith('nginx'))) {
      const bin = await ensureNginx()
      const ports = { log: await freePort(), nolog: await freePort() }
      const conf = join(dir, 'nginx-proxy.conf')
      writeFileSync(conf, nginxProxyConf(dir, ip, ports))
      const n = await startNginx(bin, dir, conf, 'nginx-proxy')
      procs.push(n)
      const worker = (): number | undefined => nginxWorkerPid(n.pid)
      targets.set('nginx', { name: 'nginx', url: `http://127.0.0.1:${ports.log}`, host: HOST, pid: worker })
      targets.set('nginx-nolog', { name: 'nginx-nolog', url: `http://127.0.0.1:${ports.nolog}`, host: HOST, pid: worker })
      await directReady(`http://127.0.0.1:${ports.log}`, HOST)
      const w = worker()
      if (w !== undefined) monitors.set('nginx', new RssMonitor(w))
    }
    const httpProxyJs = variants.some((v) => v.startsWith('http-proxy')) ? await compileStandalone(join(BENCH_DIR, 'http-proxy-server.ts')) : ''
    for (const [variant, accessLog] of [['http-proxy', true], ['http-proxy-nolog', false]] as const) {
      if (!variants.includes(variant)) continue
      const port = await freePort()
      const p = spawnLogged(process.execPath, [httpProxyJs, '--target', direct, '--port', String(port), ...(accessLog ? ['--access-log'] : [])], join(dir, `${variant}.log`))
      procs.push(p)
      monitors.set(variant, new RssMonitor(p.pid))
      targets.set(variant, { name: variant, url: `http://127.0.0.1:${port}`, host: HOST, pid: () => p.pid })
      await directReady(`http://127.0.0.1:${port}`, HOST)
    }

    // --- alternating rounds
    const results = new Map<string, RunResult[]>(variants.map((v) => [v, []]))
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? variants : [...variants].reverse()
      for (const v of order) {
        const t = targets.get(v)!
        await t.before?.()
        if (warmup > 0) await load(t, warmup)
        const monitor = v.startsWith('nginx') ? monitors.get('nginx') : monitors.get(v === 'proxyctl-500' ? 'proxyctl' : v)
        monitor?.resetWindow()
        const tableHosts = t.adminSocket !== undefined ? (await proxyctlStatus(t.adminSocket)).hosts.length : undefined
        const res = await load(t, duration)
        monitor?.sample()
        const rr: RunResult = {
          round: r + 1,
          reqPerSec: round(res.requests.total / res.duration, 0),
          p50: res.latency.p50,
          p90: res.latency.p90,
          p99: res.latency.p99,
          p99_9: res.latency.p99_9,
          errors: res.errors,
          timeouts: res.timeouts,
          non2xx: res.non2xx,
          rssPeakMb: monitor !== undefined ? round(monitor.maxRssKb / 1024, 1) : undefined,
          tableHosts
        }
        results.get(v)!.push(rr)
        log(`round ${r + 1} ${v.padEnd(17)} ${String(rr.reqPerSec).padStart(6)} req/s  p50 ${rr.p50} p99 ${rr.p99} p99.9 ${rr.p99_9} ms  errors ${rr.errors + rr.timeouts} non2xx ${rr.non2xx}${rr.rssPeakMb !== undefined ? `  rss ${rr.rssPeakMb} MB` : ''}`)
        await t.after?.()
      }
    }

    // --- summary
    const summary: Record<string, { reqPerSec: number, p50: number, p90: number, p99: number, p99_9: number, errors: number, non2xx: number, rssPeakMb: number | undefined, tableHosts: number | undefined }> = {}
    for (const [v, rs] of results) {
      const rss = rs.map((x) => x.rssPeakMb).filter((x): x is number => x !== undefined)
      summary[v] = {
        reqPerSec: median(rs.map((x) => x.reqPerSec)),
        p50: median(rs.map((x) => x.p50)),
        p90: median(rs.map((x) => x.p90)),
        p99: median(rs.map((x) => x.p99)),
        p99_9: median(rs.map((x) => x.p99_9)),
        errors: rs.reduce((a, x) => a + x.errors + x.timeouts, 0),
        non2xx: rs.reduce((a, x) => a + x.non2xx, 0),
        rssPeakMb: rss.length > 0 ? Math.max(...rss) : undefined,
        tableHosts: rs[0]?.tableHosts
      }
    }
    /** Median over rounds of the per-round ratio a/b (both measured in the same round). */
    const ratio = (a: string, b: string, key: 'reqPerSec' | 'p99' = 'reqPerSec'): number | undefined => {
      const ra = results.get(a)
      const rb = results.get(b)
      if (ra === undefined || rb === undefined) return undefined
      return round(median(ra.map((x, i) => x[key] / (rb[i]?.[key] ?? NaN))), 3)
    }
    const ratios = {
      'proxyctl/nginx req/s (access log on)': ratio('proxyctl', 'nginx'),
      'proxyctl/nginx req/s (access log off)': ratio('proxyctl-nolog', 'nginx-nolog'),
      'proxyctl/direct req/s': ratio('proxyctl', 'direct'),
      'proxyctl/direct req/s (access log off)': ratio('proxyctl-nolog', 'direct'),
      'proxyctl/http-proxy req/s (access log on)': ratio('proxyctl', 'http-proxy'),
      'proxyctl/http-proxy req/s (access log off)': ratio('proxyctl-nolog', 'http-proxy-nolog'),
      'proxyctl p99 / nginx p99 (access log on)': ratio('proxyctl', 'nginx', 'p99'),
      'proxyctl 500 hosts / 1 host req/s': ratio('proxyctl-500', 'proxyctl'),
      'proxyctl metrics+request IDs off / on req/s': ratio('proxyctl-nometrics', 'proxyctl')
    }
    const hwm = monitors.get('proxyctl')
    hwm?.sample()
    const memory = {
      proxyctlVmHWMMb: hwm !== undefined ? round(hwm.hwmKb / 1024, 1) : undefined,
      proxyctlNologVmHWMMb: monitors.get('proxyctl-nolog') !== undefined ? round(monitors.get('proxyctl-nolog')!.hwmKb / 1024, 1) : undefined,
      nginxWorkerVmHWMMb: monitors.get('nginx') !== undefined ? round(monitors.get('nginx')!.hwmKb / 1024, 1) : undefined,
      httpProxyVmHWMMb: monitors.get('http-proxy') !== undefined ? round(monitors.get('http-proxy')!.hwmKb / 1024, 1) : undefined
    }

    // --- profile of the hot path, when asked (or when the nginx target is missed)
    const wantProfile = s.profile === 'on' || (s.profile === 'auto' && (ratios['proxyctl/nginx req/s (access log on)'] ?? 1) < 0.45)
    if (wantProfile && targets.has('proxyctl')) {
      const profDir = join(dir, 'profile')
      mkdirSync(profDir, { recursive: true })
      log(`profiling proxyctl (access log on) under the same load for ${duration}s`)
      const p = await startProxyctl({ dir, name: 'proxyctl-profile', accessLog: true, nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profDir}`] })
      await waitForProxyctlHost(p.adminSocket, HOST)
      const t = { name: 'profile', url: `http://127.0.0.1:${p.port}`, host: HOST }
      await load(t, warmup)
      const res = await load(t, duration)
      await p.stop('SIGTERM')
      const file = existsSync(profDir) ? newestProfile(profDir) : undefined
      if (file !== undefined) {
        profile = summarizeProfile(file)
        const keepAs = join(RESULTS_DIR, 'proxyctl-throughput.cpuprofile')
        mkdirSync(RESULTS_DIR, { recursive: true })
        writeFileSync(keepAs, readFileSync(file))
        profile.file = 'bench/results/proxyctl-throughput.cpuprofile'
        log(`profile (${round(res.requests.total / res.duration)} req/s while profiling): top self time ${profile.top.slice(0, 5).map((f) => `${f.fn} ${f.selfPct}%`).join(', ')}`)
      }
    }

    const out = {
      kind: 'throughput',
      started,
      finished: new Date().toISOString(),
      machine: await machineInfo(),
      settings: { connections, pipelining: int(s.pipelining, 'pipelining'), durationS: duration, warmupS: warmup, rounds, upstream: s.upstream, bodyBytes: int(s.bodyBytes, 'body-bytes'), manyHosts, variants },
      summary,
      ratios,
      memory,
      rounds: Object.fromEntries(results),
      profile
    }
    writeJson(s.out, out)
    log(`wrote ${s.out}`)
    for (const [k, v] of Object.entries(ratios)) if (v !== undefined) log(`${k}: ${v}`)
    log(`proxyctl peak RSS (VmHWM): ${memory.proxyctlVmHWMMb} MB; nginx worker ${memory.nginxWorkerVmHWMMb} MB`)
  } finally {
    for (const m of monitors.values()) m.stop()
    if (!bool(s.keep)) {
      for (const p of procs) await p.stop().catch(() => null)
      await removeBenchContainers(NAME)
    }
  }
}

await main()
process.exit(0) // dockerode/undici keep-alive handles would hold the process open
