import { isUtf8 } from 'node:buffer'
import { createHash } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { LRUCache } from 'lru-cache'
import { WatchedDirectory } from '../config/watched-directory.js'
import type { Logger } from '../logger.js'
import { DEFAULT_AUTH_QUEUE, DEFAULT_AUTH_THREADS, HashPool, type VerifyResult } from './auth-pool.js'
import { AuthThrottle, DEFAULT_AUTH_FAILURE_WINDOW_MS, DEFAULT_AUTH_MAX_FAILURES, DEFAULT_AUTH_TRACKED_CLIENTS } from './auth-throttle.js'
import { decoyHash, parseHtpasswd } from './htpasswd.js'

// Basic auth from nginx-proxy's /etc/nginx/htpasswd files (reloaded on change), named as its
// nginx.tmpl names them (see #fileFor). Hashing runs in worker threads (auth-pool.ts), so wrong
// passwords cannot stall other hosts' requests.

/**
 * 'open': neither the location nor its host has an htpasswd file. 'denied' → 401. 'throttled' → 429 and 'busy' → 503,
 * both with Retry-After: retryAfter(verdict, client).
 */
export type AuthVerdict = 'open' | 'ok' | 'denied' | 'throttled' | 'busy'

/** Longer Authorization values are refused unread (nginx's whole header buffer is 1 KiB by default). */
export const MAX_AUTHORIZATION_LENGTH = 4096
export const DEFAULT_AUTH_CACHE_ENTRIES = 10_000
export const DEFAULT_AUTH_CACHE_TTL_MS = 15 * 60_000
/** Retry-After for 'busy': the queue drains in well under a second at bcrypt cost 10. */
export const BUSY_RETRY_AFTER_S = 1

export interface BasicAuthOptions {
  threads: number
  maxQueue: number
  maxFailures: number
  failureWindowMs: number
  trackedClients: number
  cacheEntries: number
  cacheTtlMs: number
  /** Bench only: verify on the main thread, as before (see bench/auth-starvation.ts). */
  inline: boolean
  now: () => number
}

export const DEFAULT_BASIC_AUTH_OPTIONS: BasicAuthOptions = {
  threads: DEFAULT_AUTH_THREADS,
  maxQueue: DEFAULT_AUTH_QUEUE,
  maxFailures: DEFAULT_AUTH_MAX_FAILURES,
  failureWindowMs: DEFAULT_AUTH_FAILURE_WINDOW_MS,
  trackedClients: DEFAULT_AUTH_TRACKED_CLIENTS,
  cacheEntries: DEFAULT_AUTH_CACHE_ENTRIES,
  cacheTtlMs: DEFAULT_AUTH_CACHE_TTL_MS,
  inline: false,
  now: Date.now
}

interface HtpasswdFile { users: Map<string, string>, decoy: string | undefined }
/** The file names that may protect one location, most specific first, and their realms. */
interface FileNames { candidates: Array<{ name: string, realm: string }> }
interface Credentials { user: string, password: string }

const OPEN = Promise.resolve<AuthVerdict>('open')
const OK = Promise.resolve<AuthVerdict>('ok')
const DENIED = Promise.resolve<AuthVerdict>('denied')
const THROTTLED = Promise.resolve<AuthVerdict>('throttled')

export class BasicAuthStore {
  readonly dir: string
  readonly #log: Logger
  readonly #pool: HashPool
  readonly #throttle: AuthThrottle
  readonly #failureWindowMs: number
  #files = new Map<string, HtpasswdFile>()
  // (host, path) -> candidate file names. Keys come from the route table, not from requests.
  readonly #names = new LRUCache<string, FileNames>({ max: 4096 })
  readonly #directory: WatchedDirectory
  // Verified credentials -> the hash they matched, so bcrypt is paid once per credential. Keyed by
  // a SHA-256 of (host, user, password) and written only after a success: junk cannot grow it.
  readonly #verified: LRUCache<string, string>
  // Verifications in flight, shared by concurrent requests with the same credentials (a browser
  // opening six connections); bounded by the pool's queue.
  readonly #inflight = new Map<string, Promise<VerifyResult>>()

  constructor (dir: string, log: Logger, options: Partial<BasicAuthOptions> = {}) {
    const o = { ...DEFAULT_BASIC_AUTH_OPTIONS, ...options }
    this.dir = dir
    this.#log = log
    this.#failureWindowMs = o.failureWindowMs
    this.#pool = new HashPool({ threads: o.threads, maxQueue: o.maxQueue, inline: o.inline })
    this.#throttle = new AuthThrottle({ maxFailures: o.maxFailures, windowMs: o.failureWindowMs, maxClients: o.trackedClients, now: o.now })
    this.#verified = new LRUCache({ max: o.cacheEntries, ttl: o.cacheTtlMs, perf: { now: o.now } })
    this.#directory = new WatchedDirectory(dir, 'htpasswd directory', log, async () => { await this.#load() })
  }

  async load (): Promise<void> { await this.#directory.load() }
  watch (): void { this.#directory.watch() }

  async stop (): Promise<void> {
    this.#directory.stop()
    await this.#pool.stop()
  }

  // Files are read whole and swapped in at once; a file that cannot be read is skipped, logged.
  async #load (): Promise<void> {
    let names: string[]
    try {
      names = await readdir(this.dir)
    } catch {
      names = []
    }
    const next = new Map<string, HtpasswdFile>()
    for (const name of names) {
      if (name.startsWith('~')) {
        this.#log.warn({ file: join(this.dir, name) }, 'htpasswd file named like a regex: nginx-proxy 1.7+ ignores it and reads the SHA-1 of the regex instead; proxyctl honours both, rename it')
      }
      try {
        const users = parseHtpasswd(await readFile(join(this.dir, name), 'utf8'))
        next.set(name.toLowerCase(), { users, decoy: decoyHash(users) })
      } catch (err) {
        this.#log.warn({ file: join(this.dir, name), err: (err as Error).message }, 'htpasswd file skipped')
      }
    }
    this.#files = next
    this.#verified.clear()
  }

  /**
   * `host` is the VIRTUAL_HOST entry as written (`~^re$` for a regex), `path` the location's
   * VIRTUAL_PATH. `client` is the address failures are counted against (the peer address). Answers
   * without hashing (an already settled promise) when the location is open, the credentials are
   * malformed or cached, or the client is throttled.
   */
  check (host: string, path: string, authorization: string | undefined, client: string): Promise<AuthVerdict> {
    const found = this.#fileFor(host, path)
    if (found === undefined) return OPEN
    const { name, file } = found
    if (authorization === undefined || authorization === '') return DENIED
    const creds = parseBasicCredentials(authorization)
    if (creds === undefined) {
      if (this.#throttle.retryAfterSeconds(client) > 0) return THROTTLED
      this.#throttle.failed(client)
      return DENIED
    }
    const hash = file.users.get(creds.user)
    const key = credentialKey(name, creds)
    if (hash !== undefined && this.#verified.get(key) === hash) return OK
    return this.#verify(key, creds.password, hash, file.decoy, client)
  }

  /** The WWW-Authenticate realm of a 401 for this location: nginx-proxy's auth_basic text. */
  realm (host: string, path: string): string {
    return this.#fileFor(host, path)?.realm ?? `Restricted ${host}`
  }

  /** Seconds for the Retry-After header of a 'throttled' (429) or 'busy' (503) answer to `client`. */
  retryAfter (verdict: 'throttled' | 'busy', client: string): number {
    return verdict === 'busy' ? BUSY_RETRY_AFTER_S : Math.max(1, this.#throttle.retryAfterSeconds(client))
  }

  /** The longest a throttled client waits (the failure window), for callers without its address. */
  get retryAfterSeconds (): number { return Math.ceil(this.#failureWindowMs / 1000) }

  /** For tests and the bench: verifications paid so far, and the sizes of the bounded tables. */
  get stats (): { verifications: number, cached: number, trackedClients: number } {
    return { verifications: this.#pool.tasks, cached: this.#verified.size, trackedClients: this.#throttle.size }
  }

  // Private

  // nginx-proxy's nginx.tmpl ("location" template): <file> is the VIRTUAL_HOST, or for a regex host
  // the SHA-1 (lower-case hex) of the entry with its '~'; `<file>_<SHA-1 of VIRTUAL_PATH>` wins over
  // `<file>`, realm "Restricted <file><path>"; `<file>` alone: "Restricted <host>" ("Restricted
  // access" for a regex). A regex's own name (read before 1.7) still protects it: failing closed.
  #fileFor (host: string, path: string): { name: string, file: HtpasswdFile, realm: string } | undefined {
    if (this.#files.size === 0) return undefined
    const key = `${host}\n${path}`
    let names = this.#names.get(key)
    if (names === undefined) {
      names = fileNames(host, path)
      this.#names.set(key, names)
    }
    for (const { name, realm } of names.candidates) {
      const file = this.#files.get(name)
      if (file !== undefined) return { name, file, realm }
    }
    return undefined
  }

  async #verify (key: string, password: string, hash: string | undefined, decoy: string | undefined, client: string): Promise<AuthVerdict> {
    const shared = this.#inflight.get(key)
    if (shared !== undefined) {
      const r = await shared
      if (r === false) this.#throttle.failed(client)
      return r === 'busy' ? 'busy' : r ? 'ok' : 'denied'
    }
    if (!this.#throttle.begin(client)) return 'throttled'
    // An unknown user is checked against a real entry of the same file, and the outcome dropped.
    const run = hash === undefined && decoy === undefined ? Promise.resolve(false) : this.#hash(password, hash ?? decoy!)
    this.#inflight.set(key, run)
    let r: VerifyResult
    try {
      r = await run
    } finally {
      this.#inflight.delete(key)
    }
    const ok = r === true && hash !== undefined
    this.#throttle.settled(client, ok || r === 'busy')
    if (r === 'busy') return 'busy'
    if (ok) this.#verified.set(key, hash)
    return ok ? 'ok' : 'denied'
  }

  async #hash (password: string, hash: string): Promise<VerifyResult> {
    try {
      return await this.#pool.verify(password, hash)
    } catch (err) {
      this.#log.warn({ err: (err as Error).message }, 'Password verification failed')
      return false
    }
  }
}

/** undefined for anything but `Basic <base64 of UTF-8 user:password>`; the scheme is case-insensitive. */
export function parseBasicCredentials (authorization: string): Credentials | undefined {
  if (authorization.length > MAX_AUTHORIZATION_LENGTH) return undefined
  const m = /^basic +([A-Za-z0-9+/]+={0,2}) *$/i.exec(authorization)
  if (m === null || m[1]!.length % 4 === 1) return undefined
  const bytes = Buffer.from(m[1]!, 'base64')
  // Invalid UTF-8 would decode to U+FFFD, making different passwords compare (and cache) as one.
  if (!isUtf8(bytes)) return undefined
  const decoded = bytes.toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon < 0) return undefined
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) }
}

function credentialKey (file: string, { user, password }: Credentials): string {
  return createHash('sha256').update(JSON.stringify([file, user, password])).digest('base64')
}

const sha1 = (text: string): string => createHash('sha1').update(text).digest('hex')

function fileNames (host: string, path: string): FileNames {
  const regex = host.startsWith('~')
  const file = regex ? sha1(host) : host
  const pathSum = sha1(path)
  // File names are matched lower-cased (load() lower-cases them); the regex itself keeps its case.
  const candidates = [{ name: `${file}_${pathSum}`, realm: `Restricted ${file}${path}` }]
  if (regex) candidates.push({ name: `${host}_${pathSum}`.toLowerCase(), realm: `Restricted ${file}${path}` })
  candidates.push({ name: file, realm: regex ? 'Restricted access' : `Restricted ${host}` })
  if (regex) candidates.push({ name: host.toLowerCase(), realm: 'Restricted access' })
  return { candidates }
}
