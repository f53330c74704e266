import { readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'

// Where a round's CPU went on a machine whose cores the proxy shares with its load generator and
// its upstream: a proxy can only scale with workers into cores the others leave idle. Read from
// /proc: the machine's busy ticks (/proc/stat), the load generator (this process, autocannon runs
// in it, plus children it has waited for, h2load: /proc/self/stat utime+stime+cutime+cstime), and
// the server's and upstream's process trees (a caller's cpuMs functions).

const TICK_MS = 10 // USER_HZ is 100 on every Linux architecture Node runs on

/** The machine's busy CPU time so far (every core; idle and iowait left out), in ms. */
export function machineBusyMs (): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number)
  // user nice system idle iowait irq softirq steal (guest time is already inside user)
  const busy = f[0]! + f[1]! + f[2]! + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0)
  return busy * TICK_MS
}

/** This process's CPU time and that of the children it has waited for, in ms. */
export function selfAndChildrenMs (): number {
  const s = readFileSync('/proc/self/stat', 'utf8')
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ')
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) * TICK_MS
}

/** Cores (CPU seconds per second) each part used during one window. */
export interface CpuSplit {
  cores: number
  busy: number
  server: number | undefined
  loadGenerator: number
  upstream: number | undefined
  /** busy minus the named parts: the kernel's softirq work for other processes, Docker, the rest. */
  other: number
}

/** Starts a window; the returned function ends it and gives the split. */
export function cpuWindow (parts: { server?: (() => number) | undefined, upstream?: (() => number) | undefined }): () => CpuSplit {
  const t0 = performance.now()
  const busy0 = machineBusyMs()
  const self0 = selfAndChildrenMs()
  const server0 = parts.server?.()
  const upstream0 = parts.upstream?.()
  return () => {
    const wallMs = performance.now() - t0
    const per = (ms: number): number => Math.round(ms / wallMs * 100) / 100
    const busy = per(machineBusyMs() - busy0)
    const loadGenerator = per(selfAndChildrenMs() - self0)
    const server = server0 === undefined ? undefined : per(parts.server!() - server0)
    const upstream = upstream0 === undefined ? undefined : per(parts.upstream!() - upstream0)
    const other = Math.round((busy - loadGenerator - (server ?? 0) - (upstream ?? 0)) * 100) / 100
    return { cores: availableParallelism(), busy, server, loadGenerator, upstream, other }
  }
}
