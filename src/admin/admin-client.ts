import { existsSync } from 'node:fs'
import { PassThrough } from 'node:stream'
import type Docker from 'dockerode'
import { Client } from 'undici'
import { DEFAULT_ADMIN_SOCKET } from '../config/options.js'
import { DeployInProgressError, ProxyError } from '../errors.js'
import type { DrainResult } from '../routing/target.js'
import type { RolloutRecord } from '../history/rollout-history.js'
import type { StatusReport } from './status.js'

/** Label the proxyctl image carries, so `proxyctl deploy` finds the running proxy by itself. */
export const EDGE_LABEL = 'com.proxyctl.role'
export const EDGE_LABEL_VALUE = 'edge'

/** `text` is the raw body (HTML, metrics); `body` the parsed JSON when it is JSON. */
export interface AdminResponse { status: number, contentType: string, text: string, body: unknown }

function parseBody (contentType: string, text: string): unknown {
  if (!contentType.includes('json') || text === '') return null
  try { return JSON.parse(text) } catch { return null }
}

/** How admin requests reach the proxy: its Unix socket directly, or through `docker exec`. */
export interface AdminTransport {
  readonly describe: string
  request (method: string, path: string, body?: unknown): Promise<AdminResponse>
  close (): Promise<void>
}

export class SocketTransport implements AdminTransport {
  readonly describe: string
  readonly #client: Client
  constructor (socketPath: string) {
    this.describe = socketPath
    this.#client = new Client('http://proxyctl.admin', { socketPath, headersTimeout: 0, bodyTimeout: 0 })
  }

  async request (method: string, path: string, body?: unknown): Promise<AdminResponse> {
    let res
    try {
      res = await this.#client.request({
        method: method as 'GET',
        path,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body)
      })
    } catch (err) {
      throw new ProxyError('PROXY_ERR_ADMIN', `cannot reach the proxy's admin socket ${this.describe}: ${(err as Error).message}`, { cause: err })
    }
    const text = await res.body.text()
    const contentType = String(res.headers['content-type'] ?? '')
    return { status: res.statusCode, contentType, text, body: parseBody(contentType, text) }
  }

  async close (): Promise<void> { await this.#client.close() }
}

/** Runs `proxyctl admin-request` inside the proxy container: the Docker socket is the credential. */
export class DockerExecTransport implements AdminTransport {
  readonly describe: string
  readonly #docker: Docker
  readonly #containerId: string
  constructor (docker: Docker, containerId: string, name: string) {
    this.#docker = docker
    this.#containerId = containerId
    this.describe = `container ${name}`
  }

  async request (method: string, path: string, body?: unknown): Promise<AdminResponse> {
    const cmd = ['proxyctl', 'admin-request', method, path]
    if (body !== undefined) cmd.push(JSON.stringify(body))
    const exec = await this.#docker.getContainer(this.#containerId).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true })
    const stream = await exec.start({ hijack: true, stdin: false })
    const stdout = new PassThrough()
    const stderr = new PassThrough()
    const out: Buffer[] = []
    const err: Buffer[] = []
    stdout.on('data', (c: Buffer) => out.push(c))
    stderr.on('data', (c: Buffer) => err.push(c))
    this.#docker.modem.demuxStream(stream, stdout, stderr)
    await new Promise<void>((resolve, reject) => {
      stream.on('end', resolve)
      stream.on('close', resolve)
      stream.on('error', reject)
    })
    const text = Buffer.concat(out).toString('utf8').trim()
    try {
      const r = JSON.parse(text) as Omit<AdminResponse, 'body'>
      return { ...r, body: parseBody(r.contentType, r.text) }
    } catch {
      throw new ProxyError('PROXY_ERR_ADMIN', `unexpected answer from ${this.describe}: ${(text || Buffer.concat(err).toString('utf8')).slice(0, 500)}`)
    }
  }

  async close (): Promise<void> {}
}

export class AdminClient {
  readonly transport: AdminTransport
  constructor (transport: AdminTransport) { this.transport = transport }

  async status (): Promise<StatusReport> {
    return await this.#json<StatusReport>('GET', '/v1/status')
  }

  /** Resolves when the container's in-flight requests reach zero or the timeout passes. */
  async drain (containerId: string, timeoutMs: number, graceMs?: number): Promise<DrainResult & { containerId: string, name: string }> {
    return await this.#json('POST', '/v1/drain', { containerId, timeoutMs, ...(graceMs !== undefined ? { graceMs } : {}) })
  }

  async history (): Promise<RolloutRecord[]> { return await this.#json<RolloutRecord[]>('GET', '/v1/history') }

  async deployStarted (service: string): Promise<RolloutRecord> { return await this.#json('POST', '/v1/deploys', { service }) }

  async deployStepped (id: string, step: { step: string, status: string, message: string, old?: string[], new?: string[] }): Promise<void> {
    await this.#json('POST', `/v1/deploys/${encodeURIComponent(id)}/steps`, step)
  }

  async deployFinished (id: string, outcome: 'succeeded' | 'failed', error?: string): Promise<RolloutRecord> {
    return await this.#json('POST', `/v1/deploys/${encodeURIComponent(id)}/finish`, { outcome, ...(error !== undefined ? { error } : {}) })
  }

  /** Take (or renew) the deploy lease for `key`; fails with PROXY_ERR_DEPLOY_IN_PROGRESS when another holder has it. */
  async acquireLock (key: string, holder: string, ttlMs: number): Promise<void> {
    const res = await this.transport.request('POST', '/v1/locks', { key, holder, ttlMs })
    if (res.status === 409) throw new DeployInProgressError((res.body as { message: string }).message)
    if (res.status >= 400) throw new ProxyError('PROXY_ERR_ADMIN', `lock ${key}: status ${res.status}`)
  }

  async releaseLock (key: string, holder: string): Promise<void> {
    await this.transport.request('POST', '/v1/locks/release', { key, holder })
  }

  async close (): Promise<void> { await this.transport.close() }

  async #json<T> (method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.transport.request(method, path, body)
    if (res.status >= 400) {
      const b = res.body as { code?: string, message?: string } | null
      throw new ProxyError('PROXY_ERR_ADMIN', `${method} ${path} on ${this.transport.describe}: ${b?.message ?? `status ${res.status}`}`)
    }
    return res.body as T
  }
}

export interface ConnectAdminOptions {
  adminSocket: string | undefined
  proxy: string | undefined
  docker: () => Docker
  env?: NodeJS.ProcessEnv
}

/** --admin-socket, else PROXYCTL_ADMIN_SOCKET, else --proxy NAME, else a local default socket, else the labelled proxy container. */
export async function connectAdmin (o: ConnectAdminOptions): Promise<AdminClient> {
  const env = o.env ?? process.env
  const socket = o.adminSocket ?? (env.PROXYCTL_ADMIN_SOCKET !== undefined && env.PROXYCTL_ADMIN_SOCKET !== '' ? env.PROXYCTL_ADMIN_SOCKET : undefined)
  if (socket !== undefined) return new AdminClient(new SocketTransport(socket))
  if (o.proxy === undefined && existsSync(DEFAULT_ADMIN_SOCKET)) return new AdminClient(new SocketTransport(DEFAULT_ADMIN_SOCKET))
  const docker = o.docker()
  if (o.proxy !== undefined) {
    let info
    try {
      info = await docker.getContainer(o.proxy).inspect()
    } catch (err) {
      throw new ProxyError('PROXY_ERR_PROXY_NOT_FOUND', `proxy container "${o.proxy}" not found`, { cause: err })
    }
    if (info.State?.Running !== true) throw new ProxyError('PROXY_ERR_PROXY_NOT_FOUND', `proxy container "${o.proxy}" is not running`)
    return new AdminClient(new DockerExecTransport(docker, info.Id, info.Name.replace(/^\//, '')))
  }
  const found = await docker.listContainers({ filters: { label: [`${EDGE_LABEL}=${EDGE_LABEL_VALUE}`], status: ['running'] } })
  if (found.length === 0) {
    throw new ProxyError('PROXY_ERR_PROXY_NOT_FOUND', `no running proxyctl container found (label ${EDGE_LABEL}=${EDGE_LABEL_VALUE}); start one, or pass --proxy NAME or --admin-socket PATH`)
  }
  if (found.length > 1) {
    const names = found.map((c) => (c.Names[0] ?? c.Id).replace(/^\//, '')).join(', ')
    throw new ProxyError('PROXY_ERR_PROXY_NOT_FOUND', `several proxyctl containers are running (${names}); pick one with --proxy NAME`)
  }
  const c = found[0]!
  return new AdminClient(new DockerExecTransport(docker, c.Id, (c.Names[0] ?? c.Id).replace(/^\//, '')))
}
