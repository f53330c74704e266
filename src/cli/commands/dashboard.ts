import { createServer } from 'node:http'
import type Docker from 'dockerode'
import { connectAdmin } from '../../admin/admin-client.js'
import { connectDocker } from '../../docker/dockerode-client.js'

const RELAYED = new Set(['/', '/v1/status', '/v1/history', '/metrics'])

/** A local port that relays the read-only admin pages (kubectl port-forward style). */
export async function dashboard (opts: { port: number, host: string, adminSocket: string | undefined, proxy: string | undefined }): Promise<number> {
  const admin = await connectAdmin({ adminSocket: opts.adminSocket, proxy: opts.proxy, docker: () => connectDocker().docker as Docker })
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/'
    if (req.method !== 'GET' || !RELAYED.has(path)) { res.writeHead(404).end(); return }
    admin.transport.request('GET', path).then((r) => {
      res.writeHead(r.status, { 'content-type': r.contentType, 'cache-control': 'no-store' }).end(r.text)
    }, (err: unknown) => {
      res.writeHead(502, { 'content-type': 'text/plain' }).end(`admin API unreachable: ${(err as Error).message}\n`)
    })
  })
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(opts.port, opts.host, resolve) })
  const addr = server.address() as { port: number }
  process.stdout.write(`status page on http://${opts.host}:${addr.port}/ (relayed to ${admin.transport.describe}); Ctrl-C to stop\n`)
  return await new Promise<number>((resolve) => {
    const stop = (): void => { server.close(); void admin.close().finally(() => { resolve(0) }) }
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
  })
}
