import { BlockList, isIP } from 'node:net'
import type { MaintenancePolicy } from './policy.js'

// `proxyctl maintenance on`: what the request path answers (the page, Retry-After) and whom it lets
// through (the allow list, matched against the TCP or PROXY-protocol peer, never X-Forwarded-For).

/** Retry-After (seconds) on the maintenance 503. */
export const MAINTENANCE_RETRY_AFTER_S = 120
/** A user's page travels through the admin API and sits in every snapshot: bounded. */
export const MAX_MAINTENANCE_PAGE_BYTES = 256 * 1024
/** Entries one `--allow` list may have. */
export const MAX_ALLOW_ENTRIES = 64

export const DEFAULT_MAINTENANCE_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Down for maintenance</title>
<style>body{font:16px/1.5 system-ui,sans-serif;margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;background:#f6f7f9;color:#1d2330}
main{max-width:32rem;padding:2rem;text-align:center}h1{font-size:1.5rem;margin:0 0 .5rem}p{margin:0;color:#556}</style>
</head><body><main><h1>Down for maintenance</h1><p>This site is being updated and will be back shortly. Please try again in a few minutes.</p></main></body></html>
`
const DEFAULT_PAGE_BODY = Buffer.from(DEFAULT_MAINTENANCE_PAGE)

/**
 * One `--allow` entry: an address or CIDR, returned in a canonical form (`10.0.0.0/8`,
 * `2001:db8::/32`; an address alone is a /32 or /128). A string saying what is wrong otherwise.
 */
export function parseAllowEntry (value: string): { cidr: string } | { error: string } {
  const v = value.trim()
  const slash = v.indexOf('/')
  const address = slash === -1 ? v : v.slice(0, slash)
  const family = isIP(address)
  if (family === 0) return { error: `"${value}" is not an IP address or CIDR (e.g. 203.0.113.7, 10.0.0.0/8, 2001:db8::/32)` }
  const max = family === 4 ? 32 : 128
  if (slash === -1) return { cidr: `${address.toLowerCase()}/${max}` }
  const prefix = v.slice(slash + 1)
  if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > max) return { error: `"${value}": the prefix length must be 0 to ${max}` }
  return { cidr: `${address.toLowerCase()}/${Number(prefix)}` }
}

/** The allow list compiled for per-request checks (node:net's BlockList: IPv4-mapped IPv6 peers match IPv4 ranges). */
export function compileAllow (cidrs: readonly string[]): BlockList {
  const list = new BlockList()
  for (const c of cidrs) {
    const parsed = parseAllowEntry(c)
    // Entries were validated by the admin API; one from an edited state file that is not is skipped.
    if ('error' in parsed) continue
    const [address, prefix] = parsed.cidr.split('/') as [string, string]
    list.addSubnet(address, Number(prefix), isIP(address) === 4 ? 'ipv4' : 'ipv6')
  }
  return list
}

const compiled = new WeakMap<MaintenancePolicy, { allow: BlockList, page: Buffer }>()

/** Whether `remote` (the peer address) may still reach the app of a host in maintenance. */
export function maintenanceAllows (policy: MaintenancePolicy, remote: string): boolean {
  if (policy.allow.length === 0) return false
  const family = isIP(remote)
  if (family === 0) return false
  return compiledOf(policy).allow.check(remote, family === 4 ? 'ipv4' : 'ipv6')
}

/** The page answered with the 503: the user's or the built-in one. */
export function maintenancePage (policy: MaintenancePolicy): Buffer {
  return compiledOf(policy).page
}

// Snapshots are immutable, so a policy object's compiled form is kept until the policy is replaced.
function compiledOf (policy: MaintenancePolicy): { allow: BlockList, page: Buffer } {
  let c = compiled.get(policy)
  if (c === undefined) {
    c = { allow: compileAllow(policy.allow), page: policy.page === undefined ? DEFAULT_PAGE_BODY : Buffer.from(policy.page) }
    compiled.set(policy, c)
  }
  return c
}
