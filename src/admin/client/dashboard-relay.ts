import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { networkInterfaces } from 'node:os'
import type { AdminResponse } from '../api.js'
import type { AdminTransport } from './transports.js'

// `proxyctl dashboard`: the read-only admin pages on a local port. A port on 127.0.0.1 is not
// private: every web page the user's browser opens can send requests to it, and a DNS name that
// re-resolves to 127.0.0.1 (DNS rebinding) can read the answers. So the relay answers only to the
// names it is reachable as (the Host header), and only to whoever holds the token it printed.

/** The paths the status page needs (see status-page.ts), and /metrics for a local scrape. */
const RELAYED = new Set(['/', '/v1/status', '/v1/history', '/metrics'])

export const DEFAULT_RELAY_CACHE_MS = 1_000
export const DEFAULT_RELAY_ADMIN_TIMEOUT_MS = 10_000
const TOKEN_BYTES = 32
const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '[::]', ''])

export interface DashboardRelayOptions {
  transport: AdminTransport
  host: string
  port: number
  /** Default: 32 random bytes, base64url. */
  token?: string
  /** How long one admin answer serves every browser (default 1 s). */
  cacheMs?: number
  adminTimeoutMs?: number
  now?: () => number
}

export interface DashboardRelay {
  readonly server: Server
  readonly port: number
  readonly token: string
  /** What to open: the printed URL, token included. */
  readonly url: string
  close (): Promise<void>
}

export async function startDashboardRelay (o: DashboardRelayOptions): Promise<DashboardRelay> {
  const token = o.token ?? randomBytes(TOKEN_BYTES).toString('base64url')
  const tokenDigest = digest(token)
  const cache = new SharedFetch(
    async (path) => await withTimeout(o.transport.request('GET', path), o.adminTimeoutMs ?? DEFAULT_RELAY_ADMIN_TIMEOUT_MS),
    o.cacheMs ?? DEFAULT_RELAY_CACHE_MS,
    o.now ?? Date.now
  )
  let allowed: AllowedHosts | undefined
  let cookieName = ''

  const server = createServer((req, res) => {
    handle(req, res).catch(() => { if (!res.headersSent) reply(res, 500, 'relay error\n'); else res.destroy() })
  })
  async function handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (allowed === undefined || !allowed.has(req.headers.host)) {
      reply(res, 421, 'This relay answers only as http://127.0.0.1, localhost or its --host address, with its port (Host header check against DNS rebinding).\n')
      return
    }
    const url = originForm(req.url)
    if (url === undefined) { reply(res, 400, 'bad request target\n'); return }

    const offered = url.searchParams.get('token')
    if (offered !== null) {
      if (!matches(offered, tokenDigest)) { reply(res, 403, 'wrong token: open the URL `proxyctl dashboard` printed\n'); return }
      // Trade the URL's token for a cookie the page's own fetches carry, and drop it from the address bar.
      res.writeHead(303, {
        location: url.pathname,
        'set-cookie': `${cookieName}=${token}; Path=/; HttpOnly; SameSite=Strict`,
        'cache-control': 'no-store',
        'referrer-policy': 'no-referrer'
      }).end()
      return
    }
    const presented = bearer(req) ?? cookie(req, cookieName)
    if (presented === undefined) {
      reply(res, 401, 'token required: open the URL `proxyctl dashboard` printed (http://…/?token=…)\n', { 'www-authenticate': 'Bearer realm="proxyctl dashboard"' })
      return
    }
    if (!matches(presented, tokenDigest)) { reply(res, 403, 'wrong token: open the URL `proxyctl dashboard` printed\n'); return }
    if (req.method !== 'GET' && req.method !== 'HEAD') { reply(res, 405, 'read-only\n', { allow: 'GET, HEAD' }); return }
    if (!RELAYED.has(url.pathname)) { reply(res, 404, 'not found\n'); return }

    let r: AdminResponse
    try {
      r = await cache.get(url.pathname)
    } catch (err) {
      reply(res, 502, `admin API unreachable: ${(err as Error).message}\n`)
      return
    }
    res.writeHead(r.status, { ...SECURITY_HEADERS, 'content-type': r.contentType, 'content-length': Buffer.byteLength(r.text) })
    res.end(req.method === 'HEAD' ? undefined : r.text)
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(o.port, o.host, () => { server.off('error', reject); resolve() })
  })
  const port = (server.address() as { port: number }).port
  allowed = new AllowedHosts(o.host, port)
  // Cookies are scoped by host name, not by port: one name per port keeps two relays apart.
  cookieName = `proxyctl_dashboard_${port}`
  const urlHost = WILDCARD_HOSTS.has(o.host) ? '127.0.0.1' : bracketed(o.host)
  return {
    server,
    port,
    token,
    url: `http://${urlHost}:${port}/?token=${token}`,
    close: async () => {
      const closed = new Promise<void>((resolve) => { server.close(() => { resolve() }) })
      server.closeAllConnections()
      await closed
    }
  }
}

/**
 * One admin request per path at a time, and its answer shared by every browser for `ttlMs` from
 * when it was asked: N open pages cost what one does (each poll would be an admin request, through
 * the one `docker exec` session when the proxy runs in a container, otherwise).
 * Failures are shared too, so a down admin API is not asked once per browser poll either.
 */
export class SharedFetch {
  readonly #fetch: (path: string) => Promise<AdminResponse>
  readonly #ttlMs: number
  readonly #now: () => number
  readonly #entries = new Map<string, { startedAt: number, settled: boolean, result: Promise<AdminResponse> }>()

  constructor (fetch: (path: string) => Promise<AdminResponse>, ttlMs: number, now: () => number) {
    this.#fetch = fetch
    this.#ttlMs = ttlMs
    this.#now = now
  }

  async get (path: string): Promise<AdminResponse> {
    const now = this.#now()
    const cached = this.#entries.get(path)
    if (cached !== undefined && (!cached.settled || now - cached.startedAt < this.#ttlMs)) return await cached.result
    const entry = { startedAt: now, settled: false, result: this.#fetch(path) }
    const settle = (): void => { entry.settled = true }
    entry.result.then(settle, settle)
    this.#entries.set(path, entry)
    return await entry.result
  }
}

/** The names a browser reaches the relay by: loopback names, and the bind address (or, bound to every interface, each interface's address). */
class AllowedHosts {
  readonly #hosts: Set<string>
  readonly #port: number

  constructor (bindHost: string, port: number) {
    this.#port = port
    const names = ['localhost', '127.0.0.1', '[::1]']
    if (WILDCARD_HOSTS.has(bindHost)) {
      for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) names.push(bracketed(a.address))
    } else {
      names.push(bracketed(bindHost))
    }
    this.#hosts = new Set(names.map((n) => n.toLowerCase()))
  }

  has (header: string | undefined): boolean {
    if (header === undefined) return false
    const m = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/i.exec(header.trim())
    if (m === null) return false
    return this.#hosts.has(m[1]!.toLowerCase()) && Number(m[2] ?? 80) === this.#port
  }
}

const SECURITY_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'content-security-policy': "frame-ancestors 'none'"
}

function reply (res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...SECURITY_HEADERS, ...headers, 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text) }).end(text)
}

/** Compared as SHA-256 digests: equal length for timingSafeEqual, whatever length was offered. */
function digest (s: string): Buffer { return createHash('sha256').update(s).digest() }
function matches (offered: string, expected: Buffer): boolean { return timingSafeEqual(digest(offered), expected) }

function bracketed (host: string): string { return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host }

function originForm (target: string | undefined): URL | undefined {
  if (target === undefined || !target.startsWith('/')) return undefined
  try { return new URL(target, 'http://relay') } catch { return undefined }
}

function bearer (req: IncomingMessage): string | undefined {
  const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')
  return m?.[1]
}

function cookie (req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=')
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim()
  }
  return undefined
}

async function withTimeout<T> (p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => { reject(new Error(`no answer within ${ms} ms`)) }, ms)
  })
  try {
    return await Promise.race([p, timeout])
  } finally {
    clearTimeout(timer)
  }
}
