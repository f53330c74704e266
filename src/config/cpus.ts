import { readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'

// How many CPUs this process may use: os.availableParallelism() counts the CPUs it may run on
// (a cpuset, `docker run --cpuset-cpus`), not a CPU quota (`docker run --cpus 1`, compose
// `cpus:`), which cgroups enforce by throttling. Both are taken into account here.

const read = (path: string): string | undefined => {
  try { return readFileSync(path, 'utf8') } catch { return undefined }
}

/** CPUs a cgroup quota allows, rounded up; undefined when there is none (cgroup v2 `max`, v1 -1) or none can be read. */
export function cgroupCpuLimit (readFile: (path: string) => string | undefined = read): number | undefined {
  const v2 = readFile('/sys/fs/cgroup/cpu.max')?.trim().split(/\s+/)
  if (v2 !== undefined) return limit(v2[0], v2[1])
  return limit(readFile('/sys/fs/cgroup/cpu/cpu.cfs_quota_us')?.trim(), readFile('/sys/fs/cgroup/cpu/cpu.cfs_period_us')?.trim())
}

function limit (quota: string | undefined, period: string | undefined): number | undefined {
  const q = Number(quota)
  const p = Number(period)
  if (!Number.isFinite(q) || !Number.isFinite(p) || q <= 0 || p <= 0) return undefined
  return Math.max(1, Math.ceil(q / p))
}

/** The CPUs this process may use: its cpuset, bounded by its cgroup's quota. */
export function usableCpus (): number {
  return Math.max(1, Math.min(availableParallelism(), cgroupCpuLimit() ?? Infinity))
}
