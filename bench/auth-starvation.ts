// Does a client guessing bcrypt passwords on one host slow down another host? (issue 10, item 5)
// A server process holds two hosts: secret.test behind a bcrypt (cost 10) htpasswd and open.test
// without one. Paced load on open.test measures latency while an attacker sends wrong passwords
// to secret.test at a fixed rate, per variant:
//   no-attack             the baseline
//   attack-inline         verification on the main thread, no throttling (what proxyctl did before)
//   attack-pool           the worker pool, throttling off (what the pool alone buys)
//   attack-pool-throttle  the defaults: pool + 10 failures per address per 60 s
// The server is proxyctl's data plane (ProxyServer, RequestRouter, Reconciler with health checks)
// in a child process, both hosts routed to one node:http upstream in that process: what the proxy
// does per request, auth included, with the upstream hop on loopback.
import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import bcrypt from 'bcryptjs'
import { pino } from 'pino'
import { Pool } from 'undici'
import { BasicAuthStore } from '../src/proxy/basic-auth.ts'
import { ProxyServer } from '../src/proxy/proxy-server.ts'
import { Reconciler } from '../src/routing/reconciler.ts'
import { RouteTableStore } from '../src/routing/route-table-store.ts'
import { route } from '../test/support/proxy-harness.ts'
import { int, list, parseSettings } from './lib/cli.ts'
import { startPacedLoad, type Outcome } from './lib/paced-load.ts'
import { RUN_DIR, killOnExit, log, machineInfo, makeTempDir, mustRun, percentileSorted, round, waitFor, writeJson } from './lib/util.ts'

const VARIANTS = ['no-attack', 'attack-inline', 'attack-pool', 'attack-pool-throttle'] as const
type Variant = typeof VARIANTS[number]

if (process.argv[2] === '--serve') await serve()
else await main()

/** Server mode (a child process): AUTH_DIR, INLINE=1, MAX_FAILURES; prints {"port":N} when listening. */
async function serve (): Promise<void> {
  const store = new BasicAuthStore(process.env.AUTH_DIR!, pino({ level: 'warn' }), {
    inline: process.env.INLINE === '1',
    ...(process.env.MAX_FAILURES !== undefined ? { maxFailures: Number(process.env.MAX_FAILURES) } : {})
  })
  await store.load()
  const log = pino({ level: 'warn' })
  const body = Buffer.from('{"ok":true}')
  const upstream = createServer((req, res) => { req.resume(); res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length }).end(body) })
  upstream.keepAliveTimeout = 30_000
  await new Promise<void>((resolve) => { upstream.listen(0, '127.0.0.1', resolve) })
  const upPort = (upstream.address() as AddressInfo).port
  const tableStore = new RouteTableStore()
  const reconciler = new Reconciler(tableStore, { balancing: 'least-outstanding', defaultHost: undefined, drainTimeoutMs: 2_000, connectTimeoutMs: 1_000, responseTimeoutMs: 10_000 }, log)
  reconciler.apply({ routes: [route('open.test', [upPort]), route('secret.test', [upPort])] })
  await reconciler.probeAll(5_000)
  const server = new ProxyServer(tableStore, {
    host: '127.0.0.1', port: 0, trustDownstreamProxy: false, accessLog: false, requestHeadersTimeoutMs: 10_000,
    keepAliveTimeoutMs: 30_000, maxHeaderSize: 16_384, shutdownTimeoutMs: 1_000, auth: store
  }, log)
  const { port } = await server.listen()
  process.stdout.write(JSON.stringify({ port }) + '\n')
  process.on('SIGTERM', () => {
    process.stderr.write(JSON.stringify({ stats: store.stats }) + '\n')
    void server.stop().then(async () => { await reconciler.stop(); upstream.close(); await store.stop() }).then(() => process.exit(0))
  })
}

async function main (): Promise<void> {
  const s = parseSettings('bench/auth-starvation.ts', `p50/p99 of open.test while a client sends wrong bcrypt (cost 10) passwords to secret.test
on the same server, per variant (${VARIANTS.join(', ')}). Loopback only; the attacker is bounded by
rate x duration. Writes bench/results/<commit>/auth-starvation.json.`, {
    variants: { flag: 'variants', env: 'VARIANTS', help: 'variants to run', default: VARIANTS.join(',') },
    duration: { flag: 'duration', env: 'DURATION', help: 'seconds per variant', default: '10' },
    rate: { flag: 'rate', env: 'RATE', help: 'open.test requests per second (open loop)', default: '200' },
    attackRate: { flag: 'attack-rate', env: 'ATTACK_RATE', help: 'wrong passwords per second to secret.test', default: '50' },
    cost: { flag: 'cost', env: 'BCRYPT_COST', help: 'bcrypt cost of the htpasswd entry', default: '10' },
    out: { flag: 'out', env: 'AUTH_OUT', help: 'result file', default: join(RUN_DIR, 'auth-starvation.json') }
  })
  const variants = list(s.variants).map((v) => {
    if (!(VARIANTS as readonly string[]).includes(v)) throw new Error(`unknown variant ${v} (one of ${VARIANTS.join(', ')})`)
    return v as Variant
  })
  const durationMs = int(s.duration, 'duration') * 1000
  const dir = makeTempDir('pxb-auth-')
  writeFileSync(join(dir, 'secret.test'), `alice:${bcrypt.hashSync('right', int(s.cost, 'cost'))}\n`)
  const results = []
  for (const variant of variants) {
    const server = await startServer(dir, variant)
    try {
      // Warm-up: JIT, keep-alive connections and the pool's threads.
      await runLoad(server.port, int(s.rate, 'rate'), 1_000)
      await attack(server.port, 1, 1_000)
      const attacker = variant === 'no-attack' ? undefined : attack(server.port, int(s.attackRate, 'attack-rate'), durationMs)
      const [outcomes, attacked] = await Promise.all([runLoad(server.port, int(s.rate, 'rate'), durationMs), attacker])
      const lat = outcomes.filter((o) => o.status === 200).map((o) => o.end - o.t).sort((a, b) => a - b)
      const r = {
        variant,
        openHost: {
          requests: outcomes.length,
          ok: lat.length,
          failed: outcomes.length - lat.length,
          p50Ms: round(percentileSorted(lat, 50), 1),
          p90Ms: round(percentileSorted(lat, 90), 1),
          p99Ms: round(percentileSorted(lat, 99), 1),
          maxMs: round(lat[lat.length - 1] ?? NaN, 1)
        },
        attacker: attacked,
        server: await server.stop()
      }
      log(`${variant.padEnd(22)} open.test p50 ${r.openHost.p50Ms} ms, p99 ${r.openHost.p99Ms} ms, max ${r.openHost.maxMs} ms, failed ${r.openHost.failed}/${r.openHost.requests}; attacker ${JSON.stringify(attacked?.statuses ?? {})}`)
      results.push(r)
    } finally {
      await server.stop()
    }
  }
  const commit = (await mustRun('git', ['rev-parse', '--short', 'HEAD'])).trim()
  const dirty = (await mustRun('git', ['status', '--porcelain', '--', 'src/proxy', 'bench/auth-starvation.ts'])).trim() !== ''
  writeJson(s.out, {
    kind: 'auth-starvation',
    finished: new Date().toISOString(),
    commit: dirty ? `${commit}+dirty` : commit,
    node: process.version,
    machine: await machineInfo(),
    settings: { durationMs, rate: int(s.rate, 'rate'), attackRate: int(s.attackRate, 'attack-rate'), bcryptCost: int(s.cost, 'cost'), server: 'ProxyServer + RequestRouter + BasicAuthStore, one node:http upstream (loopback)' },
    results
  })
  log(`wrote ${s.out}`)
}

/** Open-loop load on open.test (latency counted from each request's scheduled time, so stalls show). */
async function runLoad (port: number, rate: number, durationMs: number): Promise<Outcome[]> {
  const load = startPacedLoad({
    origin: `http://127.0.0.1:${port}`, host: 'open.test', rate, connections: 20, postEvery: 0, postBytes: 0, postSpreadMs: 0, postChunks: 0, postDelayMs: 0,
    timeoutMs: 10_000, maxDurationMs: durationMs, maxRequests: Math.ceil(rate * durationMs / 1000)
  })
  await waitFor(() => load.now() >= durationMs, { timeoutMs: durationMs + 30_000, what: 'the load to run its course' })
  return await load.stop()
}

/** `rate` wrong passwords per second (each different: no cache, no sharing), at most rate x duration. */
async function attack (port: number, rate: number, durationMs: number): Promise<{ sent: number, statuses: Record<string, number> }> {
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 64, headersTimeout: 10_000, bodyTimeout: 10_000 })
  const statuses: Record<string, number> = {}
  const pending: Array<Promise<void>> = []
  const max = Math.ceil(rate * durationMs / 1000)
  const t0 = performance.now()
  let sent = 0
  while (sent < max && performance.now() - t0 < durationMs) {
    const due = Math.min(max, Math.floor((performance.now() - t0) * rate / 1000) + 1)
    while (sent < due) {
      const authorization = `Basic ${Buffer.from(`alice:guess-${sent++}`).toString('base64')}`
      const signal = AbortSignal.timeout(10_000)
      const count = (k: string | number): void => { statuses[k] = (statuses[k] ?? 0) + 1 }
      pending.push(pool.request({ method: 'GET', path: '/', headers: { host: 'secret.test', authorization }, signal })
        .then(async (res) => { await res.body.dump(); count(res.statusCode) },
          (err: { code?: string, name?: string }) => { count(signal.aborted ? 'CLIENT_TIMEOUT' : err.code ?? err.name ?? 'error') }))
    }
    await new Promise((resolve) => setTimeout(resolve, 2))
  }
  await Promise.all(pending)
  await pool.destroy()
  return { sent, statuses }
}

async function startServer (dir: string, variant: Variant): Promise<{ port: number, stop: () => Promise<unknown> }> {
  const env = { ...process.env, AUTH_DIR: dir, INLINE: variant === 'attack-inline' ? '1' : '0', ...(variant === 'attack-pool-throttle' ? {} : { MAX_FAILURES: '1000000000' }) }
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  killOnExit(child)
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const port = await new Promise<number>((resolve, reject) => {
    let out = ''
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
      const m = /\{"port":(\d+)\}/.exec(out)
      if (m !== null) resolve(Number(m[1]))
    })
    child.once('exit', (code) => { reject(new Error(`auth server exited with ${code}: ${stderr.slice(-2000)}`)) })
  })
  let stopped: Promise<unknown> | undefined
  return {
    port,
    stop: async () => {
      stopped ??= new Promise((resolve) => {
        child.once('exit', () => { resolve(/\{"stats":(\{[^}]*\})\}/.exec(stderr)?.[1] !== undefined ? JSON.parse(/\{"stats":(\{[^}]*\})\}/.exec(stderr)![1]!) : undefined) })
        child.kill('SIGTERM')
      })
      return await stopped
    }
  }
}
