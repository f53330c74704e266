import { statSync } from 'node:fs'
import { InvalidOptionError } from './errors.js'

// The image starts as root so that an nginx-proxy compose file works unchanged, whatever group
// owns the host's Docker socket; the proxy then keeps only that group and becomes PROXYCTL_RUN_AS
// before it reads a certificate, opens a port or sees a request (gosu/su-exec, done in-process).

export interface DroppedTo { uid: number, gid: number, groups: number[] }

/**
 * `spec` is "uid:gid" (the image sets 1000:1000, user node). Nothing happens unless the process is
 * root: a user who runs the image with --user keeps that user and grants the socket's group with
 * --group-add. `socketPath` is the Docker socket whose group is kept.
 */
export function dropPrivileges (spec: string | undefined, socketPath: string | undefined): DroppedTo | undefined {
  if (spec === undefined || spec.trim() === '' || process.getuid?.() !== 0) return undefined
  const m = /^(\d+):(\d+)$/.exec(spec.trim())
  if (m === null) throw new InvalidOptionError(`PROXYCTL_RUN_AS must be uid:gid, got "${spec}"`)
  const uid = Number(m[1])
  const gid = Number(m[2])
  if (uid === 0) return undefined
  const groups = socketPath === undefined ? [] : [statSync(socketPath).gid]
  // Order matters: groups and gid can only be changed while still root.
  process.setgroups!(groups)
  process.setgid!(gid)
  process.setuid!(uid)
  return { uid, gid, groups }
}
