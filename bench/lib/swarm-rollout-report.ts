// The "Swarm rollouts under load" part of bench/README.md's results section, from
// bench/results/<commit>/swarm-rollout.json (bench/swarm-rollout.ts); called by bench/report.ts.
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { join, relative } from 'node:path'
import type { WindowStats } from './rollout-window.ts'

type SwarmRollout = { rollout: number, image: string, updateState: string, updateDurationMs: number } &
  Pick<WindowStats, 'requests' | 'failed' | 'non2xx' | 'socketErrors' | 'outageMs' | 'getP99Ms'>
interface SwarmScenario {
  approach: string
  title: string
  sigterm: string
  totals: { requests: number, failed: number, baselineFailed: number }
  loadAverage: { before: string, after: string }
  baseline: { achievedPerSec: number, getP99Ms: number }
  rollouts: SwarmRollout[]
}
export interface SwarmRolloutResult {
  finished: string
  durationS: number
  machine: Record<string, string>
  settings: { rollouts: number, replicas: number, rate: number, connections: number, postEvery: number, postSpreadMs: number, postDelayMs: number, bootMs: number, requestTimeoutMs: number, settleS: number, update: string }
  scenarios: SwarmScenario[]
}

const fmt = (n: number): string => n.toLocaleString('en-US', { maximumFractionDigits: 1 })
const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0)
const span = (xs: number[], f: (n: number) => string = fmt): string => xs.length === 0 ? '–' : Math.min(...xs) === Math.max(...xs) ? f(xs[0]!) : `${f(Math.min(...xs))}–${f(Math.max(...xs))}`
function merged (rs: SwarmRollout[], key: 'non2xx' | 'socketErrors'): string {
  const out: Record<string, number> = {}
  for (const r of rs) for (const [k, v] of Object.entries(r[key])) out[k] = (out[k] ?? 0) + v
  return Object.keys(out).length === 0 ? '–' : Object.entries(out).map(([k, v]) => `${k}: ${v}`).join(', ')
}

/** One bench/results/<commit>/swarm-rollout.json, as report.ts's other result files are found. */
export interface SwarmRun { data: SwarmRolloutResult, /** relative to bench/ */ file: string, commit: string, finished: string }

/**
 * Every swarm-rollout.json with the newest one's settings, newest first: runs of the same load and
 * updates add their updates to the same rows (a run with other settings is left out).
 */
export function swarmRolloutRuns (resultsDir: string, benchDir: string): SwarmRun[] {
  if (!existsSync(resultsDir)) return []
  const runs: SwarmRun[] = []
  for (const commit of readdirSync(resultsDir)) {
    const path = join(resultsDir, commit, 'swarm-rollout.json')
    if (commit === 'tmp' || !existsSync(path)) continue
    const data = JSON.parse(readFileSync(path, 'utf8')) as SwarmRolloutResult
    runs.push({ data, file: relative(benchDir, path), commit, finished: data.finished ?? '' })
  }
  runs.sort((a, b) => (a.finished < b.finished ? 1 : -1))
  const key = (r: SwarmRun): string => JSON.stringify([r.data.settings, r.data.scenarios.map((sc) => `${sc.approach}/${sc.sigterm}`)])
  return runs.filter((r) => key(r) === key(runs[0]!))
}

const when = (iso: string): string => `${iso.slice(0, 16).replace('T', ' ')} UTC`

/** The section for `runs` (newest first, same settings): one row per approach and SIGTERM behaviour, each run's updates in it. */
export function swarmRolloutSection (runs: SwarmRun[]): string {
  const st = runs[0]!.data.settings
  const chrono = [...runs].reverse()
  const rows = runs[0]!.data.scenarios.map((first) => ({
    first,
    perRun: chrono.map((run) => run.data.scenarios.find((sc) => sc.approach === first.approach && sc.sigterm === first.sigterm)!)
  }))
  const byRun = (perRun: SwarmScenario[], f: (x: SwarmRollout) => string): string => perRun.map((sc) => sc.rollouts.map(f).join(' / ')).join(' · ')
  const byApproach = new Map<string, SwarmScenario[]>()
  for (const row of rows) byApproach.set(row.first.approach, [...(byApproach.get(row.first.approach) ?? []), ...row.perRun])
  const sentences = [...byApproach.values()].map((scs) => {
    const all = scs.flatMap((sc) => sc.rollouts)
    const clean = all.filter((x) => x.failed === 0).length
    return `**${scs[0]!.title}**: ${clean} of ${all.length} updates without a failed request, ${span(all.map((x) => x.failed))} failed requests per update.`
  })
  const short = (a: string): string => a === 'proxyctl' ? 'proxyctl' : `nginx with valid=${a.slice(6)}`
  const failedOf = (a: string): number[] => (byApproach.get(a) ?? []).flatMap((sc) => sc.rollouts.map((x) => x.failed))
  const mine = failedOf('proxyctl')
  const shows = [...byApproach.keys()].filter((a) => a !== 'proxyctl' && mine.length > 0).map((a) => {
    const theirs = failedOf(a)
    const hit = (xs: number[]): number => xs.filter((n) => n > 0).length
    if (Math.max(...mine, ...theirs) === 0) return `proxyctl and ${short(a)} both lost nothing in every update, so ${runs.length > 1 ? 'these runs show' : 'this run shows'} no difference between them.`
    if (Math.max(...mine) < Math.min(...theirs)) return `${short(a)} lost more than proxyctl in every one of its updates (${span(theirs)} against ${span(mine)}).`
    const vary = Math.min(...theirs) === 0 ? `; ${short(a)} lost nothing in some updates and ${fmt(Math.max(...theirs))} in another, so one update of it says little` : ''
    return `${short(a)} lost requests in ${hit(theirs)} of ${theirs.length} updates (${span(theirs)} per update), proxyctl in ${hit(mine)} of ${mine.length}${hit(mine) > 0 ? ` (${span(mine)})` : ''}${vary}.`
  })
  return [
    `Source: ${chrono.map((run) => `\`${run.file}\` (commit ${run.commit}, finished ${when(run.finished)}, ${run.data.durationS} s; proxyctl: ${run.data.machine.proxyctl ?? '?'})`).join(', ')}; nginx in the container: ${runs[0]!.data.machine.nginxInContainer ?? '?'}.`,
    '',
    `Each row: ${st.rollouts} \`${st.update}\` of a ${st.replicas}-task service in a one-node swarm per run (${runs.length} run${runs.length > 1 ? 's' : ''}, the same settings), each update counted from its command to the next one's (Swarm reporting it completed, then ${st.settleS} s more of load); ${st.rate} req/s open loop over ${st.connections} keep-alive connections, 1 request in ${st.postEvery} a slow POST (body over ${st.postSpreadMs} ms, held ${st.postDelayMs} ms by the app); a request not answered within ${fmt(st.requestTimeoutMs)} ms counts as failed; app boot ${st.bootMs} ms. Per-update values are separated by "/", runs by "·", so the spread over the updates of a row is in the row; a difference between two rows that is smaller than that spread is not shown.`,
    '',
    sentences.join(' '),
    '',
    ...(shows.length > 0 ? [`What ${runs.length > 1 ? 'these runs show' : 'this run shows'}: ${shows.join(' ')}`, ''] : []),
    '| approach | app SIGTERM | requests | failed (per update) | non-2xx | socket errors | outage s | update s | baseline req/s, GET p99 ms | load |',
    '|---|---|--:|---|---|---|---|---|---|---|',
    ...rows.map(({ first, perRun }) => {
      const all = perRun.flatMap((sc) => sc.rollouts)
      const paused = all.filter((x) => x.updateState !== 'completed').map((x) => x.updateState)
      return `| ${first.title} | ${first.sigterm} | ${fmt(sum(all.map((x) => x.requests)))} | **${fmt(sum(all.map((x) => x.failed)))}** (${byRun(perRun, (x) => String(x.failed))}) | ${merged(all, 'non2xx')} | ${merged(all, 'socketErrors')} | ${byRun(perRun, (x) => (x.outageMs / 1000).toFixed(1))} | ${byRun(perRun, (x) => (x.updateDurationMs / 1000).toFixed(1))}${paused.length > 0 ? ` (${paused.join(', ')})` : ''} | ${perRun.map((sc) => `${fmt(sc.baseline.achievedPerSec)}, ${fmt(sc.baseline.getP99Ms)}`).join(' · ')} | ${perRun.map((sc) => `${sc.loadAverage.before.split(' ')[0]} / ${sc.loadAverage.after.split(' ')[0]}`).join(' · ')} |`
    }),
    '',
    'Not measured: Swarm\'s own service virtual IP and its ingress routing mesh, the other usual way in. Both need IPVS in the kernel, and this machine\'s kernel has none (`/proc/net/ip_vs` is missing): a published ingress port answers nothing here and a service VIP is unreachable, so the "without proxyctl" row is nginx on the service\'s task addresses (`--endpoint-mode dnsrr`, `tasks.app`), which works without IPVS.'
  ].join('\n')
}
