import { open } from 'node:fs/promises'
import { constants } from 'node:fs'
import { join } from 'node:path'
import { WatchedDirectory } from '../config/watched-directory.js'
import type { Logger } from '../logger.js'

// nginx-proxy's custom error page, <html>/errors/50x.html: its fallback server (names no host
// serves) answers 500/502/503/504 with it (`error_page 500 502 503 504 /50x.html`, nginx.tmpl);
// the hosts' own errors are not replaced. Read aside and swapped whole; never read per request.

export const MAX_ERROR_PAGE_BYTES = 64 * 1024
/** A page answered this long after its last read is re-read in the background (bind-mounted files change without a directory event). */
const RECHECK_MS = 5_000

export class ErrorPage {
  readonly file: string
  readonly #dir: WatchedDirectory
  readonly #log: Logger
  #body: Buffer | undefined
  #readAt = 0

  constructor (htmlDir: string, log: Logger) {
    this.file = join(htmlDir, 'errors', '50x.html')
    this.#log = log
    this.#dir = new WatchedDirectory(join(htmlDir, 'errors'), 'error page', log, async () => { await this.#read() })
  }

  /** The page's bytes for a fallback 5xx answer; undefined: none (the proxy's short text). */
  body (): Buffer | undefined {
    if (performance.now() - this.#readAt > RECHECK_MS) void this.load()
    return this.#body
  }

  async load (): Promise<void> { await this.#dir.load() }
  watch (): void { this.#dir.watch() }
  stop (): void { this.#dir.stop() }

  // Private

  async #read (): Promise<void> {
    this.#readAt = performance.now()
    let next: Buffer | undefined
    try {
      // O_NONBLOCK: a FIFO in its place must not hang the read.
      const fh = await open(this.file, constants.O_RDONLY | constants.O_NONBLOCK)
      try {
        const st = await fh.stat()
        if (!st.isFile()) throw new Error('not a regular file')
        if (st.size > MAX_ERROR_PAGE_BYTES) throw new Error(`larger than ${MAX_ERROR_PAGE_BYTES} bytes`)
        const buf = Buffer.alloc(MAX_ERROR_PAGE_BYTES + 1)
        let n = 0
        for (;;) {
          const { bytesRead } = await fh.read(buf, n, buf.length - n, n)
          if (bytesRead === 0) break
          n += bytesRead
          if (n > MAX_ERROR_PAGE_BYTES) throw new Error(`larger than ${MAX_ERROR_PAGE_BYTES} bytes`)
        }
        next = Buffer.from(buf.subarray(0, n))
      } finally {
        await fh.close()
      }
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code !== 'ENOENT' && code !== 'ENOTDIR') this.#log.warn({ file: this.file, err: (err as Error).message }, 'Error page not read; the proxy\'s own text is answered')
      next = undefined
    }
    if (next !== undefined && (this.#body === undefined || !next.equals(this.#body))) this.#log.info({ file: this.file, bytes: next.length }, 'Error page loaded')
    this.#body = next
  }
}
