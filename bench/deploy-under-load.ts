// Rollouts under load: paced requests (open loop) at a fixed rate through the edge while the test app
// is rolled out K times, for (a) proxyctl + `proxyctl deploy`, (b) the seed recipe: nginx regenerated
// from Docker events as nginx-proxy does + the seed's scale/sleep/poll/stop script, (c) a plain
// `docker-compose up -d` recreate behind proxyctl. Every request's outcome and time is recorded.
import { spawn } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { request } from 'undici'
import { timelineSvg, type Marker, type SeriesPoint } from './lib/chart.ts'
import { bool, int, list, parseSettings } from './lib/cli.ts'
import { rolloutLoadOptions, startPacedLoad, type Outcome } from './lib/paced-load.ts'
import { baselineStats, failedOf, windowStats, type Baseline, type WindowStats } from './lib/rollout-window.ts'
import {
  BENCH_DIR, BENCH_LABEL_KEY, CLI, RUN_DIR, SCRATCH_DIR, composeBinary, ensureNginx, freePort, imageExists, log, machineInfo,
  killOnExit, makeTempDir, nginxUserDirective, removeBenchContainers, round, run, sleep, spawnLogged, startNginx, startProxyctl,
  waitFor, waitForQuiet, writeJson
} from './lib/util.ts'

const APPROACHES = ['proxyctl', 'recipe', 'compose'] as const
type ApproachName = typeof APPROACHES[number]

const s = parseSettings('bench/deploy-under-load.ts', `K rollouts of the test app (proxyctl-test-app:dev, built by "npm test" from test/app) under
paced load, per approach and SIGTERM behaviour. Needs Docker, docker compose or docker-compose,
curl, and nginx for the recipe (installed with apt-get when missing and root).
Writes bench/results/<commit>/rollout.json, rollout-<approach>-<sigterm>.json and .svg timelines
(raw per-request outcomes: bench/results/tmp/raw/, not committed).`, {
  approaches: { flag: 'approaches', env: 'APPROACHES', help: `comma-separated: ${APPROACHES.join(', ')}`, default: APPROACHES.join(',') },
  sigterm: { flag: 'sigterm', env: 'SIGTERM_MODES', help: 'the app\'s ON_SIGTERM behaviours to run: exit (exit at once), graceful', default: 'exit,graceful' },
  rollouts: { flag: 'rollouts', env: 'ROLLOUTS', help: 'rollouts per approach and behaviour (K)', default: '5' },
  rate: { flag: 'rate', env: 'RATE', help: 'requests per second (open loop)', default: '1000' },
  connections: { flag: 'connections', env: 'ROLLOUT_CONNECTIONS', help: 'keep-alive connections', default: '50' },
  postEvery: { flag: 'post-every', env: 'POST_EVERY', help: 'every Nth request is a slow POST (0: GETs only)', default: '20' },
  postSpreadMs: { flag: 'post-spread-ms', env: 'POST_SPREAD_MS', help: 'a slow POST sends its body over this many ms', default: '200' },
  postDelayMs: { flag: 'post-delay-ms', env: 'POST_DELAY_MS', help: 'the app holds each POST this long (?delay=)', default: '100' },
  postBytes: { flag: 'post-bytes', env: 'POST_BYTES', help: 'POST body size', default: '4096' },
  bootMs: { flag: 'boot-ms', env: 'BOOT_MS', help: 'the app\'s boot time (STARTUP_DELAY_MS)', default: '1500' },
  leadS: { flag: 'lead', env: 'LEAD_S', help: 'seconds of load before the first rollout (its second half is the baseline)', default: '3' },
  settleS: { flag: 'settle', env: 'SETTLE_S', help: 'seconds of load after each rollout before the next', default: '2' },
  timeoutMs: { flag: 'timeout-ms', env: 'REQUEST_TIMEOUT_MS', help: 'per-request timeout', default: '10000' },
  recipeSleep: { flag: 'recipe-sleep', env: 'RECIPE_SLEEP', help: 'the recipe script\'s sleep after scaling (seconds)', default: '5' },
  recipeKeepalive: { flag: 'recipe-keepalive', env: 'RECIPE_KEEPALIVE', help: 'upstream keep-alive in the recipe\'s nginx (off = the 2018 template: Connection: close)', default: 'false', boolean: true },
  image: { flag: 'image', env: 'APP_IMAGE', help: 'app image', default: 'proxyctl-test-app:dev' },
  binMs: { flag: 'bin-ms', env: 'BIN_MS', help: 'chart bin width', default: '250' },
  outDir: { flag: 'out-dir', env: 'ROLLOUT_OUT_DIR', help: 'results directory', default: RUN_DIR },
  quietLoad: { flag: 'quiet-load', env: 'BENCH_QUIET_LOAD', help: 'before each approach and SIGTERM behaviour, wait (bounded) until the 1-minute load average is below this; 0 = do not wait', default: '0' },
  quietWaitS: { flag: 'quiet-wait', env: 'BENCH_QUIET_WAIT_S', help: 'longest wait for a quiet machine, seconds', default: '300' }
})

const approaches = list(s.approaches) as ApproachName[]
for (const a of approaches) if (!APPROACHES.includes(a)) throw new Error(`unknown approach ${a}`)
const modes = list(s.sigterm)
for (const m of modes) if (m !== 'exit' && m !== 'graceful') throw new Error(`unknown SIGTERM behaviour ${m}`)
const K = int(s.rollouts, 'rollouts')
const rate = int(s.rate, 'rate')
const HOST = 'rollout.bench.test'
const TITLES: Record<ApproachName, string> = {
  proxyctl: 'proxyctl + proxyctl deploy',
  recipe: 'seed recipe: nginx regenerated on Docker events + scale/sleep/poll/stop script',
  compose: 'docker-compose up -d (recreate) behind proxyctl'
}

interface Scenario { approach: ApproachName, mode: string, project: string, dir: string, composeFile: string, compose: string[] }

interface Edge {
  origin: string
  markers: () => Marker[]
  /** Statuses the edge itself logged for the bench host since `sinceMs` (proxyctl's access log), to tell its answers from client-side timeouts. */
  answered?: (sinceMs: number) => Record<string, number>
  stop: () => Promise<void>
}

interface DeployRun { k: number, version: string, start: number, end: number, code: number, steps: Marker[], output: string }

function composeYaml (image: string): string {
  return `# generated by bench/deploy-under-load.ts
services:
  app:
    image: ${image}
    environment:
      VIRTUAL_HOST: ${HOST}
      VIRTUAL_PORT: "3000"
      APP_VERSION: \${APP_VERSION:-v0}
      ON_SIGTERM: \${ON_SIGTERM:-exit}
      STARTUP_DELAY_MS: \${STARTUP_DELAY_MS:-0}
    expose:
      - "3000"
    labels:
      ${BENCH_LABEL_KEY}: "1"
      proxyctl.health.path: /hc
      proxyctl.health.interval: 1s
networks:
  default:
    labels:
      ${BENCH_LABEL_KEY}: "1"
`
}

function envFor (sc: Scenario, version: string): NodeJS.ProcessEnv {
  return { ...process.env, APP_VERSION: version, ON_SIGTERM: sc.mode, STARTUP_DELAY_MS: s.bootMs }
}

/** Runs a command, timestamping each output line on the load clock. */
async function runTimed (cmd: string, args: string[], env: NodeJS.ProcessEnv, now: () => number, onLine: (line: string, t: number) => void, timeoutMs = 300_000): Promise<{ code: number, output: string }> {
  return await new Promise((resolve) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
    killOnExit(child)
    let output = ''
    let buf = ''
    const onData = (c: Buffer): void => {
      const text = c.toString('utf8')
      output += text
      buf += text
      let nl: number
      while ((nl = buf.indexOf('\n')) >= 0) {
        onLine(buf.slice(0, nl), now())
        buf = buf.slice(nl + 1)
      }
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    const timer = setTimeout(() => { child.kill('SIGKILL') }, timeoutMs)
    child.on('close', (code) => { clearTimeout(timer); resolve({ code: code ?? 1, output }) })
  })
}

async function startProxyctlEdge (sc: Scenario): Promise<Edge & { adminSocket: string }> {
  const p = await startProxyctl({ dir: sc.dir, name: 'proxyctl', accessLog: true })
  const answered = (sinceMs: number): Record<string, number> => {
    const out: Record<string, number> = {}
    for (const line of readFileSync(p.logFile, 'utf8').split('\n')) {
      if (!line.includes('"component":"access"')) continue
      try {
        const o = JSON.parse(line) as { host?: string, status?: number, time?: string }
        if (o.host === HOST && Date.parse(o.time ?? '') >= sinceMs) out[String(o.status)] = (out[String(o.status)] ?? 0) + 1
      } catch {}
    }
    return out
  }
  return { origin: `http://127.0.0.1:${p.port}`, adminSocket: p.adminSocket, markers: () => [], answered, stop: async () => { await p.stop() } }
}

async function startRecipeEdge (sc: Scenario, loadStartedAt: () => number): Promise<Edge> {
  const bin = await ensureNginx()
  const port = await freePort()
  const confD = join(sc.dir, 'conf.d')
  mkdirSync(confD, { recursive: true })
  const main = join(sc.dir, 'nginx.conf')
  // The official nginx image's nginx.conf of the seed's time (1 worker), which includes conf.d/.
  writeFileSync(main, `${nginxUserDirective()}
worker_processes 1;
pid ${sc.dir}/nginx.pid;
error_log ${sc.dir}/nginx-error.log warn;
events { worker_connections 4096; }
http {
  client_body_temp_path ${sc.dir}/cb; proxy_temp_path ${sc.dir}/pt; fastcgi_temp_path ${sc.dir}/ft; uwsgi_temp_path ${sc.dir}/ut; scgi_temp_path ${sc.dir}/st;
  sendfile on;
  keepalive_timeout 65;
  include ${confD}/*.conf;
}
`)
  const genArgs = [...process.execArgv, join(BENCH_DIR, 'nginx-gen.ts'), '--out', join(confD, 'default.conf'), '--nginx', bin, '--prefix', sc.dir, '--main-conf', main,
    '--listen', `127.0.0.1:${port}`, '--label', `com.docker.compose.project=${sc.project}`, '--access-log', join(sc.dir, 'nginx-access.log'), ...(bool(s.recipeKeepalive) ? ['--keepalive'] : [])]
  const genEnv = { ...process.env, TS_NODE_TRANSPILE_ONLY: '1' }
  const once = await run(process.execPath, [...genArgs, '--once'], { env: genEnv, cwd: BENCH_DIR })
  if (once.code !== 0) throw new Error(`nginx-gen --once failed: ${once.stderr}`)
  const nginx = await startNginx(bin, sc.dir, main, 'nginx')
  const genLog = join(sc.dir, 'nginx-gen.log')
  const gen = spawnLogged(process.execPath, genArgs, genLog, genEnv)
  await waitFor(() => readFileSync(genLog, 'utf8').includes('"msg":"watching"'), { timeoutMs: 30_000, what: 'nginx-gen to watch Docker events' })
  return {
    origin: `http://127.0.0.1:${port}`,
    markers: () => {
      return readFileSync(genLog, 'utf8').split('\n').filter((l) => l.includes('"msg":"reloaded"')).map((l) => {
        const o = JSON.parse(l) as { at: number, reload: string }
        return { t: (o.at - loadStartedAt()) / 1000, label: `nginx reload${o.reload === 'ok' ? '' : ' FAILED'}`, kind: 'nginx reload' }
      })
    },
    stop: async () => { await gen.stop(); await nginx.stop('SIGQUIT') }
  }
}

/** docker events for the project's containers, on the load clock. */
function recordDockerEvents (project: string, loadStartedAt: () => number): { stop: () => Marker[] } {
  const child = spawn('docker', ['events', '--filter', 'type=container', '--filter', `label=com.docker.compose.project=${project}`, '--format', '{{json .}}'], { stdio: ['ignore', 'pipe', 'ignore'] })
  killOnExit(child)
  const markers: Marker[] = []
  let buf = ''
  child.stdout.on('data', (c: Buffer) => {
    buf += c.toString('utf8')
    let nl: number
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl)
      buf = buf.slice(nl + 1)
      try {
        const e = JSON.parse(line) as { Action?: string, timeNano?: number, Actor?: { Attributes?: Record<string, string> } }
        const action = (e.Action ?? '').split(':')[0]!
        if (!['start', 'kill', 'die'].includes(action)) continue
        const name = (e.Actor?.Attributes?.name ?? '').replace(`${project}`, '').replace(/^[_-]/, '')
        markers.push({ t: ((e.timeNano ?? 0) / 1e6 - loadStartedAt()) / 1000, label: `${action} ${name}`, kind: 'docker event' })
      } catch {}
    }
  })
  return { stop: () => { child.kill(); return markers } }
}

async function answers (origin: string, version: string): Promise<boolean> {
  try {
    const r = await request(origin, { headers: { host: HOST } })
    await r.body.dump()
    return r.statusCode === 200 && r.headers['x-app-version'] === version
  } catch { return false }
}

async function deployOnce (sc: Scenario, edge: Edge & { adminSocket?: string }, k: number, now: () => number): Promise<DeployRun> {
  const version = `v${k}`
  const steps: Marker[] = []
  const start = now()
  let r: { code: number, output: string }
  if (sc.approach === 'proxyctl') {
    r = await runTimed(process.execPath, [CLI, 'deploy', 'app', '-f', sc.composeFile, '-p', sc.project, '--admin-socket', edge.adminSocket!, '--json'], envFor(sc, version), now, (line, t) => {
      try {
        const o = JSON.parse(line) as { step?: string, status?: string }
        // Step starts only (each step's end is the next one's start), and the final result.
        if (o.step !== undefined && (o.status === 'start' || o.step === 'done' || o.status === 'failed')) steps.push({ t: t / 1000, label: `${o.step} ${o.status ?? ''}`.trim(), kind: 'deploy step' })
      } catch {}
    })
  } else if (sc.approach === 'recipe') {
    r = await runTimed('bash', [join(BENCH_DIR, 'recipe-deploy.sh')], {
      ...envFor(sc, version), COMPOSE_FILE: sc.composeFile, PROJECT: sc.project, SERVICE: 'app', APP_PORT: '3000', RECIPE_SLEEP: s.recipeSleep, COMPOSE: sc.compose.join(' ')
    }, now, (line, t) => {
      if (line.startsWith('STEP ')) steps.push({ t: t / 1000, label: line.slice(5), kind: 'deploy step' })
    })
  } else {
    r = await runTimed(sc.compose[0]!, [...sc.compose.slice(1), '-f', sc.composeFile, '-p', sc.project, 'up', '-d', 'app'], envFor(sc, version), now, () => {})
  }
  const end = now()
  if (r.code !== 0) log(`rollout ${k} (${sc.approach}/${sc.mode}) exited ${r.code}: ${r.output.slice(-800)}`)
  return { k, version, start, end, code: r.code, steps, output: r.output.slice(-4000) }
}

interface RolloutStats extends WindowStats { rollout: number, version: string, deployExitCode: number, deployDurationMs: number, ok: number }

/** Requests are attributed by scheduled start: rollout k owns [its deploy start, the next one's). */
function analyze (outcomes: Outcome[], runs: DeployRun[], loadEnd: number): { rollouts: RolloutStats[], baseline: Baseline } {
  const rollouts = runs.map((r, i) => {
    const until = runs[i + 1]?.start ?? loadEnd
    const { requests, failed, ...rest } = windowStats(outcomes.filter((o) => o.t >= r.start && o.t < until), r.start)
    return { rollout: r.k, version: r.version, deployExitCode: r.code, deployDurationMs: Math.round(r.end - r.start), requests, ok: requests - failed, failed, ...rest }
  })
  return { rollouts, baseline: baselineStats(outcomes, runs[0]?.start ?? loadEnd) }
}

function chartPoints (outcomes: Outcome[], binMs: number): SeriesPoint[] {
  const bins = new Map<number, { ok: number, failed: number }>()
  // The last bin is partial (the load stopped inside it): left out, or it would look like a dip.
  const last = Math.floor((outcomes[outcomes.length - 1]?.t ?? 0) / binMs) - 1
  for (let b = 0; b <= last; b++) bins.set(b, { ok: 0, failed: 0 })
  for (const o of outcomes) {
    const b = bins.get(Math.floor(o.t / binMs))
    if (b === undefined) continue
    if (failedOf(o)) b.failed++
    else b.ok++
  }
  const perSec = 1000 / binMs
  const points: SeriesPoint[] = []
  for (const [b, v] of bins) {
    points.push({ t: (b * binMs) / 1000, series: 'succeeded/s', perSec: v.ok * perSec })
    points.push({ t: (b * binMs) / 1000, series: 'failed/s', perSec: v.failed * perSec })
  }
  return points
}

async function runScenario (approach: ApproachName, mode: string, compose: string[], machine: Record<string, string>): Promise<unknown> {
  const project = `pxb-${approach}-${mode}`
  const dir = makeTempDir(`${project}-`)
  const composeFile = join(dir, 'compose.yml')
  writeFileSync(composeFile, composeYaml(s.image))
  const sc: Scenario = { approach, mode, project, dir, composeFile, compose }
  await waitForQuiet(Number(s.quietLoad), Number(s.quietWaitS))
  const loadAvgBefore = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')
  log(`=== ${TITLES[approach]}, ON_SIGTERM=${mode}: ${K} rollouts at ${rate} req/s (work dir ${dir})`)
  await run(compose[0]!, [...compose.slice(1), '-f', composeFile, '-p', project, 'down', '-v', '--remove-orphans', '-t', '1'])
  let loadStartedAt = Date.now()
  let edge: (Edge & { adminSocket?: string }) | undefined
  try {
    edge = approach === 'recipe' ? await startRecipeEdge(sc, () => loadStartedAt) : await startProxyctlEdge(sc)
    const up = await run(compose[0]!, [...compose.slice(1), '-f', composeFile, '-p', project, 'up', '-d', 'app'], { env: envFor(sc, 'v0') })
    if (up.code !== 0) throw new Error(`compose up: ${up.stderr}`)
    const origin = edge.origin
    await waitFor(async () => await answers(origin, 'v0'), { timeoutMs: 60_000, what: `v0 through the ${approach} edge` })

    const load = startPacedLoad(rolloutLoadOptions(s, { origin, host: HOST, rate, maxMinutes: 30 }))
    loadStartedAt = load.startedAt
    const events = recordDockerEvents(project, () => loadStartedAt)
    const runs: DeployRun[] = []
    let loadEnd = 0
    let outcomes: Outcome[] = []
    try {
      await sleep(int(s.leadS, 'lead') * 1000)
      for (let k = 1; k <= K; k++) {
        const r = await deployOnce(sc, edge, k, load.now)
        runs.push(r)
        log(`rollout ${k}/${K} ${approach}/${mode}: exit ${r.code} in ${Math.round(r.end - r.start)} ms`)
        await sleep(int(s.settleS, 'settle') * 1000)
      }
    } finally {
      loadEnd = load.now()
      outcomes = await load.stop()
    }
    await sleep(500)
    const dockerMarkers = events.stop()
    const { rollouts, baseline } = analyze(outcomes, runs, loadEnd)
    log(`  before the first rollout: ${baseline.achievedPerSec} req/s succeeded (target ${rate}), GET p99 ${baseline.getP99Ms} ms, ${baseline.failed} failed`)
    for (const r of rollouts) {
      log(`  rollout ${r.rollout}: ${r.requests} requests, ${r.failed} failed ${JSON.stringify({ ...r.non2xx, ...r.socketErrors })}, outage ${r.outageMs} ms, deploy ${r.deployDurationMs} ms`)
    }
    const markers: Marker[] = [
      ...runs.flatMap((r) => [
        { t: r.start / 1000, label: `deploy ${r.version}`, kind: 'deploy start/end' },
        { t: r.end / 1000, label: `done ${r.version}${r.code === 0 ? '' : ` (exit ${r.code})`}`, kind: 'deploy start/end' },
        ...r.steps
      ]),
      ...dockerMarkers,
      ...edge.markers()
    ].filter((m) => m.t >= 0).sort((a, b) => a.t - b.t)
    const name = `rollout-${approach}-${mode}`
    const totalFailed = rollouts.reduce((a, r) => a + r.failed, 0)
    const chart = `${name}.svg`
    await timelineSvg(join(s.outDir, chart), {
      title: `${TITLES[approach]} — app ON_SIGTERM=${mode}, boot ${s.bootMs} ms`,
      subtitle: `${K} rollouts, ${rate} req/s open loop over ${s.connections} keep-alive connections (1 in ${s.postEvery} a slow POST); ${totalFailed} failed requests; bins of ${s.binMs} ms`,
      points: chartPoints(outcomes, int(s.binMs, 'bin-ms')),
      markers,
      seriesOrder: ['succeeded/s', 'failed/s'],
      colors: ['#4c78a8', '#e45756']
    })
    mkdirSync(join(SCRATCH_DIR, 'raw'), { recursive: true })
    writeFileSync(join(SCRATCH_DIR, 'raw', `${name}.ndjson.gz`), gzipSync(outcomes.map((o) => JSON.stringify(o)).join('\n') + '\n'))
    const failures = outcomes.filter(failedOf)
    const result = {
      kind: 'rollout',
      approach,
      title: TITLES[approach],
      sigterm: mode,
      finished: new Date().toISOString(),
      machine,
      settings: { rollouts: K, rate, connections: int(s.connections, 'connections'), postEvery: int(s.postEvery, 'post-every'), postSpreadMs: int(s.postSpreadMs, 'post-spread-ms'), postDelayMs: int(s.postDelayMs, 'post-delay-ms'), bootMs: int(s.bootMs, 'boot-ms'), recipeSleepS: int(s.recipeSleep, 'recipe-sleep'), recipeUpstreamKeepalive: bool(s.recipeKeepalive), requestTimeoutMs: int(s.timeoutMs, 'timeout-ms') },
      totals: { requests: outcomes.length, failed: failures.length, baselineFailed: baseline.failed },
      ...(edge.answered !== undefined ? { edgeAnsweredDuringLoad: edge.answered(loadStartedAt) } : {}),
      loadAverage: { before: loadAvgBefore, after: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ') },
      baseline,
      rollouts,
      chart,
      markers,
      deploys: runs.map((r) => ({ k: r.k, code: r.code, startS: round(r.start / 1000, 3), endS: round(r.end / 1000, 3), steps: r.steps.map((m) => `${round(m.t - r.start / 1000, 2)}s ${m.label}`), ...(r.code !== 0 ? { outputTail: r.output.slice(-2000) } : {}) })),
      failureColumns: ['t', 'end', 'method', 'status', 'error'],
      failures: failures.slice(0, 300).map((f) => [f.t, f.end, f.method, f.status, f.error ?? null])
    }
    writeJson(join(s.outDir, `${name}.json`), result)
    return result
  } finally {
    await run(compose[0]!, [...compose.slice(1), '-f', composeFile, '-p', project, 'down', '-v', '--remove-orphans', '-t', '1'])
    await edge?.stop().catch(() => {})
    await removeBenchContainers(project)
  }
}

async function main (): Promise<void> {
  if (!(await imageExists(s.image))) throw new Error(`image ${s.image} is missing: "npm test" builds it (test/support/images.ts), or: docker build -t ${s.image} test/app`)
  const compose = await composeBinary()
  const machine = await machineInfo()
  mkdirSync(s.outDir, { recursive: true })
  const all: unknown[] = []
  for (const mode of modes) {
    for (const approach of approaches) all.push(await runScenario(approach, mode, compose, machine))
  }
  const summary = (all as Array<{ approach: string, title: string, sigterm: string, chart: string, totals: unknown, edgeAnsweredDuringLoad?: Record<string, number>, baseline: Baseline, loadAverage: unknown, rollouts: RolloutStats[], settings: unknown }>).map((r) => ({
    approach: r.approach, title: r.title, sigterm: r.sigterm, chart: r.chart, totals: r.totals, edgeAnsweredDuringLoad: r.edgeAnsweredDuringLoad, baseline: r.baseline, loadAverage: r.loadAverage, settings: r.settings, rollouts: r.rollouts
  }))
  writeJson(join(s.outDir, 'rollout.json'), { kind: 'rollout-summary', finished: new Date().toISOString(), machine, scenarios: summary })
  log(`wrote ${join(s.outDir, 'rollout.json')}`)
}

await main()
process.exit(0)
