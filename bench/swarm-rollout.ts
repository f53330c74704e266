// Swarm rollouts under load (issue 11): paced requests (open loop) through the edge while an app
// service is updated N times with `docker service update --image vX --update-order start-first`
// (images alternating), for (a) proxyctl as a plain container on the manager, attached to the
// service's overlay (its Swarm provider routes task addresses; the update is plain Docker, no
// `proxyctl deploy`), (b) what users build without it: nginx in a container on the same overlay,
// resolving the service's tasks through Docker's DNS (`--endpoint-mode dnsrr`, `resolver
// 127.0.0.11 valid=…`, `proxy_pass` on a variable holding `tasks.app`), with retries on error and
// timeout. Every approach gets the same app service, the same load and the same updates.
//
// The swarm is a Docker engine in a container (scripts/swarm.sh: the test engine runs with
// --live-restore, which Swarm refuses); nothing is pulled: the proxy image is built from the
// measured commit, nginx is the host's Debian binary copied into an image of the test app's base.
// Swarm's service VIP and ingress mesh are not measured: they need IPVS, which this kernel lacks.
import { execFile, spawnSync } from 'node:child_process'
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { gzipSync } from 'node:zlib'
import { request } from 'undici'
import { int, list, parseSettings } from './lib/cli.ts'
import { rolloutLoadOptions, startPacedLoad, type Outcome } from './lib/paced-load.ts'
import { baselineStats, failedOf, windowStats, type Baseline, type WindowStats } from './lib/rollout-window.ts'
import {
  BENCH_COMMIT, REPO_ROOT, RESULTS_DIR, SCRATCH_DIR, ensureNginx, log, machineInfo, makeTempDir, mustRun, nginxVersion, run, sleep,
  waitFor, writeJson
} from './lib/util.ts'

const execFileP = promisify(execFile)
/** The commit measured: the proxy image is built from it alone, so uncommitted src/ changes never make it "-dirty". */
const COMMIT = BENCH_COMMIT.replace(/-dirty$/, '')

const s = parseSettings('bench/swarm-rollout.ts', `N start-first image updates of a Swarm service under paced load, per approach and
app SIGTERM behaviour, in a swarm of one node run by scripts/swarm.sh. Needs Docker, nginx (the
host's Debian binary) and the test app image (proxyctl-test-app:dev). Writes
bench/results/<commit>/swarm-rollout.json (raw per-request outcomes: bench/results/tmp/raw/).
Run it under the Docker lock on a shared machine.`, {
  approaches: { flag: 'approaches', env: 'SWARM_APPROACHES', help: 'comma-separated: proxyctl, nginx-<N>s (nginx with resolver valid=<N>s)', default: 'proxyctl,nginx-1s,nginx-10s' },
  sigterm: { flag: 'sigterm', env: 'SIGTERM_MODES', help: 'the app\'s ON_SIGTERM behaviours: exit (exit at once), graceful', default: 'exit,graceful' },
  rollouts: { flag: 'rollouts', env: 'SWARM_ROLLOUTS', help: 'service updates per approach and behaviour (N)', default: '4' },
  replicas: { flag: 'replicas', env: 'REPLICAS', help: 'tasks of the app service', default: '2' },
  rate: { flag: 'rate', env: 'RATE', help: 'requests per second (open loop)', default: '250' },
  connections: { flag: 'connections', env: 'ROLLOUT_CONNECTIONS', help: 'keep-alive connections', default: '50' },
  postEvery: { flag: 'post-every', env: 'POST_EVERY', help: 'every Nth request is a slow POST', default: '10' },
  postSpreadMs: { flag: 'post-spread-ms', env: 'POST_SPREAD_MS', help: 'a slow POST sends its body over this many ms', default: '200' },
  postDelayMs: { flag: 'post-delay-ms', env: 'POST_DELAY_MS', help: 'the app holds each POST this long (?delay=)', default: '250' },
  postBytes: { flag: 'post-bytes', env: 'POST_BYTES', help: 'POST body size', default: '4096' },
  bootMs: { flag: 'boot-ms', env: 'BOOT_MS', help: 'the app\'s boot time (STARTUP_DELAY_MS)', default: '1500' },
  leadS: { flag: 'lead', env: 'LEAD_S', help: 'seconds of load before the first update (its second half is the baseline)', default: '3' },
  settleS: { flag: 'settle', env: 'SETTLE_S', help: 'seconds of load after each update completed, before the next', default: '2' },
  timeoutMs: { flag: 'timeout-ms', env: 'REQUEST_TIMEOUT_MS', help: 'per-request timeout', default: '10000' },
  node: { flag: 'node', env: 'SWARM_NODE', help: 'name of the swarm node container (scripts/swarm.sh)', default: 'pxb-swarm' },
  outDir: { flag: 'out-dir', env: 'ROLLOUT_OUT_DIR', help: 'results directory', default: join(RESULTS_DIR, COMMIT) }
})

const approaches = list(s.approaches)
for (const a of approaches) if (a !== 'proxyctl' && !/^nginx-\d+s$/.test(a)) throw new Error(`unknown approach ${a}`)
const modes = list(s.sigterm)
for (const m of modes) if (m !== 'exit' && m !== 'graceful') throw new Error(`unknown SIGTERM behaviour ${m}`)
const N = int(s.rollouts, 'rollouts')
const rate = int(s.rate, 'rate')
const HOST = 'app.swarm.bench.test'
const NET = 'pxb-swarm-net'
const SERVICE = 'app'
const PROXY_IMAGE = 'proxyctl:bench-swarm'
const NGINX_IMAGE = 'proxyctl-bench-nginx:local'
const APP_IMAGE = 'proxyctl-test-app:dev'
const IMAGES = ['proxyctl-test-app:swarm-v1', 'proxyctl-test-app:swarm-v2']
const SWARM_SH = join(REPO_ROOT, 'scripts', 'swarm.sh')
const HEALTH_CMD = 'node -e "fetch(\'http://127.0.0.1:3000/hc\').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"'

const title = (a: string): string => a === 'proxyctl'
  ? 'proxyctl (Swarm provider, task addresses) + docker service update'
  : `nginx, tasks.${SERVICE} through Docker DNS (resolver valid=${a.slice(6)}), retries on error/timeout + docker service update`

/** What users write: a variable in proxy_pass makes nginx re-resolve through `resolver` (here, Docker's DNS). */
function nginxConf (valid: string): string {
  return `user node node;
worker_processes 1;
pid /tmp/nginx.pid;
error_log stderr warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path /tmp/cb; proxy_temp_path /tmp/pt; fastcgi_temp_path /tmp/ft; uwsgi_temp_path /tmp/ut; scgi_temp_path /tmp/st;
  keepalive_timeout 65s;
  resolver 127.0.0.11 valid=${valid} ipv6=off;
  resolver_timeout 2s;
  server {
    listen 80;
    location / {
      set $tasks http://tasks.${SERVICE}:3000;
      proxy_pass $tasks;
      proxy_http_version 1.1;
      proxy_set_header Host $host;
      proxy_set_header Connection "";
      proxy_connect_timeout 1s;
      proxy_next_upstream error timeout http_502 http_503 http_504;
      proxy_next_upstream_tries 3;
      proxy_next_upstream_timeout 5s;
    }
  }
}
`
}

interface Swarm { host: string, port: number, sockDir: string, docker: (...args: string[]) => Promise<string> }

async function startSwarm (): Promise<Swarm> {
  const r = await run('bash', [SWARM_SH, 'init', s.node], { env: { ...process.env, PROXYCTL_SWARM_IMAGES: `${PROXY_IMAGE} ${APP_IMAGE}` }, timeoutMs: 300_000 })
  if (r.code !== 0) throw new Error(`scripts/swarm.sh init failed: ${r.stderr.slice(-1500)}`)
  const out = Object.fromEntries(r.stdout.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]))
  const host = out.host ?? ''
  const docker = async (...args: string[]): Promise<string> => {
    const { stdout } = await execFileP('docker', args, { env: { ...process.env, DOCKER_HOST: host }, maxBuffer: 16 * 1024 * 1024, timeout: 120_000 })
    return stdout.trim()
  }
  return { host, port: Number(out.port), sockDir: `/tmp/${s.node}`, docker }
}

/** The proxy image of the measured commit, built from `git archive` of it (others' uncommitted work left out). */
async function buildProxyImage (): Promise<void> {
  const cmd = `git -C "${REPO_ROOT}" archive ${COMMIT} | docker build -q -t ${PROXY_IMAGE} -`
  log(`building ${PROXY_IMAGE}: ${cmd}`)
  await mustRun('bash', ['-c', `set -o pipefail; ${cmd}`], { timeoutMs: 900_000 })
}

/** The host's Debian nginx with its libraries and loader, in an image of the test app's base (nothing pulled). */
async function buildNginxImage (sw: Swarm): Promise<string> {
  const bin = await ensureNginx()
  const ctx = makeTempDir('pxb-nginx-image-')
  mkdirSync(join(ctx, 'pxb', 'lib'), { recursive: true })
  copyFileSync(bin, join(ctx, 'pxb', 'nginx'))
  for (const line of (await mustRun('ldd', [bin])).split('\n')) {
    const lib = /=>\s+(\/\S+)/.exec(line)?.[1]
    if (lib !== undefined) copyFileSync(lib, join(ctx, 'pxb', 'lib', lib.split('/').pop()!))
    const loader = /^\s*(\/\S*ld-linux\S*)\s/.exec(line)?.[1]
    if (loader !== undefined) copyFileSync(loader, join(ctx, 'pxb', 'ld.so'))
  }
  writeFileSync(join(ctx, 'Dockerfile'), `FROM ${APP_IMAGE}
USER root
COPY pxb /pxb
RUN chmod 755 /pxb/nginx /pxb/ld.so
ENTRYPOINT ["/pxb/ld.so", "--library-path", "/pxb/lib", "/pxb/nginx"]
CMD ["-p", "/tmp/", "-c", "/pxb/nginx.conf", "-g", "daemon off;"]
`)
  await mustRun('docker', ['build', '-q', '-t', NGINX_IMAGE, ctx], { env: { ...process.env, DOCKER_HOST: sw.host }, timeoutMs: 300_000 })
  rmSync(ctx, { recursive: true, force: true })
  return await nginxVersion(bin)
}

async function buildAppTags (sw: Swarm): Promise<void> {
  for (const [i, tag] of IMAGES.entries()) {
    await mustRun('sh', ['-c', `printf 'FROM ${APP_IMAGE}\\nENV APP_VERSION=v${i + 1}\\n' | docker build -q -t ${tag} -`], { env: { ...process.env, DOCKER_HOST: sw.host } })
  }
}

/** Whether the edge answers `HOST` from `n` distinct tasks of `version`. */
async function servedBy (port: number, n: number, version: string): Promise<boolean> {
  const seen = new Set<string>()
  for (let i = 0; i < 6 * n; i++) {
    try {
      const r = await request(`http://127.0.0.1:${port}/`, { headers: { host: HOST }, headersTimeout: 3_000, bodyTimeout: 3_000 })
      const body = await r.body.text()
      if (r.statusCode === 200) {
        const o = JSON.parse(body) as { version: string, hostname: string }
        if (o.version === version) seen.add(o.hostname)
      }
    } catch {}
  }
  return seen.size === n
}

async function createApp (sw: Swarm, mode: string): Promise<void> {
  await sw.docker('service', 'create', '-d', '--name', SERVICE, '--network', NET, '--replicas', s.replicas, '--no-resolve-image', '--endpoint-mode', 'dnsrr',
    '--health-cmd', HEALTH_CMD, '--health-interval', '1s', '--health-timeout', '2s', '--health-retries', '2',
    '--update-order', 'start-first', '--update-parallelism', '1', '--update-delay', '0s', '--stop-grace-period', '10s',
    '-e', `VIRTUAL_HOST=${HOST}`, '-e', 'VIRTUAL_PORT=3000', '-e', `ON_SIGTERM=${mode}`, '-e', `STARTUP_DELAY_MS=${s.bootMs}`, IMAGES[0]!)
}

async function removeApp (sw: Swarm): Promise<void> {
  await sw.docker('service', 'rm', SERVICE).catch(() => '')
  await waitFor(async () => (await sw.docker('ps', '-aq', '--filter', `label=com.docker.swarm.service.name=${SERVICE}`)) === '', { timeoutMs: 60_000, intervalMs: 250, what: 'the app service\'s containers gone' })
}

async function startEdge (sw: Swarm, approach: string): Promise<void> {
  await sw.docker('rm', '-f', 'pxb-edge').catch(() => '')
  if (approach === 'proxyctl') {
    await sw.docker('run', '-d', '--name', 'pxb-edge', '--network', NET, '-p', '8080:80', '-v', '/sock/docker.sock:/tmp/docker.sock:ro', '-e', 'HTTPS_PORT=off', PROXY_IMAGE)
  } else {
    // The node's /sock is this machine's sockDir (scripts/swarm.sh): the config reaches the container from there.
    writeFileSync(join(sw.sockDir, `${approach}.conf`), nginxConf(approach.slice(6)))
    await sw.docker('run', '-d', '--name', 'pxb-edge', '--network', NET, '-p', '8080:80', '-v', `/sock/${approach}.conf:/pxb/nginx.conf:ro`, NGINX_IMAGE)
  }
}

/** `docker service update -d ARGS app`, then until Swarm reports that very update completed (or paused/rolled back). */
async function updateService (sw: Swarm, ...args: string[]): Promise<string> {
  const status = async (): Promise<string> => await sw.docker('service', 'inspect', '-f', '{{if .UpdateStatus}}{{.UpdateStatus.State}} {{.UpdateStatus.StartedAt}}{{end}}', SERVICE)
  const before = await status()
  await sw.docker('service', 'update', '-d', '--no-resolve-image', ...args, SERVICE)
  const final = await waitFor(async () => {
    const now = await status()
    return now !== before && /^(completed|paused|rollback_completed|rollback_paused) /.test(now) ? now : undefined
  }, { timeoutMs: 180_000, intervalMs: 250, what: `docker service update ${args.join(' ')} to complete` })
  return final.split(' ')[0]!
}

interface UpdateRun { k: number, image: string, start: number, end: number, state: string }
interface RolloutStats extends WindowStats { rollout: number, image: string, updateState: string, updateDurationMs: number }

/** Requests are attributed by scheduled start: update k owns [its start, the next one's). */
function analyze (outcomes: Outcome[], runs: UpdateRun[], loadEnd: number): { rollouts: RolloutStats[], baseline: Baseline } {
  const rollouts = runs.map((r, i) => {
    const until = runs[i + 1]?.start ?? loadEnd
    const mine = outcomes.filter((o) => o.t >= r.start && o.t < until)
    return { rollout: r.k, image: r.image, updateState: r.state, updateDurationMs: Math.round(r.end - r.start), ...windowStats(mine, r.start) }
  })
  return { rollouts, baseline: baselineStats(outcomes, runs[0]?.start ?? loadEnd) }
}

const loadavg = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')

async function runScenario (sw: Swarm, approach: string, mode: string): Promise<unknown> {
  log(`=== ${title(approach)}, ON_SIGTERM=${mode}: ${N} updates at ${rate} req/s`)
  await removeApp(sw)
  await createApp(sw, mode)
  await startEdge(sw, approach)
  const replicas = int(s.replicas, 'replicas')
  await waitFor(async () => await servedBy(sw.port, replicas, 'v1'), { timeoutMs: 120_000, intervalMs: 250, what: `${replicas} v1 tasks through the ${approach} edge` })
  const loadAvgBefore = loadavg()
  const load = startPacedLoad(rolloutLoadOptions(s, { origin: `http://127.0.0.1:${sw.port}`, host: HOST, rate, maxMinutes: 10 }))
  const runs: UpdateRun[] = []
  let outcomes: Outcome[] = []
  let loadEnd = 0
  try {
    await sleep(int(s.leadS, 'lead') * 1000)
    for (let k = 1; k <= N; k++) {
      const image = IMAGES[k % 2]!
      const start = load.now()
      const state = await updateService(sw, '--image', image, '--update-order', 'start-first')
      runs.push({ k, image, start, end: load.now(), state })
      log(`update ${k}/${N} ${approach}/${mode} -> ${image}: ${state} in ${Math.round(load.now() - start)} ms`)
      await sleep(int(s.settleS, 'settle') * 1000)
    }
  } finally {
    loadEnd = load.now()
    outcomes = await load.stop()
  }
  const { rollouts, baseline } = analyze(outcomes, runs, loadEnd)
  log(`  before the first update: ${baseline.achievedPerSec} req/s succeeded (target ${rate}), GET p99 ${baseline.getP99Ms} ms, ${baseline.failed} failed`)
  for (const r of rollouts) log(`  update ${r.rollout}: ${r.requests} requests, ${r.failed} failed ${JSON.stringify({ ...r.non2xx, ...r.socketErrors })}, outage ${r.outageMs} ms, update ${r.updateDurationMs} ms`)
  const name = `swarm-rollout-${approach}-${mode}`
  mkdirSync(join(SCRATCH_DIR, 'raw'), { recursive: true })
  writeFileSync(join(SCRATCH_DIR, 'raw', `${name}.ndjson.gz`), gzipSync(outcomes.map((o) => JSON.stringify(o)).join('\n') + '\n'))
  const edgeLogTail = (await sw.docker('logs', '--tail', '20', 'pxb-edge').catch(() => '')).split('\n').slice(-20)
  await sw.docker('rm', '-f', 'pxb-edge').catch(() => '')
  const failures = outcomes.filter(failedOf)
  return {
    approach,
    title: title(approach),
    sigterm: mode,
    totals: { requests: outcomes.length, failed: failures.length, baselineFailed: baseline.failed },
    loadAverage: { before: loadAvgBefore, after: loadavg() },
    baseline,
    rollouts,
    ...(approach !== 'proxyctl' ? { edgeLogTail } : {}),
    failureColumns: ['t', 'end', 'method', 'status', 'error'],
    failures: failures.slice(0, 200).map((f) => [f.t, f.end, f.method, f.status, f.error ?? null])
  }
}

async function main (): Promise<void> {
  const started = Date.now()
  await buildProxyImage()
  const machine = await machineInfo()
  mkdirSync(s.outDir, { recursive: true })
  // scripts/swarm.sh leave removes the node whatever happens, also when the bench is killed.
  process.on('exit', () => { spawnSync('bash', [SWARM_SH, 'leave', s.node], { stdio: 'ignore', timeout: 120_000 }) })
  const sw = await startSwarm()
  const scenarios: unknown[] = []
  let nginx = ''
  try {
    await buildAppTags(sw)
    if (approaches.some((a) => a !== 'proxyctl')) nginx = await buildNginxImage(sw)
    await sw.docker('network', 'create', '-d', 'overlay', '--attachable', NET)
    for (const mode of modes) {
      for (const approach of approaches) scenarios.push(await runScenario(sw, approach, mode))
    }
  } finally {
    await run('bash', [SWARM_SH, 'leave', s.node], { timeoutMs: 120_000 })
  }
  const out = join(s.outDir, 'swarm-rollout.json')
  writeJson(out, {
    kind: 'swarm-rollout',
    finished: new Date().toISOString(),
    durationS: Math.round((Date.now() - started) / 1000),
    machine: { ...machine, proxyctl: `image ${PROXY_IMAGE} built from git archive ${COMMIT}`, nginxInContainer: nginx },
    settings: {
      rollouts: N, replicas: int(s.replicas, 'replicas'), rate, connections: int(s.connections, 'connections'), postEvery: int(s.postEvery, 'post-every'),
      postSpreadMs: int(s.postSpreadMs, 'post-spread-ms'), postDelayMs: int(s.postDelayMs, 'post-delay-ms'), postBytes: int(s.postBytes, 'post-bytes'),
      bootMs: int(s.bootMs, 'boot-ms'), requestTimeoutMs: int(s.timeoutMs, 'timeout-ms'), leadS: int(s.leadS, 'lead'), settleS: int(s.settleS, 'settle'),
      update: 'docker service update -d --image <v1|v2, alternating> --update-order start-first (parallelism 1, delay 0s, stop-grace-period 10s, HEALTHCHECK every 1s)'
    },
    nginxConf: nginxConf('<valid>'),
    scenarios
  })
  log(`wrote ${out} in ${Math.round((Date.now() - started) / 1000)} s`)
}

await main()
process.exit(0)
