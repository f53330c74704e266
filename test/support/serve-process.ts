import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import { collectOutput, type LogLine } from './proxy-process.ts'
import { waitFor } from './wait.ts'

// `proxyctl serve` from the source tree (under the TypeScript loader tap uses, which its worker
// processes inherit), for tests of the process's own start and stop: nothing waited for, every
// log line and the exit kept. proxy-process.ts runs the built CLI and returns once it listens.

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const MAIN = join(ROOT, 'src/cli/main.ts')

export interface ServeProcess {
  child: ChildProcess
  logs: LogLine[]
  stderr: () => string
  /** The exit code, or the signal that ended it. */
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  waitForLog: (pred: (l: LogLine) => boolean, timeoutMs?: number) => Promise<LogLine>
}

export function spawnServe (t: Test, args: string[], env: Record<string, string>): ServeProcess {
  const dir = mkdtempSync(join(tmpdir(), 'proxyctl-serve-'))
  const child = spawn(process.execPath, ['--import=@tapjs/typescript/import', MAIN, 'serve', '--host', '127.0.0.1', '--admin-socket', join(dir, 'admin.sock'), '--https-port', 'off', ...args], {
    cwd: ROOT,
    env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const { logs, stderr } = collectOutput(child)
  // SERVE_PROCESS_ECHO=1: the proxy's output on the test's stderr as it comes (debugging a test).
  if (process.env.SERVE_PROCESS_ECHO === '1') { child.stdout!.pipe(process.stderr, { end: false }); child.stderr!.pipe(process.stderr, { end: false }) }
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => { resolve({ code, signal }) })
  })
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await exited
  })
  const waitForLog = async (pred: (l: LogLine) => boolean, timeoutMs = 30_000): Promise<LogLine> =>
    await waitFor(() => logs.find(pred), { timeoutMs, what: `a proxy log line (stderr: ${stderr().slice(-500)})` })
  return { child, logs, stderr, exited, waitForLog }
}
