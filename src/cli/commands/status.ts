import type { StatusReport } from '../../admin/api.js'
import type { AdminTarget } from '../args.js'
import { withAdmin } from './with-admin.js'
import { renderTrafficControl } from './traffic-control.js'
import { renderCanary } from './canary-status.js'

export function renderStatus (report: StatusReport): string {
  const lines: string[] = []
  const rows: string[][] = [['HOST', 'PATH', 'UPSTREAM', 'ADDRESS', 'STATE', 'INFLIGHT', 'REQUESTS', 'ERRORS', 'LAST CHECK']]
  for (const h of report.hosts) {
    const t = report.traffic?.[h.host] ?? { requests: 0, errors: 0 }
    for (const l of h.locations) {
      if (l.upstreams.length === 0) rows.push([h.host, l.path, '-', '-', '-', '-', String(t.requests), String(t.errors), '-'])
      for (const u of l.upstreams) {
        const check = u.lastCheck == null ? '-' : `${u.lastCheck.ok ? 'ok' : 'FAIL'} ${u.lastCheck.detail}`
        rows.push([h.host, l.path, u.name, `${u.origin.replace(/^https?:\/\//, '')}${u.node !== undefined ? ` on ${u.node}` : ''}`, u.state, String(u.inflight), String(t.requests), String(t.errors), check])
      }
    }
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  for (const r of rows) lines.push(r.map((c, i) => i === r.length - 1 ? c : c.padEnd(widths[i]!)).join('  ').trimEnd())
  if (report.hosts.length === 0) lines.push('(no hosts routed)')
  lines.push(...renderTrafficControl(report.trafficControl))
  lines.push(...renderCanary(report.canary))
  return lines.join('\n')
}

export async function status (opts: { json: boolean } & AdminTarget): Promise<number> {
  const report = await withAdmin(opts, async (admin) => await admin.status())
  process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : `${renderStatus(report)}\n`)
  return 0
}
