import type { RolloutRecord } from '../../admin/api.js'
import type { AdminTarget } from '../args.js'
import { withAdmin } from './with-admin.js'

export function renderHistory (records: RolloutRecord[]): string {
  if (records.length === 0) return '(no rollouts yet)'
  const lines: string[] = []
  for (const r of records) {
    const secs = r.finishedAt === null ? '' : ` in ${((Date.parse(r.finishedAt) - Date.parse(r.startedAt)) / 1000).toFixed(1)}s`
    lines.push(`${r.startedAt}  ${r.service}  ${r.outcome}${secs}  failed requests: ${r.failedRequests}`)
    lines.push(`  ${r.old.join(', ') || '-'} -> ${r.new.join(', ') || '-'}`)
    for (const s of r.steps) lines.push(`  ${s.at.slice(11, 23)} ${s.step.padEnd(8)} ${s.message.split('\n')[0] ?? ''}`)
    if (r.error !== null) lines.push(`  error: ${r.error.split('\n')[0] ?? ''}`)
  }
  return lines.join('\n')
}

export async function history (opts: { json: boolean } & AdminTarget): Promise<number> {
  const records = await withAdmin(opts, async (admin) => await admin.history())
  process.stdout.write(opts.json ? `${JSON.stringify(records, null, 2)}\n` : `${renderHistory(records)}\n`)
  return 0
}
