import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { ChildMessage, ParentMessage, UpstreamRecord } from './fuzz-protocol.ts'

const TARGET = fileURLToPath(new URL('./fuzz-target.ts', import.meta.url))
const ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** The proxy under fuzz, in its own process: `exited` is set the moment it dies. */
export interface FuzzChild {
  port: number
  httpsPort: number
  /** 1: the single process; 2: a primary and two worker processes (issue 12). */
  workers: number
  /** Every upstream record since the last take(). */
  take (): UpstreamRecord[]
  /** Resolves once every record the child sent before now has arrived (IPC keeps order), with the requests held per paused host now. */
  sync (timeoutMs?: number): Promise<Record<string, number>>
  exited: { code: number | null, signal: NodeJS.Signals | null } | undefined
  /** Whole log lines the primary wrote (worker processes' lines through its relay), as of the last sync. */
  logLines: number
  /** The child's last output (stderr and logs), for a failure report. */
  output (): string
  stop (): Promise<void>
}

export async function startFuzzChild (opts: { logLevel?: string, workers?: number } = {}): Promise<FuzzChild> {
  // The same TypeScript loader as tap and the benches; no typecheck in the child.
  const child: ChildProcess = spawn(process.execPath, ['--import=@tapjs/typescript/import', TARGET], {
    cwd: ROOT,
    env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1', TEST_LOG_LEVEL: opts.logLevel ?? 'error', FUZZ_WORKERS: String(opts.workers ?? 1) },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc']
  })
  let out = ''
  const keep = (c: Buffer): void => { out = (out + c.toString('utf8')).slice(-20_000) }
  child.stdout!.on('data', keep)
  child.stderr!.on('data', keep)
  let records: UpstreamRecord[] = []
  let syncN = 0
  const waiting = new Map<number, (held: Record<string, number>) => void>()
  const handle: FuzzChild = {
    port: 0,
    httpsPort: 0,
    workers: opts.workers ?? 1,
    logLines: 0,
    exited: undefined,
    take: () => { const r = records; records = []; return r },
    sync: async (timeoutMs = 5_000) => {
      if (handle.exited !== undefined) throw new Error('the proxy process has exited')
      const n = ++syncN
      return await new Promise<Record<string, number>>((resolve, reject) => {
        const timer = setTimeout(() => { waiting.delete(n); reject(new Error(`the proxy process did not answer an IPC sync within ${timeoutMs} ms (event loop blocked?)`)) }, timeoutMs)
        waiting.set(n, (held) => { clearTimeout(timer); resolve(held) })
        child.send({ type: 'sync', n } satisfies ParentMessage)
      })
    },
    output: () => out,
    stop: async () => {
      if (handle.exited !== undefined) return
      const gone = new Promise<void>((resolve) => child.once('exit', () => { resolve() }))
      // Worker processes are the child's children: killed with it they were seen to stay, still
      // listening (blocked in exit under the TypeScript loader). Closing IPC makes the child stop its
      // pool, which kills a worker that does not exit in time; SIGKILL only after that bound.
      const graceMs = handle.workers > 1 && child.connected ? 10_000 : 0
      if (graceMs > 0) child.disconnect()
      const timer = setTimeout(() => { child.kill('SIGKILL') }, graceMs)
      await gone
      clearTimeout(timer)
    }
  }
  const exit = new Promise<never>((_resolve, reject) => {
    child.once('exit', (code, signal) => {
      handle.exited = { code, signal }
      for (const w of waiting.values()) w({})
      reject(new Error(`the proxy process exited (${code ?? signal}) before it was ready:\n${out}`))
    })
  })
  exit.catch(() => {})
  const ready = new Promise<Extract<ChildMessage, { type: 'ready' }>>((resolve) => {
    child.on('message', (m: ChildMessage) => {
      if (m.type === 'record') records.push(m.record)
      else if (m.type === 'synced') { handle.logLines = m.logLines; waiting.get(m.n)?.(m.held) }
      else if (m.type === 'ready') resolve(m)
    })
  })
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error(`the proxy process was not ready within 60 s:\n${out}`)) }, 60_000) })
  try {
    const r = await Promise.race([ready, exit, timeout])
    handle.port = r.port
    handle.httpsPort = r.httpsPort
  } catch (err) {
    await handle.stop()
    throw err
  } finally {
    clearTimeout(timer)
  }
  return handle
}
