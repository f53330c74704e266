import { PassThrough } from 'node:stream'
import type Docker from 'dockerode'
import { Client } from 'undici'
import { ProxyError } from '../../errors.js'
import type { AdminResponse } from '../api.js'

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
    try {
      await new Promise<void>((resolve, reject) => {
        stream.on('end', resolve)
        stream.on('close', resolve)
        stream.on('error', reject)
      })
    } finally {
      // The hijacked connection is ours: left half-open after the exec's output ends, it kept the
      // CLI alive for seconds after a deploy had finished.
      stream.destroy()
    }
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
