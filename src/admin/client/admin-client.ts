import { existsSync } from 'node:fs'
import type Docker from 'dockerode'
import { DEFAULT_ADMIN_SOCKET } from '../../config/options.js'
import { DeployInProgressError, InvalidOptionError, ProxyError } from '../../errors.js'
import type {
  AdmissionRequest, AdmissionResponse, DeployFinish, CanaryClearRequest, CanaryRequest, CanaryResponse, FiguresRequest, FiguresResponse, StandbyRequest, StandbyResponse, DeployStep, DrainRequest, DrainResponse, LockReleaseRequest, LockRequest, RolloutRecord, StatusReport
} from '../api.js'
import type { MaintenanceRequest, PauseRequest, TrafficControlResponse, TrafficTargetRequest } from '../api.js'
import { DockerExecTransport, SocketTransport, type AdminTransport } from './transports.js'

/** Label the proxyctl image carries, so `proxyctl deploy` finds the running proxy by itself. */
export const EDGE_LABEL = 'com.proxyctl.role'
export const EDGE_LABEL_VALUE = 'edge'

export class AdminClient {
  readonly transport: AdminTransport
  constructor (transport: AdminTransport) { this.transport = transport }

  async status (): Promise<StatusReport> {
    return await this.#json<StatusReport>('GET', '/v1/status')
  }

  /** Resolves when the container's in-flight requests reach zero or the timeout passes. */
  async drain (containerId: string, timeoutMs: number, graceMs?: number): Promise<DrainResponse> {
    return await this.#json('POST', '/v1/drain', { containerId, timeoutMs, ...(graceMs !== undefined ? { graceMs } : {}) } satisfies DrainRequest)
  }

  /** One held request: answers when all are ready, one cannot be, or `timeoutMs` (the proxy caps it) passes. */
  async admission (containerIds: string[], timeoutMs: number): Promise<AdmissionResponse> {
    return await this.#json('POST', '/v1/admission', { containerIds, timeoutMs } satisfies AdmissionRequest)
  }

  /** The live figures of these containers together over the last `lastMs` (default: the proxy's whole window). */
  async figures (containers: string[], lastMs?: number): Promise<FiguresResponse> {
    return await this.#json('POST', '/v1/figures', { containers, ...(lastMs !== undefined ? { lastMs } : {}) } satisfies FiguresRequest)
  }

  /** A drained container kept running, out of rotation (a verified deploy's old version). */
  async standby (containerId: string): Promise<StandbyResponse> {
    return await this.#json('POST', '/v1/standby', { containerId } satisfies StandbyRequest)
  }

  /** A standby container back in rotation at once. */
  async reinstate (containerId: string): Promise<StandbyResponse> {
    return await this.#json('POST', '/v1/reinstate', { containerId } satisfies StandbyRequest)
  }

  /** The new containers get `share` (0..1) of the clients on every host they serve (a canary step). */
  async canary (containers: string[], share: number): Promise<CanaryResponse> {
    return await this.#json('POST', '/v1/canary', { containers, share } satisfies CanaryRequest)
  }

  /** Removes the canary split naming any of these containers. */
  async canaryClear (containers: string[]): Promise<CanaryResponse> {
    return await this.#json('POST', '/v1/canary/clear', { containers } satisfies CanaryClearRequest)
  }

  async history (): Promise<RolloutRecord[]> { return await this.#json<RolloutRecord[]>('GET', '/v1/history') }

  async deployStarted (service: string): Promise<RolloutRecord> { return await this.#json('POST', '/v1/deploys', { service }) }

  async deployStepped (id: string, step: DeployStep): Promise<void> {
    await this.#json('POST', `/v1/deploys/${encodeURIComponent(id)}/steps`, step)
  }

  async deployFinished (id: string, outcome: DeployFinish['outcome'], error?: string): Promise<RolloutRecord> {
    return await this.#json('POST', `/v1/deploys/${encodeURIComponent(id)}/finish`, { outcome, ...(error !== undefined ? { error } : {}) } satisfies DeployFinish)
  }

  /** Take (or renew) the deploy lease for `key`; fails with PROXY_ERR_DEPLOY_IN_PROGRESS when another holder has it. */
  async acquireLock (key: string, holder: string, ttlMs: number): Promise<void> {
    const res = await this.transport.request('POST', '/v1/locks', { key, holder, ttlMs } satisfies LockRequest)
    if (res.status === 409) throw new DeployInProgressError((res.body as { message: string }).message)
    if (res.status >= 400) throw new ProxyError('PROXY_ERR_ADMIN', `lock ${key}: status ${res.status}`)
  }

  async releaseLock (key: string, holder: string): Promise<void> {
    await this.transport.request('POST', '/v1/locks/release', { key, holder } satisfies LockReleaseRequest)
  }

  /** New requests for the target's hosts are held until resume (or maxHoldMs / maxQueued: 503). */
  async pause (req: PauseRequest): Promise<TrafficControlResponse> { return await this.#control('/v1/pause', req) }
  async resume (req: TrafficTargetRequest): Promise<TrafficControlResponse> { return await this.#control('/v1/resume', req) }
  async maintenanceOn (req: MaintenanceRequest): Promise<TrafficControlResponse> { return await this.#control('/v1/maintenance/on', req) }
  async maintenanceOff (req: TrafficTargetRequest): Promise<TrafficControlResponse> { return await this.#control('/v1/maintenance/off', req) }

  async close (): Promise<void> { await this.transport.close() }

  /** A refused target or value (400, 404) is the user's to fix: a usage error, not an unreachable proxy. */
  async #control (path: string, body: object): Promise<TrafficControlResponse> {
    const res = await this.transport.request('POST', path, body)
    const b = res.body as { message?: string } | null
    if (res.status === 400 || res.status === 404) throw new InvalidOptionError(b?.message ?? `status ${res.status}`)
    if (res.status >= 400) throw new ProxyError('PROXY_ERR_ADMIN', `POST ${path} on ${this.transport.describe}: ${b?.message ?? `status ${res.status}`}`)
    return res.body as TrafficControlResponse
  }

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
