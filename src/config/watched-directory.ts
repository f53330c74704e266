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
  #reloading: Promise<void> | undefined

  constructor (dir: string, what: string, log: Logger, rebuild: () => Promise<void>) {
    this.dir = dir
    this.#what = what
    this.#log = log
    this.#rebuild = rebuild
  }

  /** Rebuild now; a call while one runs shares it. */
  async load (): Promise<void> {
    this.#reloading ??= this.#rebuild().finally(() => { this.#reloading = undefined })
    await this.#reloading
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
