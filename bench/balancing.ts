// Balancing: one replica that answers at once and one that takes SLOW_MS more per request, behind
// proxyctl with round-robin and with least-outstanding (the default). autocannon, alternating
// rounds; the share of requests each replica served comes from proxyctl's own
// proxyctl_requests_total counter (admin socket /metrics), read before and after each run.
import autocannon, { type Result as AutocannonResult } from 'autocannon'
import { join } from 'node:path'
import { Client } from 'undici'
import { bool, int, list, parseSettings } from './lib/cli.ts'
import {
  BENCH_LABEL, RUN_DIR, docker, log, machineInfo, makeTempDir, median, proxyctlStatus, removeBenchContainers, round, startProxyctl,
  waitFor, writeJson, type ProxyctlProcess
} from './lib/util.ts'

const MODES = ['round-robin', 'least-outstanding']

const s = parseSettings('bench/balancing.ts', `Round-robin vs least-outstanding with one fast and one slow replica of the test app
(proxyctl-test-app:dev, RESPONSE_DELAY_MS on the slow one). Needs Docker and a built proxyctl
(dist/, or PROXYCTL_CLI). Writes bench/results/<commit>/balancing.json.`, {
  connections: { flag: 'connections', env: 'CONNECTIONS', help: 'autocannon connections', default: '50' },
  duration: { flag: 'duration', env: 'DURATION', help: 'seconds per measured run', default: '5' },
  warmup: { flag: 'warmup', env: 'WARMUP', help: 'seconds of discarded load before each measured run', default: '1' },
  rounds: { flag: 'rounds', env: 'BALANCING_ROUNDS', help: 'rounds; each runs both modes once, order reversed every other round', default: '3' },
  modes: { flag: 'modes', env: 'BALANCING_MODES', help: `comma-separated, from ${MODES.join(', ')}`, default: MODES.join(',') },
  slowMs: { flag: 'slow-ms', env: 'SLOW_MS', help: 'the slow replica\'s extra time per response (RESPONSE_DELAY_MS)', default: '20' },
  image: { flag: 'image', env: 'APP_IMAGE', help: 'app image', default: 'proxyctl-test-app:dev' },
  out: { flag: 'out', env: 'BALANCING_OUT', help: 'result file', default: join(RUN_DIR, 'balancing.json') },
  keep: { flag: 'keep', env: 'KEEP_RUNNING', help: 'leave the containers for inspection', default: 'false', boolean: true }
})

const HOST = 'lb.bench.test'
const NAME = 'pxb-lb-'
const FAST = `${NAME}fast`
const SLOW = `${NAME}slow`
const rounds = int(s.rounds, 'rounds')
const duration = int(s.duration, 'duration')
const warmup = int(s.warmup, 'warmup')
const connections = int(s.connections, 'connections')
const modes = list(s.modes)
for (const m of modes) if (!MODES.includes(m)) throw new Error(`unknown mode ${m}`)

/** proxyctl_requests_total summed by upstream container name, from the admin socket's /metrics. */
async function servedBy (p: ProxyctlProcess): Promise<Record<string, number>> {
  const client = new Client('http://proxyctl.admin', { socketPath: p.adminSocket })
  try {
    const res = await client.request({ method: 'GET', path: '/metrics' })
    const text = await res.body.text()
    const out: Record<string, number> = {}
    for (const line of text.split('\n')) {
      if (!line.startsWith('proxyctl_requests_total{')) continue
      const up = /upstream="([^"]*)"/.exec(line)?.[1] ?? ''
      out[up] = (out[up] ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1))
    }
    return out
  } finally {
    await client.close()
  }
}

interface Run { round: number, mode: string, reqPerSec: number, p50: number, p99: number, errors: number, non2xx: number, fastShare: number }

async function measure (dir: string, mode: string, r: number): Promise<Run> {
  const p = await startProxyctl({ dir, name: `proxyctl-${mode}-${r}`, accessLog: false, extraArgs: ['--balancing', mode] })
  try {
    // Both replicas admitted (health-checked) before any load.
    await waitFor(async () => {
      const st = await proxyctlStatus(p.adminSocket)
      return st.upstreams.filter((u) => (u.name === FAST || u.name === SLOW) && u.state === 'ready').length === 2
    }, { timeoutMs: 30_000, what: `both replicas ready in proxyctl (${mode})` })
    const go = async (seconds: number): Promise<AutocannonResult> =>
      await autocannon({ url: `http://127.0.0.1:${p.port}`, connections, duration: seconds, headers: { host: HOST } })
    if (warmup > 0) await go(warmup)
    const before = await servedBy(p)
    const res = await go(duration)
    const after = await servedBy(p)
    const fast = (after[FAST] ?? 0) - (before[FAST] ?? 0)
    const slow = (after[SLOW] ?? 0) - (before[SLOW] ?? 0)
    return {
      round: r,
      mode,
      reqPerSec: round(res.requests.total / res.duration, 0),
      p50: res.latency.p50,
      p99: res.latency.p99,
      errors: res.errors + res.timeouts,
      non2xx: res.non2xx,
      fastShare: fast + slow > 0 ? round(fast / (fast + slow), 3) : NaN
    }
  } finally {
    await p.stop()
  }
}

const started = new Date().toISOString()
const dir = makeTempDir('pxb-lb-')
await removeBenchContainers(NAME)
try {
  await docker('run', '-d', '--name', FAST, '--label', BENCH_LABEL, '-e', `VIRTUAL_HOST=${HOST}`, s.image)
  await docker('run', '-d', '--name', SLOW, '--label', BENCH_LABEL, '-e', `VIRTUAL_HOST=${HOST}`, '-e', `RESPONSE_DELAY_MS=${s.slowMs}`, s.image)
  const runs: Run[] = []
  for (let r = 1; r <= rounds; r++) {
    for (const mode of r % 2 === 1 ? modes : [...modes].reverse()) {
      const x = await measure(dir, mode, r)
      runs.push(x)
      log(`round ${r} ${mode.padEnd(17)} ${String(x.reqPerSec).padStart(6)} req/s  p50 ${x.p50} p99 ${x.p99} ms  fast replica ${(x.fastShare * 100).toFixed(1)}%  errors ${x.errors} non2xx ${x.non2xx}`)
    }
  }
  const summary = Object.fromEntries(modes.map((m) => {
    const rs = runs.filter((x) => x.mode === m)
    return [m, { reqPerSec: median(rs.map((x) => x.reqPerSec)), p50: median(rs.map((x) => x.p50)), p99: median(rs.map((x) => x.p99)), fastShare: median(rs.map((x) => x.fastShare)), errors: rs.reduce((a, x) => a + x.errors + x.non2xx, 0) }]
  }))
  writeJson(s.out, {
    kind: 'balancing',
    started,
    finished: new Date().toISOString(),
    machine: await machineInfo(),
    settings: { connections, durationS: duration, warmupS: warmup, rounds, slowMs: int(s.slowMs, 'slow-ms'), image: s.image, modes },
    summary,
    runs
  })
  log(`wrote ${s.out}`)
} finally {
  if (!bool(s.keep)) await removeBenchContainers(NAME)
}
process.exit(0)
