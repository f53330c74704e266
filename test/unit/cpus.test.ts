import t from 'tap'
import { cgroupCpuLimit, usableCpus } from '../../src/config/cpus.ts'

t.test('a cgroup CPU quota, v2 and v1, rounded up; none when unlimited or unreadable', async (t) => {
  const files = (f: Record<string, string>) => (path: string): string | undefined => f[path]
  const cases: Array<[string, Record<string, string>, number | undefined]> = [
    ['v2, --cpus 1', { '/sys/fs/cgroup/cpu.max': '100000 100000\n' }, 1],
    ['v2, --cpus 1.5', { '/sys/fs/cgroup/cpu.max': '150000 100000\n' }, 2],
    ['v2, --cpus 0.25', { '/sys/fs/cgroup/cpu.max': '25000 100000\n' }, 1],
    ['v2, no quota', { '/sys/fs/cgroup/cpu.max': 'max 100000\n' }, undefined],
    ['v1, --cpus 3', { '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '300000\n', '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000\n' }, 3],
    ['v1, no quota', { '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '-1\n', '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000\n' }, undefined],
    ['no cgroup files', {}, undefined],
    ['garbage', { '/sys/fs/cgroup/cpu.max': 'x y' }, undefined]
  ]
  for (const [desc, f, expected] of cases) t.equal(cgroupCpuLimit(files(f)), expected, desc)
  t.ok(usableCpus() >= 1)
})
