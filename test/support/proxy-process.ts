import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import { waitFor } from './wait.ts'

export const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url))

export interface LogLine { msg?: string, level?: number, [k: string]: unknown }

/** A proxy's stdout as parsed JSON lines (a line that is not JSON kept as its msg) and its stderr so far. */
export function collectOutput (child: ChildProcess): { logs: LogLine[], stderr: () => string } {
  const logs: LogLine[] = []
  let err = ''
  let buf = ''
  child.stdout!.on('data', (c: Buffer) => {
    buf += c.toString('utf8')
    let nl: number
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl)
      buf = buf.slice(nl + 1)
      try { logs.push(JSON.parse(line) as LogLine) } catch { logs.push({ msg: line }) }
    }
  })
  child.stderr!.on('data', (c: Buffer) => { err += c.toString('utf8') })
  return { logs, stderr: () => err }
}

export interface ProxyProcess {
  port: number
  httpsPort: number
  adminSocket: string
  child: ChildProcess
  logs: LogLine[]
  stderr: () => string
  waitForLog (pred: (l: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>
  stop (): Promise<number | null>
}

/** The built CLI running `proxyctl serve` on 127.0.0.1, port chosen by the OS. */
export async function startProxyProcess (t: Test, opts: { args?: string[], env?: Record<string, string> } = {}): Promise<ProxyProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'proxyctl-'))
  const adminSocket = join(dir, 'admin.sock')
  const child = spawn(process.execPath, [CLI, 'serve', '--host', '127.0.0.1', '--port', '0', '--admin-socket', adminSocket, '--https-port', '0', ...(opts.args ?? [])], {
    env: { ...process.env, LOG_LEVEL: 'info', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const { logs, stderr } = collectOutput(child)
  let stopping = false
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code, signal) => {
    if (!stopping) console.error(`# proxy exited unexpectedly (${code ?? signal}); stderr:\n${stderr()}\nlast logs:\n${logs.slice(-5).map((l) => JSON.stringify(l)).join('\n')}`)
    resolve(code)
  }))
  const waitForLog = async (pred: (l: LogLine) => boolean, timeoutMs = 15_000): Promise<LogLine> =>
    await waitFor(() => logs.find(pred), { timeoutMs, what: `a proxy log line (stderr: ${stderr().slice(-500)})` })
  const stop = async (): Promise<number | null> => {
    stopping = true
    if (child.exitCode === null) child.kill('SIGTERM')
    return await exited
  }
  t.teardown(stop)
  const listening = await Promise.race([
    waitForLog((l) => l.msg === 'Listening', 30_000),
    exited.then((code) => { throw new Error(`proxy exited with ${code}: ${stderr()}`) })
  ])
  return { port: listening.port as number, httpsPort: listening.httpsPort as number, adminSocket, child, logs, stderr, waitForLog, stop }
}
