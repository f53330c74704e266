import { mkdtempSync } from 'node:fs'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { tmpdir } from 'node:os'
import type { Socket } from 'node:net'
import { join } from 'node:path'
import type { Test } from 'tap'

// A Docker Engine API on a Unix socket with only what `proxyctl serve` asks at its start (ping,
// info, the container list and inspects, the event stream), for tests of the process's start and
// stop without a real engine. Containers are plain data; `holdPing` keeps /_ping unanswered until
// released, which keeps the proxy's start before its listeners for as long as a test needs.

export interface FakeContainer { id: string, host: string, ip: string, port: number, env?: Record<string, string> }

export interface FakeDocker {
  /** DOCKER_HOST for the proxy. */
  dockerHost: string
  /** Requests seen, as `METHOD /path` (no query). */
  calls: string[]
  /** Answers every /_ping held so far and from now on. */
  releasePing: () => void
  close: () => Promise<void>
}

export async function startFakeDocker (t: Test, o: { containers?: FakeContainer[], holdPing?: boolean } = {}): Promise<FakeDocker> {
  const socketPath = join(mkdtempSync(join(tmpdir(), 'proxyctl-fake-docker-')), 'docker.sock')
  const containers = new Map((o.containers ?? []).map((c) => [c.id, c]))
  const calls: string[] = []
  let pingHeld = o.holdPing === true
  const heldPings: ServerResponse[] = []
  const json = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
  }
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0]!.replace(/^\/v[\d.]+\//, '/')
    calls.push(`${req.method ?? ''} ${path}`)
    if (path === '/_ping') {
      if (pingHeld) heldPings.push(res)
      else res.end('OK')
      return
    }
    if (path === '/info') { json(res, 200, { Swarm: { LocalNodeState: 'inactive' } }); return }
    if (path === '/containers/json') { json(res, 200, [...containers.keys()].map((Id) => ({ Id }))); return }
    if (path === '/events') { res.writeHead(200, { 'content-type': 'application/json' }).flushHeaders(); return }
    const inspect = /^\/containers\/([^/]+)\/json$/.exec(path)
    const c = inspect === null ? undefined : containers.get(decodeURIComponent(inspect[1]!))
    if (c !== undefined) {
      const env = { VIRTUAL_HOST: c.host, VIRTUAL_PORT: String(c.port), ...c.env }
      json(res, 200, {
        Id: c.id,
        Name: `/${c.host}`,
        State: { Running: true },
        Config: { Env: Object.entries(env).map(([k, v]) => `${k}=${v}`), ExposedPorts: { [`${c.port}/tcp`]: {} }, Labels: {} },
        HostConfig: { NetworkMode: 'bridge' },
        NetworkSettings: { Networks: { bridge: { NetworkID: 'n1', IPAddress: c.ip, Gateway: '' } } }
      })
      return
    }
    json(res, 404, { message: `no such thing: ${path}` })
  })
  const sockets = new Set<Socket>()
  server.on('connection', (s: Socket) => { sockets.add(s); s.on('close', () => sockets.delete(s)) })
  await new Promise<void>((resolve) => server.listen(socketPath, resolve))
  const releasePing = (): void => {
    pingHeld = false
    for (const res of heldPings.splice(0)) res.end('OK')
  }
  const close = async (): Promise<void> => {
    releasePing()
    for (const s of sockets) s.destroy()
    await new Promise<void>((resolve) => server.close(() => { resolve() }))
  }
  t.teardown(close)
  return { dockerHost: `unix://${socketPath}`, calls, releasePing, close }
}
