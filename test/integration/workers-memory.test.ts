import { readFileSync } from 'node:fs'
import t, { type Test } from 'tap'
import { startFakeDocker } from '../support/fake-docker.ts'
import { freePort } from '../support/ports.ts'
import { spawnServe } from '../support/serve-process.ts'
import { workerExecArgv, workerMallocEnv } from '../../src/workers/worker-memory.ts'

// Issue 12, item 4: the primary starts its workers with a small young generation and one malloc
// arena (src/workers/worker-memory.ts), and a setting the user gave wins. Read from the running
// worker processes themselves (/proc/<pid>/cmdline and environ, Linux). Docker is a fake engine.

function processArgs (pid: number): string[] { return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((a) => a !== '') }
function processEnv (pid: number): Record<string, string> {
  return Object.fromEntries(readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter((e) => e.includes('=')).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]))
}

async function startWorkers (t: Test, env: Record<string, string>): Promise<{ primary: number, workers: number[] }> {
  const docker = await startFakeDocker(t, { containers: [] })
  const proxy = spawnServe(t, ['--port', String(await freePort()), '--workers', '2'], { DOCKER_HOST: docker.dockerHost, ...env })
  await proxy.waitForLog((l) => l.msg === 'Listening', 60_000)
  const workers = proxy.logs.filter((l) => l.msg === 'Worker listening').map((l) => l.workerPid as number)
  t.equal(workers.length, 2, 'two workers listening')
  return { primary: proxy.child.pid!, workers }
}

t.test('--workers 2: each worker runs with --max-semi-space-size=4 and a fixed trim threshold, the user\'s MALLOC_ARENA_MAX; the primary as started', async (t) => {
  const { primary, workers } = await startWorkers(t, { MALLOC_ARENA_MAX: '2', NODE_OPTIONS: '' })
  for (const pid of workers) {
    const args = processArgs(pid)
    t.ok(args.includes('--max-semi-space-size=4'), `worker ${pid}: ${args.join(' ')}`)
    t.ok(args.includes('--import=@tapjs/typescript/import'), 'the primary\'s own node flags are kept')
    const env = processEnv(pid)
    t.equal(env.MALLOC_ARENA_MAX, '2', 'the user\'s value')
    t.equal(env.MALLOC_TRIM_THRESHOLD_, '131072')
  }
  t.notOk(processArgs(primary).some((a) => a.startsWith('--max-semi-space-size')), 'the primary is not restarted with it')
})

t.test('--workers 2 without the variables: the workers get MALLOC_ARENA_MAX=1; a semi-space size in NODE_OPTIONS wins over the default', async (t) => {
  const env: Record<string, string> = { NODE_OPTIONS: '--max-semi-space-size=16' }
  const saved = { arena: process.env.MALLOC_ARENA_MAX, trim: process.env.MALLOC_TRIM_THRESHOLD_ }
  delete process.env.MALLOC_ARENA_MAX
  delete process.env.MALLOC_TRIM_THRESHOLD_
  t.teardown(() => {
    if (saved.arena !== undefined) process.env.MALLOC_ARENA_MAX = saved.arena
    if (saved.trim !== undefined) process.env.MALLOC_TRIM_THRESHOLD_ = saved.trim
  })
  const { workers } = await startWorkers(t, env)
  for (const pid of workers) {
    t.notOk(processArgs(pid).some((a) => a.startsWith('--max-semi-space-size')), 'no flag of ours beside the user\'s')
    const penv = processEnv(pid)
    t.match(penv.NODE_OPTIONS, /"?--max-semi-space-size=16"?( |$)/, 'the user\'s NODE_OPTIONS (tap adds its own --import, quoted)')
    t.equal(penv.MALLOC_ARENA_MAX, '1')
    t.equal(penv.MALLOC_TRIM_THRESHOLD_, '131072')
  }
})

t.test('workerExecArgv and workerMallocEnv: the user\'s setting wins, in any spelling node accepts', async (t) => {
  t.same(workerExecArgv([], undefined), ['--max-semi-space-size=4'])
  t.same(workerExecArgv(['--enable-source-maps'], ''), ['--enable-source-maps', '--max-semi-space-size=4'])
  t.same(workerExecArgv(['--max-semi-space-size=8'], undefined), ['--max-semi-space-size=8'])
  t.same(workerExecArgv(['--max_semi_space_size=8'], undefined), ['--max_semi_space_size=8'])
  t.same(workerExecArgv([], '--max-old-space-size=512 --max-semi-space-size 16'), [])
  t.same(workerExecArgv([], '"--max-semi-space-size=16" "--import=x.mjs"'), [], 'quoted, as tap writes NODE_OPTIONS')
  t.same(workerExecArgv([], '--max-semi-space-size-other=1'), ['--max-semi-space-size=4'], 'another flag with that prefix is not it')
  t.same(workerMallocEnv({}), { MALLOC_ARENA_MAX: '1', MALLOC_TRIM_THRESHOLD_: '131072' })
  t.same(workerMallocEnv({ MALLOC_ARENA_MAX: '4' }), { MALLOC_TRIM_THRESHOLD_: '131072' })
  t.same(workerMallocEnv({ MALLOC_ARENA_MAX: '2', MALLOC_TRIM_THRESHOLD_: '0' }), {})
})
