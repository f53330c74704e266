import { readFileSync, readdirSync } from 'node:fs'

// Memory of a process and every process below it (proxyctl's workers, nginx's master and workers),
// each on its own: the memory targets are per worker, so the figure is the largest of them.

/** The pid and every descendant's pid (/proc/<pid>/task/<tid>/children, Linux). */
export function processTree (root: number): number[] {
  const out: number[] = []
  const queue = [root]
  while (queue.length > 0) {
    const pid = queue.shift()!
    out.push(pid)
    let tasks: string[] = []
    try { tasks = readdirSync(`/proc/${pid}/task`) } catch { continue }
    for (const tid of tasks) {
      try {
        for (const c of readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/)) if (c !== '') queue.push(Number(c))
      } catch {}
    }
  }
  return out
}

/** CPU time (user and system, every thread) process `pid` has used, in ms (/proc/<pid>/stat, Linux); throws when it is gone. */
export function processCpuMs (pid: number): { user: number, sys: number } {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // utime and stime are fields 14 and 15, in clock ticks (USER_HZ, 100 on every Linux architecture
  // Node runs on); after "pid (comm) " (comm may hold spaces and parentheses) they are the 12th and 13th.
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ')
  return { user: Number(f[11]) * 10, sys: Number(f[12]) * 10 }
}

/** VmRSS, VmHWM and RssAnon of one process (/proc/<pid>/status), or undefined once it is gone. */
export function processStatus (pid: number): { rssKb: number, hwmKb: number, anonKb: number, name: string } | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8')
    const kb = (k: string): number => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? 0)
    return { rssKb: kb('VmRSS'), hwmKb: kb('VmHWM'), anonKb: kb('RssAnon'), name: /Name:\s+(\S+)/.exec(s)?.[1] ?? '?' }
  } catch { return undefined }
}

/**
 * rssMb counts the pages of the node (or nginx) binary a process has touched, which every process
 * of the tree shares; anonMb is RSS without those file-backed pages (the heaps: V8's, malloc's);
 * pssMb splits shared pages between the processes that map them and privateMb is what the process
 * alone holds (/proc/<pid>/smaps_rollup).
 */
export interface ProcessMemory { pid: number, role: 'root' | 'child', rssMb: number, hwmMb: number, anonMb: number, pssMb?: number, privateMb?: number }

function rollup (pid: number): { pssMb: number, privateMb: number } | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8')
    const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(s)?.[1] ?? 0)
    return { pssMb: Math.round(kb('Pss') / 102.4) / 10, privateMb: Math.round((kb('Private_Dirty') + kb('Private_Clean')) / 102.4) / 10 }
  } catch { return undefined }
}

/**
 * Samples VmRSS of the tree every `intervalMs`; `maxRssKb` is the largest single process's RSS since
 * the last resetWindow() (`maxAnonKb` the same of RssAnon: under load a node process's file-backed
 * pages, the binary's, stay within a few MB, and the heaps make the rest), `hwmKb` the largest
 * VmHWM (the kernel's high-water mark) of any one process.
 * `only: 'children'` leaves the root out (nginx's master does not serve).
 */
export class TreeRssMonitor {
  readonly #root: number
  readonly #only: 'all' | 'children'
  readonly #timer: NodeJS.Timeout
  readonly #hwm = new Map<number, number>()
  maxRssKb = 0
  maxAnonKb = 0

  constructor (root: number, only: 'all' | 'children' = 'all', intervalMs = 200) {
    this.#root = root
    this.#only = only
    this.#timer = setInterval(() => { this.sample() }, intervalMs)
    this.#timer.unref()
    this.sample()
  }

  #pids (): number[] {
    const all = processTree(this.#root)
    return this.#only === 'children' ? all.filter((p) => p !== this.#root) : all
  }

  sample (): void {
    for (const pid of this.#pids()) {
      const s = processStatus(pid)
      if (s === undefined) continue
      this.maxRssKb = Math.max(this.maxRssKb, s.rssKb)
      this.maxAnonKb = Math.max(this.maxAnonKb, s.anonKb)
      this.#hwm.set(pid, Math.max(this.#hwm.get(pid) ?? 0, s.hwmKb))
    }
  }

  get hwmKb (): number { return Math.max(0, ...this.#hwm.values()) }

  /** CPU time (user + system, every thread) the tree's processes have used so far, in ms. */
  cpuMs (): number {
    let ms = 0
    for (const pid of this.#pids()) {
      try { const c = processCpuMs(pid); ms += c.user + c.sys } catch {} // exited between listing and reading: its time is gone with it
    }
    return ms
  }

  /** Each process now: its RSS and high-water mark (MB). */
  now (): ProcessMemory[] {
    return this.#pids().flatMap((pid) => {
      const s = processStatus(pid)
      return s === undefined ? [] : [{ pid, role: pid === this.#root ? 'root' as const : 'child' as const, rssMb: Math.round(s.rssKb / 102.4) / 10, hwmMb: Math.round(s.hwmKb / 102.4) / 10, anonMb: Math.round(s.anonKb / 102.4) / 10, ...rollup(pid) }]
    })
  }

  resetWindow (): void { this.maxRssKb = 0; this.maxAnonKb = 0; this.sample() }

  stop (): void { this.sample(); clearInterval(this.#timer) }
}
