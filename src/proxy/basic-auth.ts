import { createHash, timingSafeEqual } from 'node:crypto'
import { watch, type FSWatcher } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createRequire } from 'node:module'
import bcrypt from 'bcryptjs'
import type { Logger } from '../logger.js'

// Basic auth from nginx-proxy's /etc/nginx/htpasswd/<host> files, in the formats htpasswd writes:
// bcrypt ($2y$), apr1 MD5 ($apr1$), SHA1 ({SHA}) and crypt(3). Libraries do the hashing.

const require = createRequire(import.meta.url)
const apacheMd5 = require('apache-md5') as (password: string, salt: string) => string
const apacheCrypt = require('apache-crypt') as (password: string, salt: string) => string

function safeEqual (a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

export function verifyHtpasswd (password: string, hash: string): boolean {
  if (/^\$2[abxy]\$/.test(hash)) return bcrypt.compareSync(password, hash)
  if (hash.startsWith('$apr1$')) return safeEqual(apacheMd5(password, hash), hash)
  if (hash.startsWith('{SHA}')) return safeEqual(`{SHA}${createHash('sha1').update(password).digest('base64')}`, hash)
  if (hash.length === 13) return safeEqual(apacheCrypt(password, hash), hash)
  return false // plain text and unknown schemes are refused
}

export class BasicAuthStore {
  readonly dir: string
  readonly #log: Logger
  #files = new Map<string, Map<string, string>>()
  #watcher: FSWatcher | undefined
  #timer: NodeJS.Timeout | undefined
  // Successful checks are cached so bcrypt's deliberate slowness is paid once per credential.
  #verified = new Map<string, string>()

  constructor (dir: string, log: Logger) {
    this.dir = dir
    this.#log = log
  }

  async load (): Promise<void> {
    let names: string[]
    try {
      names = await readdir(this.dir)
    } catch {
      names = []
    }
    const next = new Map<string, Map<string, string>>()
    for (const name of names) {
      try {
        const users = new Map<string, string>()
        for (const line of (await readFile(join(this.dir, name), 'utf8')).split('\n')) {
          const t = line.trim()
          const colon = t.indexOf(':')
          if (t === '' || t.startsWith('#') || colon <= 0) continue
          users.set(t.slice(0, colon), t.slice(colon + 1))
        }
        next.set(name.toLowerCase(), users)
      } catch (err) {
        this.#log.warn({ file: join(this.dir, name), err: (err as Error).message }, 'htpasswd file skipped')
      }
    }
    this.#files = next
    this.#verified.clear()
  }

  watch (): void {
    try {
      this.#watcher = watch(this.dir, () => {
        clearTimeout(this.#timer)
        this.#timer = setTimeout(() => { void this.load() }, 100)
      })
      this.#watcher.on('error', () => {})
    } catch {}
  }

  stop (): void { this.#watcher?.close(); clearTimeout(this.#timer) }

  /** Undefined when the host needs no auth; else whether the Authorization header passes. */
  check (host: string, authorization: string | undefined): boolean | undefined {
    const users = this.#files.get(host)
    if (users === undefined) return undefined
    if (authorization === undefined || !authorization.startsWith('Basic ')) return false
    const decoded = Buffer.from(authorization.slice(6).trim(), 'base64').toString('utf8')
    const colon = decoded.indexOf(':')
    if (colon < 0) return false
    const user = decoded.slice(0, colon)
    const hash = users.get(user)
    if (hash === undefined) return false
    const cacheKey = `${host}\u0000${authorization}`
    if (this.#verified.get(cacheKey) === hash) return true
    const ok = verifyHtpasswd(decoded.slice(colon + 1), hash)
    if (ok) this.#verified.set(cacheKey, hash)
    return ok
  }
}
