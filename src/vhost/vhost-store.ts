import { createHash } from 'node:crypto'
import { open, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { WatchedDirectory } from '../config/watched-directory.js'
import type { Logger } from '../logger.js'
import { readVhostFile, type AddedHeader, type VhostDirectives } from './vhost-directives.js'

// nginx-proxy's /etc/nginx/vhost.d, read as nginx-proxy's template includes it (nginx.tmpl):
//   server level:   <host> (a ~regex host: the SHA-1 of the regex), else `default`
//   location level: <host>_<SHA-1 of VIRTUAL_PATH>_location, else <host>_location, else `default_location`
// Each level replaces the next one down, never merges with it. The request router asks
// settingsFor(host, path) per request; the answer comes from one snapshot, swapped whole on change.

/** vhost.d files are a few lines; anything larger is refused rather than read into memory. */
export const MAX_VHOST_FILE_BYTES = 64 * 1024
/** Files read per directory load, so a directory of junk cannot hold the event loop. */
const MAX_VHOST_FILES = 4096
const MAX_WARNINGS_PER_FILE = 50

/** The settings a location runs with, server level and location level merged (innermost wins). */
export interface VhostLocationSettings {
  /** null: no limit (client_max_body_size 0); undefined: not set by vhost.d. */
  maxBodyBytes: number | null | undefined
  readTimeoutMs: number | undefined
  sendTimeoutMs: number | undefined
  connectTimeoutMs: number | undefined
  addHeaders: readonly AddedHeader[]
}

interface VhostSnapshot {
  files: ReadonlyMap<string, VhostDirectives>
  resolved: Map<string, VhostLocationSettings | undefined>
}

/** The vhost.d file names nginx-proxy would include for a host and VIRTUAL_PATH, in order of precedence. */
export function vhostFileNames (host: string, path: string): { server: string[], location: string[] } {
  const base = host.startsWith('~') ? sha1(host) : host
  return {
    server: [base, 'default'],
    location: [`${base}_${sha1(path)}_location`, `${base}_location`, 'default_location']
  }
}

/** Merges a server-level and a location-level file as nginx inherits directives (innermost wins). */
export function mergeVhost (server: VhostDirectives | undefined, location: VhostDirectives | undefined): VhostLocationSettings | undefined {
  if (server === undefined && location === undefined) return undefined
  const s = server ?? {}
  const l = location ?? {}
  return {
    maxBodyBytes: 'maxBodyBytes' in l ? l.maxBodyBytes : s.maxBodyBytes,
    readTimeoutMs: l.readTimeoutMs ?? s.readTimeoutMs,
    sendTimeoutMs: l.sendTimeoutMs ?? s.sendTimeoutMs,
    connectTimeoutMs: l.connectTimeoutMs ?? s.connectTimeoutMs,
    // nginx: add_header is inherited only when the inner level has none of its own.
    addHeaders: Object.freeze([...(l.addHeaders ?? s.addHeaders ?? [])])
  }
}

export class VhostStore {
  readonly dir: string
  readonly #log: Logger
  #snapshot: VhostSnapshot = { files: new Map(), resolved: new Map() }
  /** Last content seen per file, so a file is warned about once per version, not once per load. */
  #contents = new Map<string, Buffer>()
  readonly #directory: WatchedDirectory
  #onReloaded: Array<() => void> = []

  constructor (dir: string, log: Logger) {
    this.dir = dir
    this.#log = log
    this.#directory = new WatchedDirectory(dir, 'vhost.d', log, async () => { await this.#load() })
  }

  get files (): string[] { return [...this.#snapshot.files.keys()].sort() }

  onReloaded (fn: () => void): void { this.#onReloaded.push(fn) }

  async load (): Promise<void> { await this.#directory.load() }
  watch (): void { this.#directory.watch() }
  stop (): void { this.#directory.stop() }

  /** Settings for a location (the VIRTUAL_HOST entry as written, and its VIRTUAL_PATH); undefined: no file applies. */
  settingsFor (host: string, path: string): VhostLocationSettings | undefined {
    const snap = this.#snapshot
    if (snap.files.size === 0) return undefined
    const key = `${host}\n${path}`
    if (snap.resolved.has(key)) return snap.resolved.get(key)
    const names = vhostFileNames(host, path)
    const pick = (list: string[]): VhostDirectives | undefined => {
      for (const n of list) { const f = snap.files.get(n); if (f !== undefined) return f }
      return undefined
    }
    const settings = mergeVhost(pick(names.server), pick(names.location))
    // Bounded by the route table's locations: keys come from routes, never from requests.
    snap.resolved.set(key, settings)
    return settings
  }

  // Private

  async #load (): Promise<void> {
    let names: string[]
    try {
      names = (await readdir(this.dir, { withFileTypes: true })).filter((e) => e.isFile() && !e.name.startsWith('.')).map((e) => e.name).sort()
    } catch {
      names = []
    }
    if (names.length > MAX_VHOST_FILES) {
      this.#log.warn({ dir: this.dir, files: names.length }, `vhost.d has more than ${MAX_VHOST_FILES} files; only the first ${MAX_VHOST_FILES} are read`)
      names = names.slice(0, MAX_VHOST_FILES)
    }
    const files = new Map<string, VhostDirectives>()
    const contents = new Map<string, Buffer>()
    let anyChanged = names.length !== this.#contents.size || names.some((n) => !this.#contents.has(n))
    for (const name of names) {
      const file = join(this.dir, name)
      const content = await readCapped(file)
      if (typeof content === 'string') {
        const marker = Buffer.from(`\0unread: ${content}`)
        if (!(this.#contents.get(name)?.equals(marker) ?? false)) { anyChanged = true; this.#log.warn({ file }, `vhost.d file ignored: ${content}`) }
        contents.set(name, marker)
        continue
      }
      const changed = !(this.#contents.get(name)?.equals(content) ?? false)
      if (changed) anyChanged = true
      contents.set(name, content)
      if (name.endsWith('_location_override')) {
        if (changed) this.#log.warn({ file }, 'vhost.d location override ignored: proxyctl builds the location from the container\'s env (VIRTUAL_PATH, VIRTUAL_DEST, VIRTUAL_PROTO); use <host>_location for directives to add')
        continue
      }
      // nginx reads bytes; latin1 maps each byte to one character, so nothing is lost or rejected
      // here. Honoured values must be ASCII anyway (checked where they are read).
      const reading = readVhostFile(content.toString('latin1'))
      files.set(name, reading.directives)
      if (!changed) continue
      for (const w of reading.warnings.slice(0, MAX_WARNINGS_PER_FILE)) {
        this.#log.warn({ file, line: w.line, directive: w.directive }, `${file}:${w.line}: ${w.message}`)
      }
      if (reading.warnings.length > MAX_WARNINGS_PER_FILE) this.#log.warn({ file }, `${file}: ${reading.warnings.length - MAX_WARNINGS_PER_FILE} more warnings not shown`)
    }
    this.#contents = contents
    this.#snapshot = { files, resolved: new Map() }
    if (anyChanged) {
      this.#log.info({ dir: this.dir, files: this.files }, 'vhost.d loaded')
      for (const fn of this.#onReloaded) fn()
    }
  }
}

/** The file's bytes, or why it was not read. */
async function readCapped (file: string): Promise<Buffer | string> {
  let handle
  try {
    handle = await open(file, 'r')
    const { size } = await handle.stat()
    if (size > MAX_VHOST_FILE_BYTES) return `over ${MAX_VHOST_FILE_BYTES} bytes (${size})`
    // Read at most the cap even if the file grew since stat.
    const buf = Buffer.alloc(MAX_VHOST_FILE_BYTES + 1)
    const { bytesRead } = await handle.read(buf, 0, buf.length, 0)
    if (bytesRead > MAX_VHOST_FILE_BYTES) return `over ${MAX_VHOST_FILE_BYTES} bytes`
    return Buffer.from(buf.subarray(0, bytesRead))
  } catch (err) {
    return `unreadable (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`
  } finally {
    await handle?.close()
  }
}

function sha1 (text: string): string {
  return createHash('sha1').update(text).digest('hex')
}
