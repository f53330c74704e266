// The "Swarm rollouts under load" part of bench/README.md's results section, from
// bench/results/<commit>/swarm-rollout.json (bench/swarm-rollout.ts); called by bench/report.ts.

interface SwarmRollout {
  rollout: number
  image: string
  updateState: string
  updateDurationMs: number
  requests: number
  failed: number
  non2xx: Record<string, number>
  socketErrors: Record<string, number>
  outageMs: number
  getP99Ms: number
}
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

/** `source` is report.ts's "Source: file (commit, finished)" sentence for this file. */
export function swarmRolloutSection (r: SwarmRolloutResult, source: string): string {
  const st = r.settings
  const byApproach = new Map<string, SwarmScenario[]>()
  for (const sc of r.scenarios) byApproach.set(sc.approach, [...(byApproach.get(sc.approach) ?? []), sc])
  const sentences = [...byApproach.values()].map((scs) => {
    const all = scs.flatMap((sc) => sc.rollouts)
    const clean = all.filter((x) => x.failed === 0).length
    return `**${scs[0]!.title}**: ${clean} of ${all.length} updates without a failed request, ${span(all.map((x) => x.failed))} failed requests per update (${scs.map((sc) => `${sc.sigterm}: ${sc.rollouts.map((x) => x.failed).join(' / ')}`).join('; ')}).`
  })
  const short = (a: string): string => a === 'proxyctl' ? 'proxyctl' : `nginx with valid=${a.slice(6)}`
  const failedOf = (a: string): number[] => (byApproach.get(a) ?? []).flatMap((sc) => sc.rollouts.map((x) => x.failed))
  const mine = failedOf('proxyctl')
  const shows = [...byApproach.keys()].filter((a) => a !== 'proxyctl' && mine.length > 0).map((a) => {
    const theirs = failedOf(a)
    const hit = (xs: number[]): number => xs.filter((n) => n > 0).length
    if (Math.max(...mine, ...theirs) === 0) return `proxyctl and ${short(a)} both lost nothing in every update, so this run shows no difference between them.`
    if (Math.max(...mine) < Math.min(...theirs)) return `${short(a)} lost more than proxyctl in every one of its updates (${span(theirs)} against ${span(mine)}).`
    const vary = Math.min(...theirs) === 0 ? `; ${short(a)} lost nothing in some updates and ${fmt(Math.max(...theirs))} in another, so one update of it says little` : ''
    return `${short(a)} lost requests in ${hit(theirs)} of ${theirs.length} updates (${span(theirs)} per update), proxyctl in ${hit(mine)} of ${mine.length}${hit(mine) > 0 ? ` (${span(mine)})` : ''}${vary}.`
  })
  return [
    `${source} proxyctl: ${r.machine.proxyctl ?? '?'}; nginx in the container: ${r.machine.nginxInContainer ?? '?'}; the whole run took ${r.durationS} s.`,
    '',
    `Each row: ${st.rollouts} \`${st.update}\` of a ${st.replicas}-task service in a one-node swarm, each counted from the update command to the next one (Swarm reporting the update completed, then ${st.settleS} s more of load); ${st.rate} req/s open loop over ${st.connections} keep-alive connections, 1 request in ${st.postEvery} a slow POST (body over ${st.postSpreadMs} ms, held ${st.postDelayMs} ms by the app); a request not answered within ${fmt(st.requestTimeoutMs)} ms counts as failed; app boot ${st.bootMs} ms. The numbers are per update, separated by "/", so the spread over the ${st.rollouts} updates of a row is in the row; a difference between two rows that is smaller than that spread is not shown by this run.`,
    '',
    sentences.join(' '),
    '',
    ...(shows.length > 0 ? [`What this run shows: ${shows.join(' ')}`, ''] : []),
    '| approach | app SIGTERM | requests | failed (per update) | non-2xx | socket errors | outage s | update s | baseline req/s, GET p99 ms | load |',
    '|---|---|--:|---|---|---|---|---|---|---|',
    ...r.scenarios.map((sc) => `| ${sc.title} | ${sc.sigterm} | ${fmt(sum(sc.rollouts.map((x) => x.requests)))} | **${fmt(sum(sc.rollouts.map((x) => x.failed)))}** (${sc.rollouts.map((x) => x.failed).join(' / ')}) | ${merged(sc.rollouts, 'non2xx')} | ${merged(sc.rollouts, 'socketErrors')} | ${sc.rollouts.map((x) => (x.outageMs / 1000).toFixed(1)).join(' / ')} | ${sc.rollouts.map((x) => (x.updateDurationMs / 1000).toFixed(1)).join(' / ')}${sc.rollouts.some((x) => x.updateState !== 'completed') ? ` (${sc.rollouts.filter((x) => x.updateState !== 'completed').map((x) => x.updateState).join(', ')})` : ''} | ${fmt(sc.baseline.achievedPerSec)}, ${fmt(sc.baseline.getP99Ms)} | ${sc.loadAverage.before.split(' ')[0]} / ${sc.loadAverage.after.split(' ')[0]} |`),
    '',
    'Not measured: Swarm\'s own service virtual IP and its ingress routing mesh, the other usual way in. Both need IPVS in the kernel, and this machine\'s kernel has none (`/proc/net/ip_vs` is missing): a published ingress port answers nothing here and a service VIP is unreachable, so the "without proxyctl" row is nginx on the service\'s task addresses (`--endpoint-mode dnsrr`, `tasks.app`), which works without IPVS.'
  ].join('\n')
}
