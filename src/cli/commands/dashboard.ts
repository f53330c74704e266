import type Docker from 'dockerode'
import { connectAdmin } from '../../admin/client/admin-client.js'
import { startDashboardRelay } from '../../admin/client/dashboard-relay.js'
import { connectDocker } from '../../docker/dockerode-client.js'

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]'])

/** A local port that relays the read-only admin pages (kubectl port-forward style); see dashboard-relay.ts. */
export async function dashboard (opts: { port: number, host: string, adminSocket: string | undefined, proxy: string | undefined }): Promise<number> {
  const admin = await connectAdmin({ adminSocket: opts.adminSocket, proxy: opts.proxy, docker: () => connectDocker().docker as Docker })
  const relay = await startDashboardRelay({ transport: admin.transport, host: opts.host, port: opts.port })
  if (!LOOPBACK.has(opts.host)) {
    process.stderr.write(`proxyctl: --host ${opts.host} is not a loopback address: whoever can reach it and sees the token can read the status page, over plain HTTP\n`)
  }
  process.stdout.write(`status page on ${relay.url} (relayed to ${admin.transport.describe}); Ctrl-C to stop\n`)
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve)
    process.once('SIGTERM', resolve)
  })
  await relay.close()
  await admin.close()
  return 0
}
