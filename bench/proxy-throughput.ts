// Throughput and latency: the same fast upstream reached directly, through proxyctl, through nginx
// (Debian package, 1 worker, keep-alive upstream, nginx-proxy's headers) and through a plain Node
// proxy on `http-proxy`; over plain HTTP, HTTPS (HTTP/1.1) and HTTP/2 (TLS, ALPN h2) with the same
// certificate. autocannon (h2load for HTTP/2), alternating rounds (A B C … then … C B A), medians.
import autocannon, { type Result as AutocannonResult } from 'autocannon'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { connect as tlsConnect } from 'node:tls'
import { Agent, request } from 'undici'
import { bool, int, list, parseSettings } from './lib/cli.ts'
import { newestProfile, summarizeProfile, type ProfileSummary } from './lib/cpuprofile.ts'
import { ensureH2load, h2load, type LoadSummary } from './lib/h2load.ts'
import { cpuWindow, type CpuSplit } from './lib/machine-cpu.ts'
import { TreeRssMonitor, type ProcessMemory } from './lib/process-rss.ts'
import { installCert, makeCert } from '../test/support/certs.ts'
import { TLS_POLICY } from '../src/tls/policy.ts'
import {
  BENCH_DIR, BENCH_LABEL, RUN_DIR, SCRATCH_DIR, compileStandalone, containerIp, docker, ensureNginx, freePort, log, machineInfo, makeTempDir, median,
  imageMemoryEnv, nginxUserDirective, proxyctlStatus, removeBenchContainers, round, run, spawnLogged, startNginx, startProxyctl, waitFor,
  waitForProxyctlHost, writeJson, type Proc, type ProxyctlProcess
} from './lib/util.ts'

const DEFAULT_VARIANTS = ['direct', 'proxyctl', 'proxyctl-nolog', 'proxyctl-2w', 'proxyctl-500', 'nginx', 'nginx-nolog', 'nginx-2w', 'http-proxy', 'http-proxy-nolog',
  'proxyctl-https', 'nginx-https', 'http-proxy-https', 'proxyctl-h2', 'nginx-h2']
/** proxyctl-nometrics: access log on, METRICS=off and REQUEST_IDS=off (what issue 6's features cost). */
const ALL_VARIANTS = [...DEFAULT_VARIANTS, 'proxyctl-nometrics']

const s = parseSettings('bench/proxy-throughput.ts', `Throughput/latency of proxyctl next to direct, nginx and an http-proxy Node proxy.
Needs Docker (the upstream is a container, which proxyctl discovers by VIRTUAL_HOST) and nginx
(installed with apt-get when missing and root). Writes bench/results/<commit>/throughput.json.
Variants: ${ALL_VARIANTS.join(', ')} ("-nolog" = access log off; "-2w" = 2 workers: proxyctl
with WORKERS=2 (the others WORKERS=1), nginx with worker_processes 2, access log on; proxyctl-500 = a second
upstream container with MANY_HOSTS names in VIRTUAL_HOST is started for that run, so the table
holds that many more hosts, and stopped after it; "-https" = HTTP/1.1 over TLS with autocannon,
"-h2" = HTTP/2 over TLS with h2load (nghttp2-client, installed with apt-get when missing and
root), both with access log on and one openssl-made certificate for every TLS server).`, {
  connections: { flag: 'connections', env: 'CONNECTIONS', help: 'autocannon connections', default: '50' },
  pipelining: { flag: 'pipelining', env: 'PIPELINING', help: 'autocannon pipelining', default: '1' },
  duration: { flag: 'duration', env: 'DURATION', help: 'seconds per measured run', default: '5' },
  warmup: { flag: 'warmup', env: 'WARMUP', help: 'seconds of discarded load before each measured run', default: '1' },
  rounds: { flag: 'rounds', env: 'ROUNDS', help: 'rounds; each runs every variant once, order reversed every other round', default: '5' },
  variants: { flag: 'variants', env: 'VARIANTS', help: `comma-separated, from ${ALL_VARIANTS.join(', ')}`, default: DEFAULT_VARIANTS.join(',') },
  upstream: { flag: 'upstream', env: 'UPSTREAM', help: 'nginx (the host\'s nginx binary run in a container, `return 200`) or node (bench/upstream.ts in node:24)', default: 'nginx' },
  image: { flag: 'image', env: 'BASE_IMAGE', help: 'image for the upstream container', default: 'node:24-bookworm-slim' },
  bodyBytes: { flag: 'body-bytes', env: 'BODY_BYTES', help: 'response body size', default: '128' },
  h2Streams: { flag: 'h2-streams', env: 'H2_STREAMS', help: 'concurrent streams per HTTP/2 connection (h2load -m); the connections are --connections', default: '1' },
  manyHosts: { flag: 'many-hosts', env: 'MANY_HOSTS', help: 'host names for proxyctl-500', default: '500' },
  profile: { flag: 'profile', env: 'PROFILE', help: 'after the rounds, profile proxyctl (node --cpu-prof) under the same load: on, off, or auto (when proxyctl < 0.45x nginx)', default: 'auto' },
  out: { flag: 'out', env: 'THROUGHPUT_OUT', help: 'result file', default: join(RUN_DIR, 'throughput.json') },
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
  /** h2load for HTTP/2; autocannon (HTTP/1.1, TLS for https: URLs) otherwise. */
  tool?: 'h2load'
  /** Whose memory is sampled during this variant's runs. */
  monitor?: TreeRssMonitor
  /** The process whose memory we report. */
  pid?: () => number | undefined
  adminSocket?: string
  before?: () => Promise<void>
  after?: () => Promise<void>
}

/** One variant's measured run: the load generator's summary (tls: the handshake it made), and ours. */
interface RunResult extends Omit<LoadSummary, 'requests' | 'durationS'> {
  round: number
  rssPeakMb: number | undefined
  /** CPU time of the server's processes per request in the measured run (µs); HTTP/1.1 runs only. */
  cpuUsPerRequest: number | undefined
  tableHosts: number | undefined
  /** Cores each part used over the run, warm-up included (bench/lib/machine-cpu.ts). */
  cpu: CpuSplit
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
  // TLS servers: SNI as the host name, the bench's self-signed certificate accepted.
  const dispatcher = url.startsWith('https:') ? new Agent({ connect: { rejectUnauthorized: false, servername: host } }) : undefined
  try {
    await waitFor(async () => {
      const r = await request(url, { headers: { host }, ...(dispatcher !== undefined ? { dispatcher } : {}) })
      await r.body.dump()
      return r.statusCode === 200
    }, { timeoutMs: 30_000, what: `${url} (Host: ${host}) to answer 200` })
  } finally {
    await dispatcher?.close()
  }
}

function nginxProxyConf (dir: string, upstreamIp: string, ports: { log: number, nolog: number, tls: number }, cert: { crt: string, key: string }, workers = 1, name = 'nginx-proxy'): string {
  // The http-level settings nginx-proxy's template writes, with keep-alive to the upstream (its
  // newer `keepalive` support; 64 idle connections so 50 clients never churn them), `workers` workers.
  return `${nginxUserDirective()}
worker_processes ${workers};
pid ${dir}/${name}.pid;
error_log ${dir}/${name}.error.log warn;
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
    access_log ${dir}/${name}-access.log vhost;
    location / { proxy_pass http://${HOST}; }
  }
  server {
    server_name ${HOST};
    listen 127.0.0.1:${ports.nolog};
    access_log off;
    location / { proxy_pass http://${HOST}; }
  }
  # nginx-proxy's HTTPS server for a host with a certificate (its default ssl_policy,
  # Mozilla-Intermediate, which proxyctl's TLS_POLICY copies; HSTS on; HTTP/2 on the same
  # listener, chosen by ALPN).
  server {
    server_name ${HOST};
    listen 127.0.0.1:${ports.tls} ssl http2;
    access_log ${dir}/${name}-access-tls.log vhost;
    ssl_session_timeout 5m;
    ssl_session_cache shared:SSL:50m;
    ssl_session_tickets off;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers '${TLS_POLICY.ciphers.split(':').filter((c) => !c.startsWith('TLS_')).join(':')}';
    ssl_prefer_server_ciphers off;
    ssl_certificate ${cert.crt};
    ssl_certificate_key ${cert.key};
    add_header Strict-Transport-Security "max-age=31536000" always;
    location / { proxy_pass http://${HOST}; }
  }
}
`
}

/** One measured run of `seconds` after `warmupS` of discarded load. */
async function load (t: Target, seconds: number, warmupS: number, dir: string): Promise<LoadSummary & { cpuUsPerRequest?: number }> {
  if (t.tool === 'h2load') {
    // h2load sends :authority and SNI from the URL and connects where --connect-to says.
    const u = new URL(t.url)
    const go = async (durationS: number): Promise<LoadSummary> => await h2load({ bin: await ensureH2load(), url: `https://${t.host}/`, connectTo: u.host, clients: connections, streams: int(s.h2Streams, 'h2-streams'), durationS, warmupS: 0, logFile: join(dir, 'h2load.tsv') })
    // The warm-up as a run of its own, so that the server's CPU time is read around the measured run only.
    if (warmupS > 0) await go(warmupS)
    const cpuBefore = t.monitor?.cpuMs()
    const res = await go(seconds)
    const cpuMs = cpuBefore === undefined ? undefined : t.monitor!.cpuMs() - cpuBefore
    return { ...res, ...(cpuMs !== undefined && res.requests > 0 ? { cpuUsPerRequest: round(cpuMs * 1000 / res.requests, 1) } : {}) }
  }
  const servername = t.url.startsWith('https:') ? t.host : undefined
  const go = async (duration: number): Promise<AutocannonResult> =>
    await autocannon({ url: t.url, connections, pipelining: int(s.pipelining, 'pipelining'), duration, headers: { host: t.host }, ...(servername !== undefined ? { servername } : {}) })
  if (warmupS > 0) await go(warmupS)
  const cpuBefore = t.monitor?.cpuMs()
  const res = await go(seconds)
  const cpuMs = cpuBefore === undefined ? undefined : t.monitor!.cpuMs() - cpuBefore
  return {
    ...(cpuMs !== undefined && res.requests.total > 0 ? { cpuUsPerRequest: round(cpuMs * 1000 / res.requests.total, 1) } : {}),
    requests: res.requests.total,
    durationS: res.duration,
    reqPerSec: round(res.requests.total / res.duration, 0),
    p50: res.latency.p50,
    p90: res.latency.p90,
    p99: res.latency.p99,
    p99_9: res.latency.p99_9,
    errors: res.errors,
    timeouts: res.timeouts,
    non2xx: res.non2xx,
    tls: servername !== undefined ? await tlsHandshake(t.url, servername, ['http/1.1']) : undefined
  }
}

/** What a client offering `alpn` negotiates with the server at `url`: "TLSv1.3 TLS_AES_256_GCM_SHA384 http/1.1". */
async function tlsHandshake (url: string, servername: string, alpn: string[]): Promise<string> {
  const u = new URL(url)
  return await new Promise((resolve, reject) => {
    const sock = tlsConnect({ host: u.hostname, port: Number(u.port), servername, ALPNProtocols: alpn, rejectUnauthorized: false }, () => {
      const c = sock.getCipher()
      resolve(`${sock.getProtocol() ?? '?'} ${c.standardName ?? c.name} ${sock.alpnProtocol === false ? 'none' : sock.alpnProtocol ?? 'none'}`)
      sock.end()
    })
    sock.once('error', reject)
  })
}

/** A proxyctl run under `node --cpu-prof` with the same load (HTTP/1.1 over TCP, or HTTP/2). */
async function profileProxyctl (dir: string, kind: 'http' | 'h2', env: Record<string, string> = {}): Promise<ProfileSummary | undefined> {
  const profDir = join(dir, `profile-${kind}`)
  mkdirSync(profDir, { recursive: true })
  log(`profiling proxyctl (${kind}, access log on) under the same load for ${duration}s`)
  const httpsPort = kind === 'h2' ? await freePort() : undefined
  const p = await startProxyctl({ dir, name: `proxyctl-profile-${kind}`, accessLog: true, nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profDir}`], env: { WORKERS: '1', ...env, ...(httpsPort !== undefined ? { HTTPS_PORT: String(httpsPort) } : {}) } })
  await waitForProxyctlHost(p.adminSocket, HOST)
  const t: Target = httpsPort !== undefined
    ? { name: 'profile', url: `https://127.0.0.1:${httpsPort}`, host: HOST, tool: 'h2load' }
    : { name: 'profile', url: `http://127.0.0.1:${p.port}`, host: HOST }
  const res = await load(t, duration, warmup, dir)
  await p.stop('SIGTERM')
  const file = existsSync(profDir) ? newestProfile(profDir) : undefined
  if (file === undefined) return undefined
  const summary = summarizeProfile(file)
  const name = kind === 'h2' ? 'proxyctl-throughput-h2.cpuprofile' : 'proxyctl-throughput.cpuprofile'
  mkdirSync(SCRATCH_DIR, { recursive: true })
  writeFileSync(join(SCRATCH_DIR, name), readFileSync(file))
  summary.file = `bench/results/tmp/${name}`
  log(`profile ${kind} (${res.reqPerSec} req/s while profiling): top self time ${summary.top.slice(0, 5).map((f) => `${f.fn} ${f.selfPct}%`).join(', ')}`)
  return summary
}

async function main (): Promise<void> {
  const dir = makeTempDir('pxb-tp-')
  const procs: Proc[] = []
  const monitors = new Map<string, TreeRssMonitor>()
  const stopAtEnd: TreeRssMonitor[] = []
  const started = new Date().toISOString()
  log(`throughput: variants ${variants.join(', ')}; ${rounds} rounds x (${warmup}s warmup + ${duration}s); ${connections} connections; upstream ${s.upstream}; work dir ${dir}`)
  await removeBenchContainers(NAME)
  let profile: ProfileSummary | undefined
  let profileH2: ProfileSummary | undefined
  try {
    // --- upstream containers
    await startUpstream(dir, `${NAME}upstream`, HOST, true)
    const ip = await containerIp(`${NAME}upstream`)
    const direct = `http://${ip}:8080`
    const upstreamCpu = new TreeRssMonitor(Number(await docker('inspect', '-f', '{{.State.Pid}}', `${NAME}upstream`)), 'all', 1_000)
    stopAtEnd.push(upstreamCpu)
    await directReady(direct, HOST)
    const needMany = variants.includes('proxyctl-500')
    const manyNames = Array.from({ length: manyHosts }, (_, i) => MANY_HOST(i))
    if (needMany) await startUpstream(dir, `${NAME}upstream-many`, manyNames.join(','), false)

    // --- one certificate for every TLS server, where proxyctl looks for it (nginx-proxy's certs/)
    const nginxRoot = join(dir, 'nginx-root')
    const certsDir = join(nginxRoot, 'certs')
    mkdirSync(certsDir, { recursive: true })
    installCert(certsDir, HOST, makeCert(HOST))
    const cert = { crt: join(certsDir, `${HOST}.crt`), key: join(certsDir, `${HOST}.key`) }
    if (variants.some((v) => v.endsWith('-h2'))) await ensureH2load()

    // --- proxies
    const targets = new Map<string, Target>()
    targets.set('direct', { name: 'direct', url: direct, host: HOST })
    let pcLog: ProxyctlProcess | undefined
    if (variants.some((v) => v === 'proxyctl' || v === 'proxyctl-500')) {
      pcLog = await startProxyctl({ dir, name: 'proxyctl', accessLog: true, env: { WORKERS: '1' } })
      procs.push(pcLog)
      const monitor = new TreeRssMonitor(pcLog.pid)
      monitors.set('proxyctl', monitor)
      await waitForProxyctlHost(pcLog.adminSocket, HOST)
      const p = pcLog
      targets.set('proxyctl', { name: 'proxyctl', url: `http://127.0.0.1:${p.port}`, host: HOST, pid: () => p.pid, adminSocket: p.adminSocket, monitor })
      const many = MANY_HOST(Math.floor(manyHosts / 2))
      targets.set('proxyctl-500', {
        name: 'proxyctl-500',
        url: `http://127.0.0.1:${p.port}`,
        host: many,
        pid: () => p.pid,
        adminSocket: p.adminSocket,
        monitor,
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
      const p = await startProxyctl({ dir, name: 'proxyctl-nometrics', accessLog: true, env: { METRICS: 'off', REQUEST_IDS: 'off', WORKERS: '1' } })
      procs.push(p)
      const monitor = new TreeRssMonitor(p.pid)
      monitors.set('proxyctl-nometrics', monitor)
      await waitForProxyctlHost(p.adminSocket, HOST)
      targets.set('proxyctl-nometrics', { name: 'proxyctl-nometrics', url: `http://127.0.0.1:${p.port}`, host: HOST, pid: () => p.pid, adminSocket: p.adminSocket, monitor })
    }
    if (variants.includes('proxyctl-nolog')) {
      const p = await startProxyctl({ dir, name: 'proxyctl-nolog', accessLog: false, env: { WORKERS: '1' } })
      procs.push(p)
      const monitor = new TreeRssMonitor(p.pid)
      monitors.set('proxyctl-nolog', monitor)
      await waitForProxyctlHost(p.adminSocket, HOST)
      targets.set('proxyctl-nolog', { name: 'proxyctl-nolog', url: `http://127.0.0.1:${p.port}`, host: HOST, pid: () => p.pid, adminSocket: p.adminSocket, monitor })
    }
    if (variants.includes('proxyctl-2w')) {
      // WORKERS=2: issue 12's worker processes; a proxyctl without them takes the variable and runs one process.
      const p = await startProxyctl({ dir, name: 'proxyctl-2w', accessLog: true, env: { WORKERS: '2' } })
      procs.push(p)
      const monitor = new TreeRssMonitor(p.pid)
      monitors.set('proxyctl-2w', monitor)
      await waitForProxyctlHost(p.adminSocket, HOST)
      targets.set('proxyctl-2w', { name: 'proxyctl-2w', url: `http://127.0.0.1:${p.port}`, host: HOST, pid: () => p.pid, adminSocket: p.adminSocket, monitor })
      await directReady(`http://127.0.0.1:${p.port}`, HOST)
    }
    if (variants.some((v) => v === 'proxyctl-https' || v === 'proxyctl-h2')) {
      // Its own process: HTTPS on, the certificate in its nginx root, access log on.
      const httpsPort = await freePort()
      const p = await startProxyctl({ dir, name: 'proxyctl-tls', accessLog: true, env: { PROXYCTL_NGINX_ROOT: nginxRoot, HTTPS_PORT: String(httpsPort), WORKERS: '1' } })
      procs.push(p)
      const monitor = new TreeRssMonitor(p.pid)
      monitors.set('proxyctl-tls', monitor)
      await waitForProxyctlHost(p.adminSocket, HOST)
      const url = `https://127.0.0.1:${httpsPort}`
      targets.set('proxyctl-https', { name: 'proxyctl-https', url, host: HOST, pid: () => p.pid, adminSocket: p.adminSocket, monitor })
      targets.set('proxyctl-h2', { name: 'proxyctl-h2', url, host: HOST, tool: 'h2load', pid: () => p.pid, adminSocket: p.adminSocket, monitor })
      await directReady(url, HOST)
    }
    if (variants.some((v) => v.startsWith('nginx') && v !== 'nginx-2w')) {
      const bin = await ensureNginx()
      const ports = { log: await freePort(), nolog: await freePort(), tls: await freePort() }
      const conf = join(dir, 'nginx-proxy.conf')
      writeFileSync(conf, nginxProxyConf(dir, ip, ports, cert))
      const n = await startNginx(bin, dir, conf, 'nginx-proxy')
      procs.push(n)
      await directReady(`http://127.0.0.1:${ports.log}`, HOST)
      // Its workers, not the master (which serves nothing).
      const monitor = new TreeRssMonitor(n.pid, 'children')
      monitors.set('nginx', monitor)
      targets.set('nginx', { name: 'nginx', url: `http://127.0.0.1:${ports.log}`, host: HOST, monitor })
      targets.set('nginx-nolog', { name: 'nginx-nolog', url: `http://127.0.0.1:${ports.nolog}`, host: HOST, monitor })
      targets.set('nginx-https', { name: 'nginx-https', url: `https://127.0.0.1:${ports.tls}`, host: HOST, monitor })
      targets.set('nginx-h2', { name: 'nginx-h2', url: `https://127.0.0.1:${ports.tls}`, host: HOST, tool: 'h2load', monitor })
    }
    if (variants.includes('nginx-2w')) {
      const bin = await ensureNginx()
      const ports = { log: await freePort(), nolog: await freePort(), tls: await freePort() }
      const conf = join(dir, 'nginx-proxy-2w.conf')
      writeFileSync(conf, nginxProxyConf(dir, ip, ports, cert, 2, 'nginx-proxy-2w'))
      const n = await startNginx(bin, dir, conf, 'nginx-proxy-2w')
      procs.push(n)
      await directReady(`http://127.0.0.1:${ports.log}`, HOST)
      const monitor = new TreeRssMonitor(n.pid, 'children')
      monitors.set('nginx-2w', monitor)
      targets.set('nginx-2w', { name: 'nginx-2w', url: `http://127.0.0.1:${ports.log}`, host: HOST, monitor })
    }
    const httpProxyJs = variants.some((v) => v.startsWith('http-proxy')) ? await compileStandalone(join(BENCH_DIR, 'http-proxy-server.ts')) : ''
    for (const [variant, accessLog, tls] of [['http-proxy', true, false], ['http-proxy-nolog', false, false], ['http-proxy-https', true, true]] as const) {
      if (!variants.includes(variant)) continue
      const port = await freePort()
      const p = spawnLogged(process.execPath, [httpProxyJs, '--target', direct, '--port', String(port), ...(accessLog ? ['--access-log'] : []), ...(tls ? ['--cert', cert.crt, '--key', cert.key, '--ciphers', TLS_POLICY.ciphers] : [])], join(dir, `${variant}.log`))
      procs.push(p)
      const monitor = new TreeRssMonitor(p.pid)
      monitors.set(variant, monitor)
      const url = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`
      targets.set(variant, { name: variant, url, host: HOST, pid: () => p.pid, monitor })
      await directReady(url, HOST)
    }

    // Idle: every process of each proxy once it routes, before any load (only the readiness requests).
    const idle: Record<string, ProcessMemory[]> = {}
    for (const [name, m] of monitors) idle[name] = m.now()
    for (const [name, ps] of Object.entries(idle)) log(`idle ${name}: ${ps.map((p) => `${p.role} ${p.pid} ${p.rssMb} MB`).join(', ')}`)

    // --- alternating rounds
    const results = new Map<string, RunResult[]>(variants.map((v) => [v, []]))
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? variants : [...variants].reverse()
      for (const v of order) {
        const t = targets.get(v)!
        await t.before?.()
        const monitor = t.monitor
        monitor?.resetWindow()
        const tableHosts = t.adminSocket !== undefined ? (await proxyctlStatus(t.adminSocket)).hosts.length : undefined
        const endCpu = cpuWindow({ server: monitor === undefined ? undefined : () => monitor.cpuMs(), upstream: () => upstreamCpu.cpuMs() })
        const res = await load(t, duration, warmup, dir)
        const cpu = endCpu()
        monitor?.sample()
        const { requests: _requests, durationS: _durationS, cpuUsPerRequest, ...measured } = res
        const rr: RunResult = {
          round: r + 1,
          ...measured,
          cpuUsPerRequest,
          rssPeakMb: monitor !== undefined ? round(monitor.maxRssKb / 1024, 1) : undefined,
          tableHosts,
          cpu
        }
        results.get(v)!.push(rr)
        log(`round ${r + 1} ${v.padEnd(17)} ${String(rr.reqPerSec).padStart(6)} req/s  p50 ${rr.p50} p99 ${rr.p99} p99.9 ${rr.p99_9} ms  errors ${rr.errors + rr.timeouts} non2xx ${rr.non2xx}${rr.rssPeakMb !== undefined ? `  rss ${rr.rssPeakMb} MB` : ''}${rr.cpuUsPerRequest !== undefined ? `  cpu ${rr.cpuUsPerRequest} µs/req` : ''}${rr.tls !== undefined ? `  ${rr.tls}` : ''}  cores: busy ${cpu.busy}/${cpu.cores}, server ${cpu.server ?? '?'}, load ${cpu.loadGenerator}, upstream ${cpu.upstream ?? '?'}`)
        await t.after?.()
      }
    }

    // --- summary
    const summary: Record<string, { reqPerSec: number, p50: number, p90: number, p99: number, p99_9: number, errors: number, non2xx: number, rssPeakMb: number | undefined, cpuUsPerRequest: number | undefined, tableHosts: number | undefined, tls?: string, cores: Record<'busy' | 'server' | 'loadGenerator' | 'upstream', number | undefined> }> = {}
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
        cpuUsPerRequest: rs.every((x) => x.cpuUsPerRequest !== undefined) ? median(rs.map((x) => x.cpuUsPerRequest!)) : undefined,
        tableHosts: rs[0]?.tableHosts,
        // Medians over rounds of the cores each part used (machine-cpu.ts).
        cores: Object.fromEntries((['busy', 'server', 'loadGenerator', 'upstream'] as const).map((k) => {
          const xs = rs.map((x) => x.cpu[k]).filter((x): x is number => x !== undefined)
          return [k, xs.length === rs.length && xs.length > 0 ? median(xs) : undefined]
        })) as Record<'busy' | 'server' | 'loadGenerator' | 'upstream', number | undefined>,
        ...(rs[0]?.tls !== undefined ? { tls: [...new Set(rs.map((x) => x.tls))].join(' / ') } : {})
      }
    }
    /** Median over rounds of the per-round ratio a/b (both measured in the same round). */
    const ratio = (a: string, b: string, key: 'reqPerSec' | 'p99' | 'cpuUsPerRequest' = 'reqPerSec'): number | undefined => {
      const ra = results.get(a)
      const rb = results.get(b)
      if (ra === undefined || rb === undefined) return undefined
      return round(median(ra.map((x, i) => (x[key] ?? NaN) / (rb[i]?.[key] ?? NaN))), 3)
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
      'proxyctl access log on / off req/s': ratio('proxyctl', 'proxyctl-nolog'),
      // CPU per request does not depend on how the two cores were shared with autocannon in a round.
      'proxyctl access log on / off CPU per request': ratio('proxyctl', 'proxyctl-nolog', 'cpuUsPerRequest'),
      'proxyctl/nginx CPU per request (access log on)': ratio('proxyctl', 'nginx', 'cpuUsPerRequest'),
      'proxyctl 2 workers / 1 worker CPU per request': ratio('proxyctl-2w', 'proxyctl', 'cpuUsPerRequest'),
      'proxyctl 2 workers / nginx 2 workers req/s (access log on)': ratio('proxyctl-2w', 'nginx-2w'),
      'proxyctl 2 workers / 1 worker req/s': ratio('proxyctl-2w', 'proxyctl'),
      'nginx 2 workers / 1 worker req/s': ratio('nginx-2w', 'nginx'),
      'proxyctl/nginx req/s (HTTPS, HTTP/1.1)': ratio('proxyctl-https', 'nginx-https'),
      'proxyctl p99 / nginx p99 (HTTPS, HTTP/1.1)': ratio('proxyctl-https', 'nginx-https', 'p99'),
      'proxyctl/http-proxy req/s (HTTPS, HTTP/1.1)': ratio('proxyctl-https', 'http-proxy-https'),
      'proxyctl/nginx req/s (HTTP/2)': ratio('proxyctl-h2', 'nginx-h2'),
      'proxyctl p99 / nginx p99 (HTTP/2)': ratio('proxyctl-h2', 'nginx-h2', 'p99'),
      'proxyctl HTTPS / HTTP req/s (HTTP/1.1)': ratio('proxyctl-https', 'proxyctl'),
      'proxyctl metrics+request IDs off / on req/s': ratio('proxyctl-nometrics', 'proxyctl')
    }
    const hwm = monitors.get('proxyctl')
    hwm?.sample()
    const memory = {
      proxyctlVmHWMMb: hwm !== undefined ? round(hwm.hwmKb / 1024, 1) : undefined,
      proxyctlNologVmHWMMb: monitors.get('proxyctl-nolog') !== undefined ? round(monitors.get('proxyctl-nolog')!.hwmKb / 1024, 1) : undefined,
      proxyctlTlsVmHWMMb: monitors.get('proxyctl-tls') !== undefined ? round(monitors.get('proxyctl-tls')!.hwmKb / 1024, 1) : undefined,
      nginxWorkerVmHWMMb: monitors.get('nginx') !== undefined ? round(monitors.get('nginx')!.hwmKb / 1024, 1) : undefined,
      proxyctl2wVmHWMMb: monitors.get('proxyctl-2w') !== undefined ? round(monitors.get('proxyctl-2w')!.hwmKb / 1024, 1) : undefined,
      nginx2wWorkerVmHWMMb: monitors.get('nginx-2w') !== undefined ? round(monitors.get('nginx-2w')!.hwmKb / 1024, 1) : undefined,
      httpProxyVmHWMMb: monitors.get('http-proxy') !== undefined ? round(monitors.get('http-proxy')!.hwmKb / 1024, 1) : undefined
    }

    // --- profiles of the hot path, when asked (or when a target is missed): plain HTTP and HTTP/2
    const missed = (k: keyof typeof ratios, min: number): boolean => (ratios[k] ?? Infinity) < min
    const want = (miss: boolean): boolean => s.profile === 'on' || (s.profile === 'auto' && miss)
    if (want(missed('proxyctl/nginx req/s (access log on)', 0.45)) && targets.has('proxyctl')) {
      profile = await profileProxyctl(dir, 'http')
    }
    if (want(missed('proxyctl/nginx req/s (HTTP/2)', 0.45)) && targets.has('proxyctl-h2')) {
      profileH2 = await profileProxyctl(dir, 'h2', { PROXYCTL_NGINX_ROOT: nginxRoot })
    }

    const out = {
      kind: 'throughput',
      started,
      finished: new Date().toISOString(),
      machine: await machineInfo(),
      settings: { connections, pipelining: int(s.pipelining, 'pipelining'), h2Streams: int(s.h2Streams, 'h2-streams'), durationS: duration, warmupS: warmup, rounds, upstream: s.upstream, bodyBytes: int(s.bodyBytes, 'body-bytes'), manyHosts, variants, proxyctlEnv: imageMemoryEnv() },
      summary,
      ratios,
      memory,
      // Per process (proxyctl: the process and its workers; nginx: its workers): idle before the rounds, and at the end (rssMb now, hwmMb the high-water mark).
      processes: Object.fromEntries([...monitors].map(([name, m]) => [name, { idle: idle[name] ?? [], end: m.now() }])),
      rounds: Object.fromEntries(results),
      profile,
      profileH2
    }
    writeJson(s.out, out)
    log(`wrote ${s.out}`)
    for (const [k, v] of Object.entries(ratios)) if (v !== undefined) log(`${k}: ${v}`)
    log(`proxyctl peak RSS (VmHWM): ${memory.proxyctlVmHWMMb} MB; nginx worker ${memory.nginxWorkerVmHWMMb} MB`)
  } finally {
    for (const m of [...monitors.values(), ...stopAtEnd]) m.stop()
    if (!bool(s.keep)) {
      for (const p of procs) await p.stop().catch(() => null)
      await removeBenchContainers(NAME)
    }
  }
}

await main()
process.exit(0) // dockerode/undici keep-alive handles would hold the process open
