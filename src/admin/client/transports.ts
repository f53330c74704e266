import { PassThrough } from 'node:stream'
import type Docker from 'dockerode'
import { Pool } from 'undici'
import { ProxyError } from '../../errors.js'
import type { AdminResponse, SessionAnswer, SessionRequest } from '../api.js'
import { lineReader } from '../../line-reader.js'

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

const MAX_CONNECTIONS = 4

export class SocketTransport implements AdminTransport {
  readonly describe: string
  readonly #client: Pool
  constructor (socketPath: string) {
    this.describe = socketPath
    // Several connections: a held admission request must not queue the lease renewals behind it.
    this.#client = new Pool('http://proxyctl.admin', { socketPath, connections: MAX_CONNECTIONS, headersTimeout: 0, bodyTimeout: 0 })
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

/**
 * Reaches the admin socket inside the proxy container through `docker exec`: the Docker socket is
 * the credential. One exec (`proxyctl admin-request --stdio`) carries every request of the run, a
 * JSON line each way, so a deploy costs one process start in the container, not one a request.
 * A proxy image without --stdio gets one `proxyctl admin-request METHOD PATH` exec a request.
 */
export class DockerExecTransport implements AdminTransport {
  readonly describe: string
  readonly #docker: Docker
  readonly #containerId: string
  #session: Promise<ExecSession> | undefined
  #sessions = true

  constructor (docker: Docker, containerId: string, name: string) {
    this.#docker = docker
    this.#containerId = containerId
    this.describe = `container ${name}`
  }

  async request (method: string, path: string, body?: unknown): Promise<AdminResponse> {
    if (this.#sessions) {
      try {
        // A session that ended (the proxy restarted under a long `proxyctl dashboard`) is replaced.
        const current = this.#session
        if (current !== undefined && ((await current.catch(() => undefined))?.ended ?? true) && this.#session === current) this.#session = undefined
        this.#session ??= ExecSession.open(this.#docker, this.#containerId, this.describe)
        return await (await this.#session).request(method, path, body)
      } catch (err) {
        if (!(err instanceof SessionUnavailable)) throw err
        this.#sessions = false
        this.#session = undefined
      }
    }
    return await this.#oneShot(method, path, body)
  }

  async close (): Promise<void> {
    const session = this.#session
    this.#session = undefined
    if (session !== undefined) await (await session.catch(() => undefined))?.close()
  }

  async #oneShot (method: string, path: string, body?: unknown): Promise<AdminResponse> {
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
      stream.destroy() // the hijacked connection is ours: left open, it holds the CLI's exit
    }
    const text = Buffer.concat(out).toString('utf8').trim()
    try {
      const r = JSON.parse(text) as Omit<AdminResponse, 'body'>
      return { ...r, body: parseBody(r.contentType, r.text) }
    } catch {
      throw new ProxyError('PROXY_ERR_ADMIN', `unexpected answer from ${this.describe}: ${(text || Buffer.concat(err).toString('utf8')).slice(0, 500)}`)
    }
  }
}

/** The session ended before its first answer: the proxy image has no `admin-request --stdio`. */
class SessionUnavailable extends Error {}

const CLOSE_WAIT_MS = 2_000

type HijackedStream = NodeJS.ReadWriteStream & { destroy: () => void }

/** One `proxyctl admin-request --stdio` exec: requests written as lines, answers matched by id. */
class ExecSession {
  readonly #stream: HijackedStream
  readonly #describe: string
  readonly #pending = new Map<number, { resolve: (r: AdminResponse) => void, reject: (e: Error) => void }>()
  readonly #ended: Promise<void>
  #nextId = 1
  #answered = false
  #isEnded = false
  #stderr = ''

  static async open (docker: Docker, containerId: string, describe: string): Promise<ExecSession> {
    const exec = await docker.getContainer(containerId).exec({ Cmd: ['proxyctl', 'admin-request', '--stdio'], AttachStdin: true, AttachStdout: true, AttachStderr: true })
    const stream = await exec.start({ hijack: true, stdin: true })
    return new ExecSession(docker, stream as HijackedStream, describe)
  }

  private constructor (docker: Docker, stream: HijackedStream, describe: string) {
    this.#stream = stream
    this.#describe = describe
    const stdout = new PassThrough()
    const stderr = new PassThrough()
    stdout.setEncoding('utf8')
    stdout.on('data', lineReader((line) => { this.#answer(line) }))
    stderr.on('data', (c: Buffer) => { if (this.#stderr.length < 2_000) this.#stderr += c.toString('utf8') })
    docker.modem.demuxStream(stream, stdout, stderr)
    this.#ended = new Promise<void>((resolve) => {
      const end = (err?: Error): void => {
        this.#isEnded = true
        const failure = this.#answered
          ? new ProxyError('PROXY_ERR_ADMIN', `the admin session in ${this.#describe} ended${err !== undefined ? `: ${err.message}` : ''}`)
          : new SessionUnavailable(this.#stderr)
        for (const p of this.#pending.values()) p.reject(failure)
        this.#pending.clear()
        resolve()
      }
      stream.once('end', () => { end() })
      stream.once('close', () => { end() })
      stream.once('error', (err: Error) => { end(err) })
    })
  }

  get ended (): boolean { return this.#isEnded }

  async request (method: string, path: string, body?: unknown): Promise<AdminResponse> {
    if (this.#isEnded) throw new ProxyError('PROXY_ERR_ADMIN', `the admin session in ${this.#describe} has ended`)
    const id = this.#nextId++
    return await new Promise<AdminResponse>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject })
      const line: SessionRequest = { id, method, path, body }
      this.#stream.write(`${JSON.stringify(line)}\n`)
    })
  }

  /** Ends the exec's stdin (it exits), waits briefly for it, then drops the connection. */
  async close (): Promise<void> {
    this.#stream.end()
    let timer: NodeJS.Timeout | undefined
    await Promise.race([this.#ended, new Promise((resolve) => { timer = setTimeout(resolve, CLOSE_WAIT_MS) })])
    clearTimeout(timer)
    this.#stream.destroy()
  }

  #answer (line: string): void {
    let r: SessionAnswer
    try {
      r = JSON.parse(line) as SessionAnswer
    } catch {
      return
    }
    const p = typeof r.id === 'number' ? this.#pending.get(r.id) : undefined
    if (p === undefined) return
    this.#answered = true
    this.#pending.delete(r.id!)
    p.resolve({ status: r.status, contentType: r.contentType, text: r.text, body: parseBody(r.contentType, r.text) })
  }
}
