import { createHash } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createSecureContext, type SecureContext } from 'node:tls'
import { WatchedDirectory } from '../config/watched-directory.js'
import type { Logger } from '../logger.js'
import { TLS_POLICY } from './policy.js'

// Certificates from nginx-proxy's volume (/etc/nginx/certs): <name>.crt + <name>.key pairs.
// Rebuilt aside and swapped on file changes and SIGHUP; a pair that fails to load keeps the last
// good one for that name, so a renewal written in two steps never drops a host.

export interface CertificateEntry {
  name: string
  context: SecureContext
  cert: Buffer
  key: Buffer
}

/** A client CA (`<host>.ca.crt`, `ca.crt`) or CRL (`<host>.crl.pem`, `ca.crl.pem`) file, as read. */
export interface PemFile {
  file: string
  pem: Buffer
  /** SHA-256 of the bytes: per-host TLS contexts are cached by it. */
  digest: string
}

export class CertificateStore {
  readonly dir: string
  readonly #log: Logger
  #entries = new Map<string, CertificateEntry>()
  /** Names with a .crt file, usable or not (nginx-proxy's selection looks at the .crt alone). */
  #crtFiles = new Set<string>()
  /** Mutual TLS files by name: `<host>.ca` / `ca` (from .crt) and `<host>.crl` / `ca.crl` (from .pem). */
  #pemFiles = new Map<string, PemFile>()
  readonly #directory: WatchedDirectory
  #onReloaded: Array<() => void> = []
  #generation = 0

  constructor (dir: string, log: Logger) {
    this.dir = dir
    this.#log = log
    this.#directory = new WatchedDirectory(dir, 'certificate directory', log, async () => { await this.#load() })
  }

  get names (): string[] { return [...this.#entries.keys()].sort() }

  /** Called after every reload (the HTTPS server refreshes its default certificate). */
  onReloaded (fn: () => void): void { this.#onReloaded.push(fn) }

  /** Bumped whenever anything a lookup answers from changes, so callers may cache per generation. */
  get generation (): number { return this.#generation }

  async load (): Promise<void> { await this.#directory.load() }
  watch (): void { this.#directory.watch() }
  stop (): void { this.#directory.stop() }

  get (name: string): CertificateEntry | undefined { return this.#entries.get(name) }

  /** nginx-proxy's client CA `<name>.ca.crt` (`name` 'ca' is the global `ca.crt`), when present. */
  clientCa (name: string): PemFile | undefined { return name === 'ca' ? this.#pemFiles.get('ca') : this.#pemFiles.get(`${name}.ca`) }

  /** nginx-proxy's CRL `<name>.crl.pem` (`ca.crl.pem` for name 'ca'), when present. */
  crl (name: string): PemFile | undefined { return this.#pemFiles.get(`${name}.crl`) }

  /**
   * nginx-proxy's certificate selection for a virtual host (nginx.tmpl, docs "Certificate
   * selection"): CERT_NAME if set (no fallback), else `<vhost>.crt`, else, for a sub-domain, its
   * parent domain's `<parent>.crt` (one label up only: a wildcard covers one label), else
   * `default` when trusted. A name whose .crt exists without a usable pair selects nothing: as
   * nginx-proxy, the search stops at the first .crt file found.
   */
  certificateFor (vhost: string, certName: string | undefined, trustDefault = false): CertificateEntry | undefined {
    if (certName !== undefined) return this.#entries.get(certName)
    if (this.#crtFiles.has(vhost)) return this.#entries.get(vhost)
    if (vhost.split('.').length > 2) {
      const parent = vhost.slice(vhost.indexOf('.') + 1)
      if (this.#crtFiles.has(parent)) return this.#entries.get(parent)
    }
    return trustDefault ? this.#entries.get('default') : undefined
  }

  // Private

  async #load (): Promise<void> {
    let files: string[]
    try {
      files = await readdir(this.dir)
    } catch {
      files = []
    }
    const next = new Map<string, CertificateEntry>()
    const names = files.filter((f) => f.endsWith('.crt')).map((f) => f.slice(0, -4))
    const pemFiles = await this.#loadPemFiles(names.filter(isClientCaName).map((n) => `${n}.crt`).concat(files.filter((f) => f.endsWith('.crl.pem'))))
    for (const name of names) {
      const certFile = join(this.dir, `${name}.crt`)
      const keyFile = join(this.dir, `${name}.key`)
      try {
        const [cert, key] = await Promise.all([readFile(certFile), readFile(keyFile)])
        const previous = this.#entries.get(name)
        if (previous !== undefined && previous.cert.equals(cert) && previous.key.equals(key)) {
          next.set(name, previous)
          continue
        }
        next.set(name, { name, cert, key, context: createSecureContext({ ...TLS_POLICY, cert, key }) })
      } catch (err) {
        const previous = this.#entries.get(name)
        // A client CA comes without a key: not a pair, nothing to say.
        if (isClientCaName(name) && (err as NodeJS.ErrnoException).code === 'ENOENT') continue
        this.#log.warn({ certFile, keyFile, err: (err as Error).message, keptPrevious: previous !== undefined }, 'Certificate pair skipped')
        if (previous !== undefined) next.set(name, previous)
      }
    }
    // A .crt without a usable key changes what certificateFor answers (no fallback past it) too.
    const crtFilesChanged = names.length !== this.#crtFiles.size || names.some((n) => !this.#crtFiles.has(n))
    this.#crtFiles = new Set(names)
    const changed = crtFilesChanged || next.size !== this.#entries.size || [...next].some(([n, e]) => this.#entries.get(n) !== e) ||
      pemFiles.size !== this.#pemFiles.size || [...pemFiles].some(([n, f]) => this.#pemFiles.get(n)?.digest !== f.digest)
    this.#entries = next
    this.#pemFiles = pemFiles
    if (changed) {
      this.#generation++
      this.#log.info({ dir: this.dir, certificates: this.names }, 'Certificates loaded')
      for (const fn of this.#onReloaded) fn()
    }
  }

  /** Keyed by file name without .crt / .pem; an unreadable file keeps its previous content. */
  async #loadPemFiles (files: string[]): Promise<Map<string, PemFile>> {
    const out = new Map<string, PemFile>()
    for (const f of files) {
      const key = f.replace(/\.(crt|pem)$/, '')
      const file = join(this.dir, f)
      try {
        const pem = await readFile(file)
        out.set(key, { file, pem, digest: createHash('sha256').update(pem).digest('hex') })
      } catch (err) {
        const previous = this.#pemFiles.get(key)
        this.#log.warn({ file, err: (err as Error).message, keptPrevious: previous !== undefined }, 'Client CA or CRL file not read')
        if (previous !== undefined) out.set(key, previous)
      }
    }
    return out
  }
}

function isClientCaName (name: string): boolean { return name === 'ca' || name.endsWith('.ca') }
