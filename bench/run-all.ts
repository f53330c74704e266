// `npm run bench`: checks prerequisites, builds the proxy, runs every bench (each in its own
// process, as it would run alone) with its results into bench/results/<commit>/, then writes the
// results section of bench/README.md.
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, rmSync, symlinkSync } from 'node:fs'
import { join, resolve as resolvePath } from 'node:path'
import { list, parseSettings } from './lib/cli.ts'
import { BENCH_DIR, REPO_ROOT, RESULTS_DIR, ensureNginx, imageExists, log, mustRun, run, waitForQuiet } from './lib/util.ts'

const STEPS = ['lookup', 'memory', 'throughput', 'balancing', 'rollout', 'swarm', 'report'] as const

const s = parseSettings('npm run bench [-- options]', `Runs ${STEPS.join(', ')} in order. Every bench's own settings come from env (see
each script's --help, e.g. DURATION=10 ROUNDS=5 RATE=500 ROLLOUTS=7 npm run bench).`, {
  only: { flag: 'only', env: 'BENCH_ONLY', help: `comma-separated subset of ${STEPS.join(', ')}`, default: STEPS.join(',') },
  quietLoad: { flag: 'quiet-load', env: 'BENCH_QUIET_LOAD', help: 'before each bench, wait (bounded) until the 1-minute load average is below this; 0 = do not wait', default: '0' },
  quietWaitS: { flag: 'quiet-wait', env: 'BENCH_QUIET_WAIT_S', help: 'longest wait for a quiet machine, seconds', default: '600' },
  build: { flag: 'build', env: 'BENCH_BUILD', help: 'worktree (npm run build), head (build the last commit\'s src/ into bench/.build, leaving dist/ alone), none (use dist/ as is)', default: 'worktree' }
})

async function step (name: string, script: string, args: string[] = []): Promise<void> {
  if (name !== 'report') await waitForQuiet(Number(s.quietLoad), Number(s.quietWaitS))
  const started = Date.now()
  log(`--- ${name}: ${script} ${args.join(' ')}`)
  const code = await new Promise<number>((resolve) => {
    const child = spawn(process.execPath, [...process.execArgv, resolvePath(BENCH_DIR, script), ...args], { stdio: 'inherit', cwd: REPO_ROOT, env: process.env })
    child.on('close', (c) => { resolve(c ?? 1) })
  })
  if (code !== 0) throw new Error(`${script} failed with exit code ${code}`)
  log(`--- ${name} done in ${Math.round((Date.now() - started) / 1000)} s`)
}

async function prerequisites (steps: string[]): Promise<void> {
  const needsDocker = steps.includes('throughput') || steps.includes('rollout') || steps.includes('balancing') || steps.includes('swarm')
  if (!needsDocker) return
  if ((await run('docker', ['version', '--format', '{{.Server.Version}}'])).code !== 0) {
    throw new Error('no Docker engine answers: start dockerd (scripts/ensure-docker.sh does, as root) or set DOCKER_HOST')
  }
  if (!(await imageExists('node:24-bookworm-slim'))) {
    log('node:24-bookworm-slim missing: scripts/ensure-base-image.sh')
    await mustRun('bash', [join(REPO_ROOT, 'scripts', 'ensure-base-image.sh')], { timeoutMs: 900_000 })
  }
  if ((steps.includes('rollout') || steps.includes('balancing') || steps.includes('swarm')) && !(await imageExists(process.env.APP_IMAGE ?? 'proxyctl-test-app:dev'))) {
    log('proxyctl-test-app:dev missing: docker build test/app')
    await mustRun('docker', ['build', '-t', 'proxyctl-test-app:dev', join(REPO_ROOT, 'test', 'app')], { timeoutMs: 900_000 })
  }
  await ensureNginx()
  if ((await run('curl', ['--version'])).code !== 0) throw new Error('curl is missing (the seed recipe polls /hc with it): apt-get install -y curl')
}

/** The route-lookup script to run: the work tree's, or (BENCH_BUILD=head) the archived commit's, beside its src/. */
let lookupScript = join(BENCH_DIR, 'route-lookup.ts')

async function build (mode: string): Promise<void> {
  if (mode === 'none') return
  if (mode === 'worktree') {
    log('npm run build')
    await mustRun('npm', ['run', 'build'], { cwd: REPO_ROOT, timeoutMs: 600_000 })
    return
  }
  if (mode !== 'head') throw new Error(`BENCH_BUILD must be worktree, head or none, got ${mode}`)
  // Someone is editing src/: measure the last commit instead, compiled aside.
  const dir = join(BENCH_DIR, '.build')
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  const rev = (await mustRun('git', ['-C', REPO_ROOT, 'rev-parse', '--short', 'HEAD'])).trim()
  // bench/ and test/support/ too: the route-lookup micro-benchmark imports src/ directly, so it runs from here.
  await mustRun('bash', ['-c', `git -C "${REPO_ROOT}" archive ${rev} src bench test/support tsconfig.json package.json | tar -x -C "${dir}"`])
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules'))
  await mustRun(process.execPath, [join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(dir, 'tsconfig.json')], { timeoutMs: 600_000 })
  lookupScript = join(dir, 'bench', 'route-lookup.ts')
  process.env.PROXYCTL_CLI = join(dir, 'dist', 'cli', 'main.js')
  process.env.PROXYCTL_BUILD = `commit ${rev} (BENCH_BUILD=head)`
  process.env.BENCH_COMMIT = rev
  log(`built HEAD (${rev}) into ${dir}`)
}

const steps = list(s.only)
for (const x of steps) if (!(STEPS as readonly string[]).includes(x)) throw new Error(`unknown step ${x}`)
const started = Date.now()
await prerequisites(steps)
if (steps.some((x) => x !== 'report')) await build(s.build)
if (process.env.PROXYCTL_BUILD === undefined) {
  const rev = (await run('git', ['-C', REPO_ROOT, 'rev-parse', '--short', 'HEAD'])).stdout.trim()
  const dirty = (await run('git', ['-C', REPO_ROOT, 'status', '--porcelain', 'src'])).stdout.trim() !== ''
  process.env.PROXYCTL_BUILD = `${existsSync(join(REPO_ROOT, 'dist')) ? 'dist/' : '?'} of ${rev}${dirty ? ' + uncommitted src/ changes' : ''}`
  process.env.BENCH_COMMIT ??= `${rev}${dirty ? '-dirty' : ''}`
}
log(`results into bench/results/${process.env.BENCH_COMMIT}/`)
if (steps.includes('lookup')) await step('route lookup', lookupScript, ['--out', join(RESULTS_DIR, process.env.BENCH_COMMIT!, 'route-lookup.json')])
if (steps.includes('memory')) await step('memory floor', 'memory-floor.ts')
if (steps.includes('throughput')) await step('throughput', 'proxy-throughput.ts')
if (steps.includes('balancing')) await step('balancing', 'balancing.ts')
if (steps.includes('rollout')) await step('rollouts', 'deploy-under-load.ts')
if (steps.includes('swarm')) await step('swarm rollouts', 'swarm-rollout.ts')
if (steps.includes('report')) await step('report', 'report.ts')
log(`all done in ${Math.round((Date.now() - started) / 1000)} s`)
