import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import type { Logger } from '../logger.js'
import { parseAllowEntry, MAX_ALLOW_ENTRIES, MAX_MAINTENANCE_PAGE_BYTES } from './maintenance.js'
import type { MaintenancePolicy, PolicySnapshot } from './policy.js'
import { PLAIN_HOST_RE, WILDCARD_HOST_RE } from '../config/host-name.js'

// Maintenance survives a proxy restart: kept in a JSON file beside the rollout history, written
// whole (temporary file, then rename) on every change, read back before the listener opens.
// Pauses are not kept: the requests they held died with the process.

export const TRAFFIC_STATE_FILE_NAME = 'traffic-control.json'

interface StateFile { version: 1, maintenance: Record<string, MaintenancePolicy> }

/** The state file's path for a history file (`--history-file`, HISTORY_FILE); undefined: nothing is kept. */
export function trafficStateFileFor (historyFile: string | undefined): string | undefined {
  return historyFile === undefined ? undefined : join(dirname(historyFile), TRAFFIC_STATE_FILE_NAME)
}

export class TrafficStateFile {
  readonly file: string
  readonly #log: Logger
  #writing: Promise<void> = Promise.resolve()
  #next: string | undefined

  constructor (file: string, log: Logger) {
    this.file = file
    this.#log = log
  }

  /** Maintenance per host as saved; entries that do not validate are skipped with a warning. */
  async load (): Promise<Record<string, MaintenancePolicy>> {
    let text: string
    try {
      text = await readFile(this.file, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.#log.warn({ file: this.file, err: (err as Error).message }, 'Traffic control state not read')
      return {}
    }
    let parsed: unknown
    try { parsed = JSON.parse(text) } catch {
      this.#log.warn({ file: this.file }, 'Traffic control state unreadable (not JSON): ignored')
      return {}
    }
    const out: Record<string, MaintenancePolicy> = {}
    const entries = (parsed as Partial<StateFile> | null)?.maintenance
    if (typeof entries !== 'object' || entries === null) return out
    for (const [host, value] of Object.entries(entries)) {
      const policy = validStored(host, value)
      if (policy === undefined) this.#log.warn({ file: this.file, host }, 'Invalid maintenance entry in the state file skipped')
      else out[host] = policy
    }
    return out
  }

  /** Writes the snapshot's maintenance entries; writes in flight are coalesced to the newest. */
  async save (snapshot: PolicySnapshot): Promise<void> {
    const maintenance: Record<string, MaintenancePolicy> = {}
    for (const [host, p] of Object.entries(snapshot.hosts)) if (p.maintenance !== undefined) maintenance[host] = p.maintenance
    this.#next = `${JSON.stringify({ version: 1, maintenance } satisfies StateFile)}\n`
    this.#writing = this.#writing.then(async () => {
      const text = this.#next
      if (text === undefined) return
      this.#next = undefined
      const tmp = `${this.file}.${process.pid}.tmp`
      try {
        await mkdir(dirname(this.file), { recursive: true })
        await writeFile(tmp, text, { mode: 0o600 })
        await rename(tmp, this.file)
      } catch (err) {
        this.#log.warn({ file: this.file, err: (err as Error).message }, 'Traffic control state not written')
      }
    })
    await this.#writing
  }
}

function validStored (host: string, value: unknown): MaintenancePolicy | undefined {
  if (!PLAIN_HOST_RE.test(host) && !WILDCARD_HOST_RE.test(host)) return undefined
  if (typeof value !== 'object' || value === null) return undefined
  const v = value as Record<string, unknown>
  const page = v.page
  if (page !== undefined && (typeof page !== 'string' || Buffer.byteLength(page) > MAX_MAINTENANCE_PAGE_BYTES)) return undefined
  const allow = v.allow
  if (!Array.isArray(allow) || allow.length > MAX_ALLOW_ENTRIES || !allow.every((a) => typeof a === 'string' && !('error' in parseAllowEntry(a)))) return undefined
  const since = typeof v.since === 'number' && Number.isFinite(v.since) ? v.since : Date.now()
  return { page, allow: allow as string[], since }
}
