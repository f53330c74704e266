import { Client } from 'undici'
import { dockerTlsFiles, locateDocker } from './docker-client.js'
import { EngineApiError, type EngineApiOptions } from './engine-api.js'

// The Swarm reads the proxy makes (GET /info, /services, /tasks, /nodes), over undici as engine-api.ts
// makes its calls. One connection: the provider has at most one request in flight.

/** A task list beyond this is refused (a read error, retried), not parsed. */
const MAX_BODY_BYTES = 64 * 1024 * 1024

export interface SwarmReads {
  info (): Promise<unknown>
  services (): Promise<unknown>
  /** Tasks whose desired state is `running` (the only ones that may take traffic). */
  runningTasks (): Promise<unknown>
  /** The nodes (for their hostnames, shown with each task); optional for readers that do not know them. */
  nodes? (): Promise<unknown>
  close (): Promise<void>
}

export class SwarmApi implements SwarmReads {
  readonly #client: Client

  constructor (target: { socketPath: string } | { origin: string, tls?: EngineApiOptions['tls'] }) {
    this.#client = 'socketPath' in target
      ? new Client('http://docker', { socketPath: target.socketPath })
      : new Client(target.origin, target.tls !== undefined ? { connect: { ...target.tls } } : {})
  }

  async info (): Promise<unknown> { return await this.#get('/info') }
  async services (): Promise<unknown> { return await this.#get('/services') }
  async runningTasks (): Promise<unknown> {
    return await this.#get(`/tasks?filters=${encodeURIComponent(JSON.stringify({ 'desired-state': ['running'] }))}`)
  }

  async nodes (): Promise<unknown> { return await this.#get('/nodes') }

  async close (): Promise<void> { await this.#client.destroy() }

  async #get (path: string): Promise<unknown> {
    const res = await this.#client.request({ method: 'GET', path, headersTimeout: 10_000, bodyTimeout: 10_000 })
    const chunks: Buffer[] = []
    let size = 0
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length
      if (size > MAX_BODY_BYTES) {
        res.body.destroy()
        throw new EngineApiError(res.statusCode, `Docker API ${path.split('?')[0] ?? path}: answer over ${MAX_BODY_BYTES} bytes`)
      }
      chunks.push(chunk as Buffer)
    }
    const text = Buffer.concat(chunks).toString('utf8')
    if (res.statusCode < 200 || res.statusCode >= 300) {
      let message = text.trim().slice(0, 500)
      try { message = String((JSON.parse(text) as { message?: unknown }).message ?? message).slice(0, 500) } catch {}
      throw new EngineApiError(res.statusCode, `Docker API ${path.split('?')[0] ?? path}: HTTP ${res.statusCode}${message !== '' ? `: ${message}` : ''}`)
    }
    return JSON.parse(text) as unknown
  }
}

/** The engine connectEngine (docker-client.ts) talks to, for the Swarm reads: the same socket or DOCKER_HOST. */
export function connectSwarmApi (env: NodeJS.ProcessEnv = process.env): SwarmApi {
  const { target } = locateDocker(env)
  if ('socketPath' in target) return new SwarmApi(target)
  const verify = (env.DOCKER_TLS_VERIFY?.trim().toLowerCase() ?? '')
  const tls = verify !== '' && verify !== '0' && verify !== 'false'
  const origin = `${tls ? 'https' : target.protocol}://${target.host}:${target.port}`
  return new SwarmApi(tls ? { origin, tls: dockerTlsFiles(env).options } : { origin })
}
