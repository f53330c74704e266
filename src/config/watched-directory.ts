import { watch, type FSWatcher } from 'node:fs'
import type { Logger } from '../logger.js'

// A directory nginx-proxy users mount into the proxy (certs/, htpasswd/, vhost.d/): its store
// rebuilds what it holds from the whole directory; this runs that rebuild once at a time, again
// after a burst of changes settles, and on demand (SIGHUP). One per store.

/** Writers replace files one after the other (.crt then .key): wait for the burst to settle. */
const SETTLE_MS = 150

export class WatchedDirectory {
  readonly dir: string
  readonly #what: string
  readonly #log: Logger
  readonly #rebuild: () => Promise<void>
  #watcher: FSWatcher | undefined
  #timer: NodeJS.Timeout | undefined
  #running: Promise<void> | undefined
  #queued: Promise<void> | undefined

  constructor (dir: string, what: string, log: Logger, rebuild: () => Promise<void>) {
    this.dir = dir
    this.#what = what
    this.#log = log
    this.#rebuild = rebuild
  }

  /**
   * Rebuild now. One runs at a time: a call while one runs may come from a change that rebuild
   * already read past, so it gets one more rebuild after it (shared by every call meanwhile).
   */
  async load (): Promise<void> {
    if (this.#running === undefined) {
      this.#running = this.#rebuild().finally(() => { this.#running = undefined })
      await this.#running
      return
    }
    this.#queued ??= this.#running.catch(() => {}).then(async () => {
      this.#queued = undefined
      await this.load()
    })
    await this.#queued
  }

  watch (): void {
    this.#watcher?.close()
    try {
      this.#watcher = watch(this.dir, () => {
        clearTimeout(this.#timer)
        this.#timer = setTimeout(() => { void this.load() }, SETTLE_MS)
      })
      this.#watcher.on('error', (err) => { this.#log.warn({ err: err.message, dir: this.dir }, `${this.#what} watch failed`) })
    } catch (err) {
      this.#log.debug({ dir: this.dir, err: (err as Error).message }, `No ${this.#what} to watch`)
    }
  }

  stop (): void {
    this.#watcher?.close()
    clearTimeout(this.#timer)
  }
}
