import type Docker from 'dockerode'
import { connectAdmin, type AdminClient } from '../../admin/client/admin-client.js'
import { connectDocker } from '../../docker/dockerode-client.js'
import type { AdminTarget } from '../args.js'

/** Connects to the proxy's admin API the way every read-only command does, and closes it after. */
export async function withAdmin<T> (target: AdminTarget, fn: (admin: AdminClient) => Promise<T>): Promise<T> {
  const admin = await connectAdmin({ adminSocket: target.adminSocket, proxy: target.proxy, docker: () => connectDocker().docker as Docker })
  try {
    return await fn(admin)
  } finally {
    await admin.close()
  }
}
