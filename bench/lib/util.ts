import { waitFor as pollUntil } from '../../test/support/wait.ts'
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, writeFileSync, chmodSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Client } from 'undici'

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))
export const BENCH_DIR = join(REPO_ROOT, 'bench')
export const RESULTS_DIR = join(BENCH_DIR, 'results')
/**
 * The commit a run measures: BENCH_COMMIT (run-all sets it, e.g. for BENCH_BUILD=head), else HEAD's
 * short hash, with "-dirty" when src/ has uncommitted changes (the build then is not that commit).
 */
export const BENCH_COMMIT = process.env.BENCH_COMMIT ?? (() => {
  const git = (...args: string[]): string => spawnSync('git', ['-C', REPO_ROOT, ...args], { encoding: 'utf8' }).stdout.trim()
  return git('rev-parse', '--short', 'HEAD') + (git('status', '--porcelain', '--', 'src') === '' ? '' : '-dirty')
})()
/** Where a run's result files go: bench/results/<commit>/ (committed), one directory per measured commit. */
export const RUN_DIR = join(RESULTS_DIR, BENCH_COMMIT)
/** Per-request raw outcomes and other large by-products: never committed (.gitignore: bench/results/tmp/). */
export const SCRATCH_DIR = join(RESULTS_DIR, 'tmp')
/** The proxyctl under test: dist/ of this checkout, or PROXYCTL_CLI (run-all's BUILD=head sets it). */
export const CLI = process.env.PROXYCTL_CLI ?? join(REPO_ROOT, 'dist', 'cli', 'main.js')

/** Every container and network a bench creates carries this label (the test suite deletes its own, not these). */
export const BENCH_LABEL_KEY = 'com.proxyctl.bench'
export const BENCH_LABEL = `${BENCH_LABEL_KEY}=1`

export const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

export function log (msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`)
}

/** The test suite's poll-with-deadline, with the bench's longer defaults. */
export async function waitFor<T> (fn: () => T | Promise<T>, opts: { timeoutMs?: number, intervalMs?: number, what?: string } = {}): Promise<NonNullable<T>> {
  return await pollUntil(fn, { timeoutMs: 15_000, intervalMs: 100, ...opts })
}

export interface RunResult { code: number, stdout: string, stderr: string }

export async function run (cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv, cwd?: string, timeoutMs?: number } = {}): Promise<RunResult> {
  return await new Promise((resolve) => {
    execFile(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1
      resolve({ code, stdout: String(stdout), stderr: String(stderr) + (err !== null && code === 1 && stderr === '' ? err.message : '') })
    })
  })
}

export async function mustRun (cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv, cwd?: string, timeoutMs?: number } = {}): Promise<string> {
  const r = await run(cmd, args, opts)
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.code}): ${r.stderr.trim().split('\n').slice(-5).join('\n')}`)
  return r.stdout
}

export async function docker (...args: string[]): Promise<string> {
  return (await mustRun('docker', args)).trim()
}

export async function containerIp (name: string): Promise<string> {
  const ip = await docker('inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}', name)
  const first = ip.split(' ').find((s) => s !== '')
  if (first === undefined) throw new Error(`container ${name} has no IP address`)
  return first
}

/** Removes bench containers (by label and name prefix), e.g. left over by an interrupted run. */
export async function removeBenchContainers (namePrefix: string): Promise<void> {
  const ids = (await docker('ps', '-aq', '--filter', `label=${BENCH_LABEL}`, '--filter', `name=^${namePrefix}`)).split('\n').filter(Boolean)
  if (ids.length > 0) await run('docker', ['rm', '-f', ...ids])
}

export async function imageExists (image: string): Promise<boolean> {
  return (await run('docker', ['image', 'inspect', image])).code === 0
}

export async function composeBinary (): Promise<string[]> {
  if ((await run('docker', ['compose', 'version'])).code === 0) return ['docker', 'compose']
  if ((await run('docker-compose', ['version'])).code === 0) return ['docker-compose']
  throw new Error('neither "docker compose" nor "docker-compose" is installed (apt-get install docker-compose)')
}

export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address()
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0
      s.close(() => { resolve(port) })
    })
  })
}

export function makeTempDir (prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  chmodSync(dir, 0o755) // nginx workers run unprivileged and read files here
  return dir
}

export function writeJson (path: string, value: unknown): void {
  mkdirSync(dirname(path), { recursive: true })
  writeFileSync(path, JSON.stringify(value, null, 2) + '\n')
}

export function readJson<T> (path: string): T | undefined {
  if (!existsSync(path)) return undefined
  return JSON.parse(readFileSync(path, 'utf8')) as T
}

export function median (xs: readonly number[]): number {
  if (xs.length === 0) return NaN
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

/** Nearest-rank percentile of an already sorted array. */
export function percentileSorted (sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[rank]!
}

export const round = (n: number, digits = 0): number => { const f = 10 ** digits; return Math.round(n * f) / f }

// ---------------------------------------------------------------- processes

/** Peak memory of a process: VmHWM (the kernel's high-water mark) and the largest VmRSS seen. */
export class RssMonitor {
  readonly #pid: number
  readonly #timer: NodeJS.Timeout
  maxRssKb = 0
  hwmKb = 0

  constructor (pid: number, intervalMs = 200) {
    this.#pid = pid
    this.#timer = setInterval(() => { this.sample() }, intervalMs)
    this.#timer.unref()
    this.sample()
  }

  sample (): void {
    try {
      const s = readFileSync(`/proc/${this.#pid}/status`, 'utf8')
      const rss = /VmRSS:\s+(\d+)/.exec(s)
      const hwm = /VmHWM:\s+(\d+)/.exec(s)
      if (rss !== null) this.maxRssKb = Math.max(this.maxRssKb, Number(rss[1]))
      if (hwm !== null) this.hwmKb = Math.max(this.hwmKb, Number(hwm[1]))
    } catch {}
  }

  /** Largest RSS since the last reset (a window's peak; VmHWM covers the whole life). */
  resetWindow (): void { this.maxRssKb = 0; this.sample() }

  stop (): void { this.sample(); clearInterval(this.#timer) }
}

// Children die with the bench, even when it crashes: 'exit' handlers run synchronously on any exit.
const children = new Set<ChildProcess>()
process.on('exit', () => { for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM') })
export function killOnExit (child: ChildProcess): void {
  children.add(child)
  child.once('exit', () => children.delete(child))
}

export interface Proc {
  child: ChildProcess
  pid: number
  stop (signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>
}

/** Spawns with stdout+stderr appended to `logFile` (a file, like nginx's access.log; not a pipe we must drain). */
export function spawnLogged (cmd: string, args: string[], logFile: string, env: NodeJS.ProcessEnv = process.env): Proc {
  const fd = openSync(logFile, 'a')
  const child = spawn(cmd, args, { env, stdio: ['ignore', fd, fd] })
  closeSync(fd)
  killOnExit(child)
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => { resolve(code) }))
  return {
    child,
    pid: child.pid ?? -1,
    stop: async (signal = 'SIGTERM', timeoutMs = 15_000) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      const t = setTimeout(() => { child.kill('SIGKILL') }, timeoutMs)
      const code = await exited
      clearTimeout(t)
      return code
    }
  }
}

export interface ProxyctlProcess extends Proc {
  port: number
  adminSocket: string
  logFile: string
}

/**
 * The memory settings the image gives proxyctl (the Dockerfile's ENV NODE_OPTIONS and MALLOC_*),
 * read from the Dockerfile so that the bench runs the host process as the image runs it.
 */
export function imageMemoryEnv (): Record<string, string> {
  const env: Record<string, string> = {}
  const dockerfile = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8')
  for (const line of dockerfile.split('\n')) {
    if (!line.startsWith('ENV ')) continue
    for (const [, k, v] of line.slice(4).matchAll(/(\w+)=(\S+)/g)) if (k === 'NODE_OPTIONS' || k!.startsWith('MALLOC_')) env[k!] = v!
  }
  return env
}

/** `proxyctl serve` from dist/ on 127.0.0.1, logs (JSON lines, access log included) to a file. */
export async function startProxyctl (opts: { dir: string, name: string, accessLog: boolean, extraArgs?: string[], nodeArgs?: string[], env?: Record<string, string> }): Promise<ProxyctlProcess> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" first`)
  const port = await freePort()
  const adminSocket = join(opts.dir, `${opts.name}.sock`)
  const logFile = join(opts.dir, `${opts.name}.log`)
  const args = [...(opts.nodeArgs ?? []), CLI, 'serve', '--host', '127.0.0.1', '--port', String(port), '--admin-socket', adminSocket, ...(opts.accessLog ? [] : ['--no-access-log']), ...(opts.extraArgs ?? [])]
  const proc = spawnLogged(process.execPath, args, logFile, { ...process.env, ...imageMemoryEnv(), LOG_LEVEL: 'info', ACCESS_LOG: opts.accessLog ? 'on' : 'off', HTTPS_PORT: 'off', ...opts.env })
  try {
    await waitFor(() => {
      if (proc.child.exitCode !== null) throw new Error(`proxyctl exited with ${proc.child.exitCode}: ${readFileSync(logFile, 'utf8').slice(-2000)}`)
      return readFileSync(logFile, 'utf8').includes('"msg":"Listening"')
    }, { timeoutMs: 30_000, what: `proxyctl ${opts.name} to listen (log ${logFile})` })
  } catch (err) {
    await proc.stop('SIGKILL', 5_000)
    throw err
  }
  return { ...proc, port, adminSocket, logFile }
}

export interface UpstreamState { name: string, origin: string, state: string, containerId: string }
export interface ProxyStatus { hosts: Array<{ host: string }>, upstreams: UpstreamState[] }

export async function proxyctlStatus (adminSocket: string): Promise<ProxyStatus> {
  const client = new Client('http://proxyctl.admin', { socketPath: adminSocket })
  try {
    const res = await client.request({ method: 'GET', path: '/v1/status' })
    return await res.body.json() as ProxyStatus
  } finally {
    await client.close()
  }
}

/** Waits until proxyctl routes `host` to a ready upstream (or until `predicate` holds). */
export async function waitForProxyctlHost (adminSocket: string, host: string, present = true, timeoutMs = 30_000): Promise<void> {
  await waitFor(async () => {
    const s = await proxyctlStatus(adminSocket)
    const has = s.hosts.some((h) => h.host === host)
    return present ? has && s.upstreams.some((u) => u.state === 'ready') : !has
  }, { timeoutMs, what: `proxyctl ${present ? 'to route' : 'to drop'} ${host}` })
}

/**
 * Compiles a self-contained bench script (no local imports) to bench/.build/NAME.mjs, so it runs
 * under bare `node` like proxyctl's dist/: no TypeScript loader in its memory or start-up.
 */
export async function compileStandalone (tsFile: string): Promise<string> {
  const ts = (await import('typescript')).default
  const out = join(BENCH_DIR, '.build', tsFile.split('/').pop()!.replace(/\.ts$/, '.mjs'))
  const js = ts.transpileModule(readFileSync(tsFile, 'utf8'), {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, esModuleInterop: true }
  }).outputText
  mkdirSync(dirname(out), { recursive: true })
  writeFileSync(out, `// generated by bench/lib/util.ts from ${tsFile.split('/').pop()!}, do not edit\n${js}`)
  return out
}

// ---------------------------------------------------------------- nginx

/**
 * A tool from a Debian package: `envVar`'s path or the first of `paths` that exists, else (as root
 * with apt-get) the package installed, else an error saying what to install.
 */
export async function ensureAptTool (tool: { name: string, envVar: string, paths: string[], pkg: string, afterInstall?: () => Promise<unknown> }): Promise<string> {
  for (const p of [process.env[tool.envVar], ...tool.paths]) {
    if (p !== undefined && p !== '' && existsSync(p)) return p
  }
  const isRoot = process.getuid?.() === 0
  const hasApt = existsSync('/usr/bin/apt-get')
  if (!isRoot || !hasApt) {
    throw new Error(`${tool.name} is not installed: run "apt-get install -y ${tool.pkg}" (Debian/Ubuntu) or set ${tool.envVar} to a ${tool.name} binary`)
  }
  log(`${tool.name} not found: apt-get install -y ${tool.pkg}`)
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  let r = await run('apt-get', ['install', '-y', '--no-install-recommends', tool.pkg], { env, timeoutMs: 600_000 })
  if (r.code !== 0) {
    await run('apt-get', ['update'], { env, timeoutMs: 600_000 })
    r = await run('apt-get', ['install', '-y', '--no-install-recommends', tool.pkg], { env, timeoutMs: 600_000 })
  }
  const installed = tool.paths[0]!
  if (r.code !== 0 || !existsSync(installed)) throw new Error(`apt-get install ${tool.pkg} failed: ${r.stderr.slice(-1000)}`)
  await tool.afterInstall?.()
  return installed
}

/** The Debian nginx binary; installs nginx-light with apt-get when missing and we are root. */
export async function ensureNginx (): Promise<string> {
  return await ensureAptTool({
    name: 'nginx',
    envVar: 'NGINX_BIN',
    paths: ['/usr/sbin/nginx', '/usr/local/sbin/nginx'],
    pkg: 'nginx-light',
    // The package starts a system nginx on :80; the benches run their own instances.
    afterInstall: async () => await run('systemctl', ['disable', '--now', 'nginx'])
  })
}

/** User for nginx workers when the master runs as root. */
export function nginxUserDirective (): string {
  if (process.getuid?.() !== 0) return ''
  const passwd = readFileSync('/etc/passwd', 'utf8')
  if (/^www-data:/m.test(passwd)) return 'user www-data;'
  return 'user nobody;'
}

export async function nginxVersion (bin: string): Promise<string> {
  const r = await run(bin, ['-v'])
  return (r.stderr + r.stdout).trim().replace(/^nginx version: /, '')
}

/** Starts an nginx master in the foreground with the given config file, prefix `dir`. */
export async function startNginx (bin: string, dir: string, conf: string, name: string): Promise<Proc> {
  const t = await run(bin, ['-t', '-p', dir, '-c', conf])
  if (t.code !== 0) throw new Error(`nginx -t failed for ${conf}: ${t.stderr}`)
  return spawnLogged(bin, ['-p', dir, '-c', conf, '-g', 'daemon off;'], join(dir, `${name}.stderr.log`))
}

// ---------------------------------------------------------------- machine

/** The 1-minute load average. */
export const loadAverage1 = (): number => Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0])

/**
 * On a shared machine, waits (at most `maxWaitS`) until the 1-minute load average is below `limit`;
 * `limit` <= 0 does not wait. Returns the load average it stopped at.
 */
export async function waitForQuiet (limit: number, maxWaitS: number): Promise<number> {
  let load = loadAverage1()
  if (!(limit > 0) || load < limit) return load
  log(`load average ${load} >= ${limit}: waiting up to ${maxWaitS} s for a quieter machine`)
  const deadline = Date.now() + maxWaitS * 1000
  while (load >= limit && Date.now() < deadline) {
    await sleep(5_000)
    load = loadAverage1()
  }
  log(`load average now ${load}${load >= limit ? ' (gave up waiting)' : ''}`)
  return load
}

export async function machineInfo (): Promise<Record<string, string>> {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8')
  const model = /model name\s*:\s*(.+)/.exec(cpuinfo)?.[1]?.trim() ?? 'unknown'
  const mem = /MemTotal:\s+(\d+)/.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1]
  const os = /PRETTY_NAME="([^"]+)"/.exec(existsSync('/etc/os-release') ? readFileSync('/etc/os-release', 'utf8') : '')?.[1] ?? ''
  const nginx = existsSync('/usr/sbin/nginx') ? await nginxVersion('/usr/sbin/nginx') : 'not installed'
  const dockerVersion = (await run('docker', ['version', '--format', '{{.Server.Version}}'])).stdout.trim()
  const nproc = (await run('nproc', [])).stdout.trim()
  return {
    nproc,
    cpu: model,
    memory: mem !== undefined ? `${Math.round(Number(mem) / 1024 / 1024)} GB` : 'unknown',
    os,
    node: process.version,
    nginx,
    docker: dockerVersion,
    proxyctl: process.env.PROXYCTL_BUILD ?? CLI,
    load: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')
  }
}
