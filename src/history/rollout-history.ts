import { randomUUID } from 'node:crypto'
import { appendFile, mkdir, readFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import type { Logger } from '../logger.js'

// Rollouts as the proxy saw them: kept in memory (bounded) and, when a file is configured,
// appended as JSON lines when each one finishes, so the history survives a proxy restart.

export type RolloutOutcome = 'running' | 'succeeded' | 'failed'

export interface RolloutStep { at: string, step: string, status: string, message: string }

export interface RolloutRecord {
  id: string
  service: string
  startedAt: string
  finishedAt: string | null
  outcome: RolloutOutcome
  error: string | null
  old: string[]
  new: string[]
  hosts: string[]
  steps: RolloutStep[]
  /** Failed responses (5xx or cut) on the service's hosts between start and finish. */
  failedRequests: number
}

export const DEFAULT_HISTORY_LIMIT = 100

export class RolloutHistory {
  readonly #file: string | undefined
  readonly #limit: number
  readonly #log: Logger
  readonly #errorsFor: (hosts: string[]) => number
  #records: RolloutRecord[] = []
  readonly #errorsAtStart = new Map<string, Map<string, number>>()

  /** `errorsFor(hosts)`: the failure total across hosts now (TrafficStats). */
  constructor (file: string | undefined, errorsFor: (hosts: string[]) => number, log: Logger, limit = DEFAULT_HISTORY_LIMIT) {
    this.#file = file
    this.#errorsFor = errorsFor
    this.#log = log
    this.#limit = limit
  }

  async load (): Promise<void> {
    if (this.#file === undefined) return
    let text: string
    try {
      text = await readFile(this.#file, 'utf8')
    } catch {
      return
    }
    const records: RolloutRecord[] = []
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue
      try { records.push(JSON.parse(line) as RolloutRecord) } catch { this.#log.warn({ file: this.#file }, 'Unreadable history line skipped') }
    }
    this.#records = records.slice(-this.#limit)
  }

  list (): RolloutRecord[] { return [...this.#records].reverse() }

  started (service: string): RolloutRecord {
    const record: RolloutRecord = {
      id: randomUUID(), service, startedAt: new Date().toISOString(), finishedAt: null, outcome: 'running', error: null, old: [], new: [], hosts: [], steps: [], failedRequests: 0
    }
    this.#records.push(record)
    if (this.#records.length > this.#limit) this.#records.splice(0, this.#records.length - this.#limit)
    this.#errorsAtStart.set(record.id, new Map())
    return record
  }

  /** A deploy step; `hosts` are the service's hosts as known at that point. */
  stepped (id: string, step: Omit<RolloutStep, 'at'>, change: { old?: string[], new?: string[], hosts?: string[] } = {}): RolloutRecord | undefined {
    const r = this.#records.find((x) => x.id === id)
    if (r === undefined) return undefined
    r.steps.push({ at: new Date().toISOString(), ...step })
    if (change.old !== undefined) r.old = change.old
    if (change.new !== undefined) r.new = change.new
    for (const h of change.hosts ?? []) {
      if (r.hosts.includes(h)) continue
      r.hosts.push(h)
      this.#errorsAtStart.get(id)?.set(h, this.#errorsFor([h]))
    }
    r.failedRequests = this.#failedSince(r)
    return r
  }

  async finished (id: string, outcome: 'succeeded' | 'failed', error: string | undefined): Promise<RolloutRecord | undefined> {
    const r = this.#records.find((x) => x.id === id)
    if (r === undefined) return undefined
    r.finishedAt = new Date().toISOString()
    r.outcome = outcome
    r.error = error ?? null
    r.failedRequests = this.#failedSince(r)
    this.#errorsAtStart.delete(id)
    if (this.#file !== undefined) {
      try {
        await mkdir(dirname(this.#file), { recursive: true })
        await appendFile(this.#file, `${JSON.stringify(r)}\n`)
      } catch (err) {
        this.#log.warn({ file: this.#file, err: (err as Error).message }, 'History not written')
      }
    }
    return r
  }

  #failedSince (r: RolloutRecord): number {
    const start = this.#errorsAtStart.get(r.id)
    if (start === undefined) return r.failedRequests
    let n = 0
    for (const h of r.hosts) n += this.#errorsFor([h]) - (start.get(h) ?? 0)
    return n
  }
}
