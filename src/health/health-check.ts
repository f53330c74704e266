import type { Dispatcher } from 'undici'
// Dispatcher.request() is added by undici's package entry: targets' pools come from the Pool class alone (src/routing/upstream-pool.ts).
import 'undici'
import { STARTING_PROBE_INTERVAL_MS, type HealthCheckOptions } from '../config/options.js'

export interface HealthCheckResult {
  ok: boolean
  at: string
  detail: string
  durationMs: number
}

/** Narrow consumer, so tests can pass a spy (kamal's HealthCheckConsumer). */
export interface HealthCheckConsumer {
  healthCheckCompleted (result: HealthCheckResult): void
  /** Probe faster while true (the target is not admitted yet). */
  readonly awaitingAdmission: boolean
}

export interface HealthCheckSettings {
  options: HealthCheckOptions
  /** Host header to send: a route's exact name, so apps that check Host (e.g. Rails) answer. */
  hostHeader: string
}

/** One probe loop per Target; reports every result, decides nothing about state. */
export class HealthCheck {
  readonly #dispatcher: Dispatcher
  readonly #consumer: HealthCheckConsumer
  #settings: HealthCheckSettings
  #timer: NodeJS.Timeout | undefined
  #stopped = false
  #inProgress: AbortController | undefined

  constructor (dispatcher: Dispatcher, consumer: HealthCheckConsumer, settings: HealthCheckSettings) {
    this.#dispatcher = dispatcher
    this.#consumer = consumer
    this.#settings = settings
  }

  set settings (settings: HealthCheckSettings) { this.#settings = settings }

  start (): void {
    this.#stopped = false
    this.#schedule(0)
  }

  stop (): void {
    this.#stopped = true
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#inProgress?.abort()
  }

  /** Run one probe now (used at boot and by tests); resolves with its result. */
  async probe (): Promise<HealthCheckResult> {
    const { options, hostHeader } = this.#settings
    const started = performance.now()
    const at = new Date().toISOString()
    const ac = new AbortController()
    this.#inProgress = ac
    const timer = setTimeout(() => { ac.abort() }, options.timeoutMs)
    try {
      const res = await this.#dispatcher.request({
        method: 'GET',
        path: options.path,
        headers: { host: hostHeader, 'user-agent': 'proxyctl-health-check', connection: 'keep-alive' },
        signal: ac.signal,
        headersTimeout: options.timeoutMs,
        bodyTimeout: options.timeoutMs
      })
      await res.body.dump({ limit: 64 * 1024 })
      const ok = options.pathConfigured ? res.statusCode >= 200 && res.statusCode < 400 : res.statusCode < 500
      return { ok, at, detail: `GET ${options.path} -> ${res.statusCode}`, durationMs: Math.round(performance.now() - started) }
    } catch (err) {
      const e = err as { code?: string, message?: string }
      const detail = ac.signal.aborted ? `timed out after ${options.timeoutMs}ms` : (e.code ?? e.message ?? String(err))
      return { ok: false, at, detail: `GET ${options.path} failed: ${detail}`, durationMs: Math.round(performance.now() - started) }
    } finally {
      clearTimeout(timer)
    }
  }

  // Private

  #schedule (delayMs: number): void {
    if (this.#stopped) return
    this.#timer = setTimeout(() => { void this.#tick() }, delayMs)
    this.#timer.unref()
  }

  async #tick (): Promise<void> {
    const result = await this.probe()
    if (this.#stopped) return
    this.#consumer.healthCheckCompleted(result)
    const interval = this.#settings.options.intervalMs
    this.#schedule(this.#consumer.awaitingAdmission ? Math.min(interval, STARTING_PROBE_INTERVAL_MS) : interval)
  }
}
