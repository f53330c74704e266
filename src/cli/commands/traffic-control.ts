import { readFile, stat } from 'node:fs/promises'
import type Docker from 'dockerode'
import type { HostTrafficControl, TrafficControlResponse } from '../../admin/api.js'
import { COMPOSE_ONEOFF_LABEL, COMPOSE_PROJECT_LABEL, COMPOSE_SERVICE_LABEL } from '../../deploy/compose.js'
import { connectDocker } from '../../docker/dockerode-client.js'
import { InvalidOptionError } from '../../errors.js'
import { MAX_MAINTENANCE_PAGE_BYTES } from '../../traffic/maintenance.js'
import type { TrafficCommand } from '../traffic-args.js'
import { withAdmin } from './with-admin.js'

// proxyctl pause / resume / maintenance on|off: one admin call each. A compose service's name is
// turned into its containers here (the proxy knows containers, not compose services).

type Command = Exclude<TrafficCommand, { kind: 'help' }>

export async function trafficControl (cmd: Command, docker: () => Docker = () => connectDocker().docker as Docker): Promise<number> {
  const page = cmd.kind === 'maintenance' && cmd.on ? await readPage(cmd.pageFile) : undefined
  const containers = await serviceContainers(docker, cmd.target, cmd.project)
  const base = { target: cmd.target, ...(containers.length > 0 ? { containers } : {}) }
  const r = await withAdmin(cmd, async (admin) => {
    switch (cmd.kind) {
      case 'pause': return await admin.pause({ ...base, maxHoldMs: cmd.maxHoldMs, maxQueued: cmd.maxQueued })
      case 'resume': return await admin.resume(base)
      case 'maintenance': return cmd.on
        ? await admin.maintenanceOn({ ...base, allow: cmd.allow, ...(page !== undefined ? { page } : {}) })
        : await admin.maintenanceOff(base)
    }
  })
  process.stdout.write(cmd.json ? `${JSON.stringify(r, null, 2)}\n` : `${render(cmd, r)}\n`)
  return 0
}

export function render (cmd: Command, r: TrafficControlResponse): string {
  const hosts = r.hosts.join(', ')
  const lines: string[] = []
  switch (cmd.kind) {
    case 'pause':
      lines.push(`Paused ${hosts}: new requests are held (up to ${cmd.maxHoldMs / 1000}s, ${cmd.maxQueued} per host; beyond: 503 with Retry-After). "proxyctl resume ${cmd.target}" releases them in order.`)
      break
    case 'resume': {
      if (r.changed.length === 0) { lines.push(`${hosts}: not paused`); break }
      lines.push(`Resumed ${r.changed.join(', ')}: held requests released in order.`)
      break
    }
    case 'maintenance':
      if (!cmd.on) {
        lines.push(r.changed.length === 0 ? `${hosts}: not in maintenance` : `Maintenance off for ${r.changed.join(', ')}: routing restored.`)
        break
      }
      lines.push(`Maintenance on for ${hosts}: 503 with ${cmd.pageFile === undefined ? 'the built-in page' : cmd.pageFile}${cmd.allow.length > 0 ? `; ${cmd.allow.join(', ')} still reach the app` : ''}.`)
      if (!r.persisted) lines.push('Note: the proxy has no HISTORY_FILE, so this is not kept across a proxy restart.')
      break
  }
  if (r.unrouted) lines.push(`Note: no container serves ${hosts} now; this applies once one does.`)
  return lines.join('\n')
}

async function readPage (file: string | undefined): Promise<string | undefined> {
  if (file === undefined) return undefined
  let size: number
  try {
    size = (await stat(file)).size
  } catch (err) {
    throw new InvalidOptionError(`--page: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  if (size > MAX_MAINTENANCE_PAGE_BYTES) throw new InvalidOptionError(`--page: ${file} is ${size} bytes; at most ${MAX_MAINTENANCE_PAGE_BYTES} are accepted`)
  const text = await readFile(file, 'utf8')
  if (text.trim() === '') throw new InvalidOptionError(`--page: ${file} is empty`)
  return text
}

/** Containers of a compose service of that name (any project, or --project's); none when Docker is not reachable from here. */
async function serviceContainers (docker: () => Docker, service: string, project: string | undefined): Promise<string[]> {
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(service)) return []
  try {
    const label = [`${COMPOSE_SERVICE_LABEL}=${service}`, ...(project !== undefined ? [`${COMPOSE_PROJECT_LABEL}=${project}`] : [])]
    const list = await docker().listContainers({ filters: { label, status: ['running'] } })
    return list.filter((c) => c.Labels[COMPOSE_ONEOFF_LABEL] !== 'True').map((c) => c.Id).slice(0, 256)
  } catch {
    // The proxy may be reached through --admin-socket on a host without Docker access: hosts and container names still work.
    return []
  }
}

/** `proxyctl status`: paused and in-maintenance hosts, below the routes table; empty when none. */
export function renderTrafficControl (control: Record<string, HostTrafficControl> | undefined): string[] {
  const entries = Object.entries(control ?? {})
  if (entries.length === 0) return []
  const lines = ['', 'TRAFFIC CONTROL']
  const width = Math.max(...entries.map(([h]) => h.length))
  for (const [host, c] of entries) {
    if (c.pause !== undefined) {
      lines.push(`${host.padEnd(width)}  PAUSED since ${c.pause.since}: ${c.pause.held} held (max hold ${c.pause.maxHoldMs / 1000}s, max queued ${c.pause.maxQueued})`)
    }
    if (c.maintenance !== undefined) {
      const allow = c.maintenance.allow.length === 0 ? 'nobody allowed through' : `allowed: ${c.maintenance.allow.join(', ')}`
      lines.push(`${host.padEnd(width)}  MAINTENANCE since ${c.maintenance.since}: ${c.maintenance.customPage ? 'custom' : 'built-in'} page, ${allow}`)
    }
  }
  return lines
}
