import type { Readable } from 'node:stream'
import type { ConnectionOptions } from 'node:tls'
import { Client, Pool } from 'undici'
import type { ContainerInspect } from './container-info.js'

// The four Docker Engine API calls the proxy makes (ping, list, inspect, events), over the undici
// already loaded for upstreams. dockerode, which the CLI's deploy keeps for its richer calls,
// loads docker-modem, ssh2, grpc-js and protobufjs: ~29 MB of the proxy's resident memory for
// these four requests (bench/README.md, "Memory").

export class EngineApiError extends Error {
  readonly statusCode: number
  constructor (statusCode: number, message: string) {
    super(message)
    this.name = 'EngineApiError'
    this.statusCode = statusCode
  }
}

export interface ContainerSummary { Id: string }

export interface EngineApiOptions {
  /** docker-gen's DOCKER_CONTAINER_FILTERS: `filters` of the container list (Docker's `ps --filter`). */
  containerFilters?: Record<string, string[]> | undefined
  /** Client certificate and CA for a TLS-protected tcp:// engine (DOCKER_TLS_VERIFY, DOCKER_CERT_PATH). */
  tls?: Pick<ConnectionOptions, 'ca' | 'cert' | 'key'> | undefined
}

export class EngineApi {
  readonly #connect: () => Client
  /** Short calls; a burst of inspects after a re-list runs a few at a time. */
  readonly #pool: Pool
  readonly #streams = new Set<Client>()
  readonly #listPath: string

  /** `socketPath` for a Unix socket, else `origin` (http://host:port, https:// with `options.tls`). */
  constructor (target: { socketPath: string } | { origin: string }, options: EngineApiOptions = {}) {
    const origin = 'socketPath' in target ? 'http://docker' : target.origin
    const socketPath = 'socketPath' in target ? target.socketPath : undefined
    const connect = { ...(socketPath !== undefined ? { socketPath } : {}), ...(options.tls !== undefined ? { connect: { ...options.tls } } : {}) }
    this.#connect = () => new Client(origin, connect)
    this.#pool = new Pool(origin, { connections: 4, ...connect })
    const filters = options.containerFilters
    // docker-gen lists with all=true and its filters (status=running unless a status filter is given).
    this.#listPath = filters === undefined || Object.keys(filters).length === 0
      ? '/containers/json'
      : `/containers/json?all=${filters.status !== undefined ? 1 : 0}&filters=${encodeURIComponent(JSON.stringify(filters))}`
  }

  async ping (): Promise<void> {
    await this.#get('/_ping', false)
  }

  async listContainers (): Promise<ContainerSummary[]> {
    return await this.#get(this.#listPath) as ContainerSummary[]
  }

  async inspectContainer (id: string): Promise<ContainerInspect> {
    return await this.#get(`/containers/${encodeURIComponent(id)}/json`) as ContainerInspect
  }

  /** The event stream (one JSON object per line) from `since` (seconds), until destroyed. */
  async events (since: number, filters: Record<string, string[]>): Promise<Readable> {
    const path = `/events?since=${since}&filters=${encodeURIComponent(JSON.stringify(filters))}`
    // Its own connection, held for as long as the stream lives (it would block a shared one), and
    // no body timeout: the stream is quiet for as long as nothing happens on the engine.
    const client = this.#connect()
    this.#streams.add(client)
    const done = (): void => { this.#streams.delete(client); void client.destroy() }
    try {
      const res = await client.request({ method: 'GET', path, headersTimeout: 10_000, bodyTimeout: 0 })
      if (res.statusCode !== 200) throw await failure(res.statusCode, path, res.body)
      res.body.once('close', done)
      return res.body
    } catch (err) {
      done()
      throw err
    }
  }

  async close (): Promise<void> {
    await Promise.all([this.#pool.destroy(), ...[...this.#streams].map(async (c) => { await c.destroy() })])
  }

  /** A short GET; the body as JSON unless `parse` is false. */
  async #get (path: string, parse = true): Promise<unknown> {
    const res = await this.#pool.request({ method: 'GET', path, headersTimeout: 10_000, bodyTimeout: 30_000 })
    if (res.statusCode < 200 || res.statusCode >= 300) throw await failure(res.statusCode, path, res.body)
    if (!parse) { await res.body.dump(); return undefined }
    return await res.body.json()
  }
}

async function failure (status: number, path: string, body: { text: () => Promise<string> }): Promise<EngineApiError> {
  const text = await body.text().catch(() => '')
  let message = text.trim()
  try { message = (JSON.parse(text) as { message?: string }).message ?? message } catch {}
  return new EngineApiError(status, `Docker API ${path.split('?')[0] ?? path}: HTTP ${status}${message !== '' ? `: ${message}` : ''}`)
}
