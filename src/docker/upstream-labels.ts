import type { LoadBalancing } from '../routing/load-balancer.js'

// nginx-proxy's upstream labels, whose values it pastes into the location's `upstream {}` block
// (nginx.tmpl "upstream"): read as the nginx directives they are and mapped to proxyctl's (pure).

export const LOADBALANCE_LABEL = 'com.github.nginx-proxy.nginx-proxy.loadbalance'
export const KEEPALIVE_LABEL = 'com.github.nginx-proxy.nginx-proxy.keepalive'

/**
 * nginx-proxy applies one value per location: of the distinct values its containers set, the
 * first in sort order (`groupByLabel … | keys | first`). `conflict` lists the others.
 */
export function firstLabelValue (values: Iterable<string>): { value: string, conflict: string[] } | undefined {
  const sorted = [...new Set(values)].sort()
  const first = sorted[0]
  return first === undefined ? undefined : { value: first, conflict: sorted.slice(1) }
}

/**
 * The loadbalance label: `least_conn;` -> least outstanding requests, `ip_hash;` and
 * `hash $remote_addr [consistent];` -> client-address affinity. Anything else (another hash key,
 * `random`, several directives) is a warning and the proxy-wide --balancing applies, as it does
 * without the label (nginx's round robin).
 */
export function parseLoadbalance (raw: string): { balancing: LoadBalancing | undefined } | { warning: string } {
  const directives = raw.split(';').map((d) => d.trim().replace(/\s+/g, ' ')).filter((d) => d !== '')
  if (directives.length === 0) return { balancing: undefined }
  const unsupported = { warning: `label ${LOADBALANCE_LABEL} ${JSON.stringify(raw)}: proxyctl maps least_conn, ip_hash and hash $remote_addr [consistent] only; the proxy's --balancing applies` }
  if (directives.length > 1) return unsupported
  switch (directives[0]) {
    case 'least_conn': return { balancing: 'least-outstanding' }
    case 'ip_hash': return { balancing: 'ip-hash' }
    case 'hash $remote_addr':
    case 'hash $remote_addr consistent': return { balancing: 'remote-addr-hash' }
    default: return unsupported
  }
}

/**
 * The keepalive label: `auto` (nginx-proxy's default) or a number keep upstream connections
 * alive; `disabled` sends `Connection: close` and opens a connection per request, as nginx-proxy's
 * `$upstream_keepalive false` does. nginx's number caps the idle connections each worker keeps;
 * undici's pool has no idle cap (idle connections close after its keep-alive timeout instead).
 */
export function parseKeepalive (raw: string): { keepAlive: boolean } | { warning: string } {
  const v = raw.trim().toLowerCase()
  if (v === '' || v === 'auto' || /^[1-9]\d{0,5}$/.test(v)) return { keepAlive: true }
  if (v === 'disabled') return { keepAlive: false }
  return { warning: `label ${KEEPALIVE_LABEL} ${JSON.stringify(raw)} must be auto, disabled or a number; keep-alive stays on` }
}
