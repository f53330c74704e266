import { createHash, timingSafeEqual } from 'node:crypto'
import { createRequire } from 'node:module'
import bcrypt from 'bcryptjs'

// The formats htpasswd writes: bcrypt ($2y$), apr1 MD5 ($apr1$), SHA1 ({SHA}) and crypt(3).
// Libraries do the hashing. Pure and synchronous: BasicAuthStore runs it in worker threads.

const require = createRequire(import.meta.url)
const apacheMd5 = require('apache-md5') as (password: string, salt: string) => string
const apacheCrypt = require('apache-crypt') as (password: string, salt: string) => string

const BCRYPT = /^\$2[abxy]\$(\d\d)\$/

function safeEqual (a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

export function verifyHtpasswd (password: string, hash: string): boolean {
  if (BCRYPT.test(hash)) return bcrypt.compareSync(password, hash)
  if (hash.startsWith('$apr1$')) return safeEqual(apacheMd5(password, hash), hash)
  if (hash.startsWith('{SHA}')) return safeEqual(`{SHA}${createHash('sha1').update(password).digest('base64')}`, hash)
  if (hash.length === 13) return safeEqual(apacheCrypt(password, hash), hash)
  return false // plain text and unknown schemes are refused
}

/** `user:hash` lines; blank lines and `#` comments skipped. */
export function parseHtpasswd (text: string): Map<string, string> {
  const users = new Map<string, string>()
  for (const line of text.split('\n')) {
    const t = line.trim()
    const colon = t.indexOf(':')
    if (t === '' || t.startsWith('#') || colon <= 0) continue
    users.set(t.slice(0, colon), t.slice(colon + 1))
  }
  return users
}

/**
 * The hash an unknown user is checked against, so that a miss costs what a hit costs (no user
 * enumeration by timing): the file's most expensive entry, i.e. its highest-cost bcrypt hash,
 * else its first entry. The verdict of that check is discarded.
 */
export function decoyHash (users: ReadonlyMap<string, string>): string | undefined {
  let decoy: string | undefined
  let cost = -1
  for (const hash of users.values()) {
    decoy ??= hash
    const c = Number(BCRYPT.exec(hash)?.[1] ?? -1)
    if (c > cost) { cost = c; decoy = hash }
  }
  return decoy
}
