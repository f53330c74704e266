import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { openSync, readFileSync } from 'node:fs'
import { waitFor } from './wait.ts'

export function liveRestoreEnabled (): boolean {
  const r = spawnSync('docker', ['info', '-f', '{{.LiveRestoreEnabled}}'], { encoding: 'utf8' })
  return r.stdout.trim() === 'true'
}

function dockerdPid (): number | undefined {
  const r = spawnSync('pgrep', ['-x', 'dockerd'], { encoding: 'utf8' })
  const pid = Number(r.stdout.trim().split('\n')[0])
  return Number.isInteger(pid) && pid > 0 ? pid : undefined
}

/**
 * Stops dockerd and starts it again with the same command line (containers survive with
 * --live-restore). `whileDown` runs while no engine answers.
 */
export async function restartDockerd (whileDown: () => Promise<void>): Promise<void> {
  const pid = dockerdPid()
  if (pid === undefined) throw new Error('no dockerd process found to restart')
  const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((a) => a !== '')
  process.kill(pid, 'SIGTERM')
  await waitFor(() => dockerdPid() === undefined, { timeoutMs: 30_000, what: 'dockerd to exit' })
  await whileDown()
  const log = openSync('/tmp/proxyctl-dockerd.log', 'a')
  const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', log, log] })
  child.unref()
  await waitFor(() => spawnSync('docker', ['info'], { stdio: 'ignore' }).status === 0, { timeoutMs: 60_000, what: 'dockerd to answer again' })
  execFileSync('docker', ['version'], { stdio: 'ignore' })
}
