import { InvalidOptionError } from '../errors.js'
import { stackOrder, type StackService } from './stack-order.js'

// Pure: compose's resolved config and config hashes in, what a whole-stack deploy does out.

/** Compose's own rule for service names (v1 and v2). */
const SERVICE_NAME = /^[a-zA-Z0-9._-]+$/
const HASH = /^[0-9a-f]{16,128}$/

/**
 * The services of `compose config` output (YAML, parsed). Both compose versions print environment
 * with env_file merged and interpolated, and depends_on in long syntax; short syntax and list-form
 * environment are accepted too. A variable listed without a value and unset prints as null: unset.
 */
export function servicesFromConfig (doc: unknown): StackService[] {
  const services = isRecord(doc) ? doc.services : undefined
  if (!isRecord(services) || Object.keys(services).length === 0) throw new InvalidOptionError('the compose file defines no services')
  return Object.entries(services).map(([name, raw]) => {
    if (!SERVICE_NAME.test(name)) throw new InvalidOptionError(`invalid service name ${JSON.stringify(name)} (letters, digits, ".", "_" and "-" only)`)
    const svc = isRecord(raw) ? raw : {}
    const env = environment(svc.environment)
    const set = (k: string): boolean => (env.get(k) ?? '').trim() !== ''
    return {
      name,
      dependsOn: dependsOn(name, svc.depends_on),
      proxied: set('VIRTUAL_HOST') || set('VIRTUAL_HOST_MULTIPORTS'),
      containerName: typeof svc.container_name === 'string' ? svc.container_name : undefined,
      profiles: Array.isArray(svc.profiles) ? svc.profiles.map(String) : []
    }
  })
}

function environment (raw: unknown): Map<string, string | null> {
  const env = new Map<string, string | null>()
  if (Array.isArray(raw)) {
    for (const e of raw) {
      const s = String(e)
      const eq = s.indexOf('=')
      env.set(eq === -1 ? s : s.slice(0, eq), eq === -1 ? null : s.slice(eq + 1))
    }
  } else if (isRecord(raw)) {
    for (const [k, v] of Object.entries(raw)) env.set(k, v === null || v === undefined ? null : String(v))
  }
  return env
}

function dependsOn (service: string, raw: unknown): string[] {
  if (raw === undefined || raw === null) return []
  const check = (d: unknown): string => {
    if (typeof d !== 'string' || !SERVICE_NAME.test(d)) throw new InvalidOptionError(`service "${service}": invalid depends_on entry ${JSON.stringify(d)}`)
    if (d === service) throw new InvalidOptionError(`depends_on has a cycle: ${service} -> ${service}; nothing was deployed`)
    return d
  }
  if (Array.isArray(raw)) return [...new Set(raw.map(check))]
  if (isRecord(raw)) {
    // Long syntax: `required: false` (compose ≥ 2.20) makes a missing dependency harmless.
    return Object.entries(raw).filter(([, v]) => !(isRecord(v) && v.required === false)).map(([d]) => check(d))
  }
  throw new InvalidOptionError(`service "${service}": depends_on must be a list or a mapping`)
}

/** `compose config --hash '*'`: one "SERVICE HASH" line per service. */
export function parseConfigHashes (text: string): Map<string, string> {
  const hashes = new Map<string, string>()
  for (const line of text.split('\n')) {
    const t = line.trim()
    if (t === '') continue
    const [name, hash, extra] = t.split(/\s+/)
    if (name === undefined || hash === undefined || extra !== undefined || !SERVICE_NAME.test(name) || !HASH.test(hash)) {
      throw new InvalidOptionError(`unexpected line in compose's config hash output: ${JSON.stringify(t.slice(0, 200))}`)
    }
    hashes.set(name, hash)
  }
  return hashes
}

export type DeployReason = 'not running' | 'config changed'

export interface StackPlan {
  /** Proxied services whose config changed, dependencies first. */
  deploy: Array<{ service: string, reason: DeployReason }>
  /** Proxied services whose running containers all carry the config's hash. */
  unchanged: string[]
  /** Not proxied: compose runs them (`docker compose up`), proxyctl does not touch them. */
  leftToCompose: string[]
  /** In a profile that is not active: compose would not run them, so neither does proxyctl. */
  inactive: string[]
}

/**
 * `running`: the com.docker.compose.config-hash label of each running container, by service.
 * A service is unchanged only when it runs and every one of its containers has the hash compose
 * computes for the file now; anything else is a deploy (a redundant one is safe, a skipped one is not).
 */
export function planStack (services: readonly StackService[], expected: ReadonlyMap<string, string>, running: ReadonlyMap<string, readonly string[]>): StackPlan {
  const byName = new Map(services.map((s) => [s.name, s]))
  const plan: StackPlan = { deploy: [], unchanged: [], leftToCompose: [], inactive: [] }
  for (const name of stackOrder(services)) {
    const s = byName.get(name)!
    const want = expected.get(name)
    // docker-compose v1 prints services of inactive profiles in `config` but hashes only active ones.
    if (want === undefined && s.profiles.length > 0) {
      plan.inactive.push(name)
      continue
    }
    if (!s.proxied) {
      plan.leftToCompose.push(name)
      continue
    }
    if (want === undefined) throw new InvalidOptionError(`compose printed no config hash for service "${name}"`)
    const have = running.get(name) ?? []
    if (have.length > 0 && have.every((h) => h === want)) {
      plan.unchanged.push(name)
      continue
    }
    if (s.containerName !== undefined) {
      throw new InvalidOptionError(`service "${name}" sets container_name "${s.containerName}": a rolling deploy runs the old and the new container side by side, so it needs compose's generated names; nothing was deployed`)
    }
    plan.deploy.push({ service: name, reason: have.length === 0 ? 'not running' : 'config changed' })
  }
  return plan
}

function isRecord (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}
