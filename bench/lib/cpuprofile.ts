import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'

// Summarises a V8 .cpuprofile (node --cpu-prof): self time per function and per area.

interface CallFrame { functionName: string, url: string, lineNumber: number }
interface ProfileNode { id: number, callFrame: CallFrame, hitCount?: number }
interface CpuProfile { nodes: ProfileNode[], samples: number[], timeDeltas: number[], startTime: number, endTime: number }

export interface FunctionCost { fn: string, where: string, selfMs: number, selfPct: number }
export interface ProfileSummary { file: string, totalMs: number, busyPct: number, top: FunctionCost[], areas: Array<{ area: string, selfPct: number }> }

export function newestProfile (dir: string): string | undefined {
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(dir, f))
  return files.sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0]
}

function areaOf (url: string, fn: string): string {
  if (fn === '(idle)') return 'idle'
  if (fn === '(garbage collector)') return 'GC'
  if (fn === '(program)') return 'V8/native (program)'
  if (url === '') return 'native/builtins'
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (nm !== null) return nm[1]!
  if (url.startsWith('node:')) {
    if (url.includes('http') || url.includes('_http')) return 'node:http'
    if (url.includes('stream')) return 'node:streams'
    if (url.includes('net') || url.includes('tcp')) return 'node:net'
    return 'node:other'
  }
  const dist = /\/dist\/(.+)$/.exec(url)
  if (dist !== null) return `proxyctl ${dist[1]}`
  return url
}

export function summarizeProfile (file: string, topN = 15): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
  const byId = new Map(p.nodes.map((n) => [n.id, n]))
  const selfUs = new Map<number, number>()
  for (let i = 0; i < p.samples.length; i++) {
    const id = p.samples[i]!
    selfUs.set(id, (selfUs.get(id) ?? 0) + (p.timeDeltas[i] ?? 0))
  }
  const fns = new Map<string, FunctionCost>()
  const areas = new Map<string, number>()
  let total = 0
  let idle = 0
  for (const [id, us] of selfUs) {
    const n = byId.get(id)
    if (n === undefined) continue
    const { functionName, url, lineNumber } = n.callFrame
    const fn = functionName === '' ? '(anonymous)' : functionName
    const where = url === '' ? '' : `${url.replace(/^file:\/\/.*?\/(node_modules|dist)\//, '$1/')}:${lineNumber + 1}`
    const key = `${fn}@${where}`
    const cur = fns.get(key) ?? { fn, where, selfMs: 0, selfPct: 0 }
    cur.selfMs += us / 1000
    fns.set(key, cur)
    const area = areaOf(url, functionName)
    areas.set(area, (areas.get(area) ?? 0) + us)
    total += us
    if (functionName === '(idle)') idle += us
  }
  const busy = total - idle
  const top = [...fns.values()]
    .filter((f) => f.fn !== '(idle)')
    .sort((a, b) => b.selfMs - a.selfMs)
    .slice(0, topN)
    .map((f) => ({ ...f, selfMs: Math.round(f.selfMs), selfPct: Math.round((f.selfMs * 1000 / busy) * 1000) / 10 }))
  return {
    file,
    totalMs: Math.round(total / 1000),
    busyPct: Math.round((busy / total) * 1000) / 10,
    top,
    areas: [...areas.entries()].filter(([a]) => a !== 'idle').sort((a, b) => b[1] - a[1]).slice(0, 12)
      .map(([area, us]) => ({ area, selfPct: Math.round((us / busy) * 1000) / 10 }))
  }
}
