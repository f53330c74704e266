import type { CanaryStatus, Figures } from '../../admin/api.js'

// `proxyctl status`: canary splits (issue 13), both versions' live figures side by side.

const figures = (f: Figures): string => f.requests === 0
  ? 'no requests'
  : `${f.requests} req, ${f.errors} errors (${(f.errorRate * 100).toFixed(2)}%), p50 ${f.p50Ms ?? '-'} ms, p99 ${f.p99Ms ?? '-'} ms`

export function renderCanary (canary: Record<string, CanaryStatus> | undefined): string[] {
  const entries = Object.entries(canary ?? {})
  if (entries.length === 0) return []
  const lines = ['', 'CANARY']
  for (const [host, c] of entries) {
    lines.push(`${host}: new ${Math.round(c.share * 1000) / 10}% / old ${Math.round((1 - c.share) * 1000) / 10}% (cookie ${c.cookie}; figures over the last ${c.windowMs / 1000}s)`)
    lines.push(`  new  ${c.newUpstreams.join(', ') || '-'}: ${figures(c.new)}`)
    lines.push(`  old  ${c.oldUpstreams.join(', ') || '-'}: ${figures(c.old)}`)
  }
  return lines
}
