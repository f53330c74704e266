import type { Server } from 'node:http'
import type { Metrics } from './metrics.js'

// Not an ESM import of node:http: see src/proxy/proxy-server.ts.
const { createServer } = process.getBuiltinModule('node:http')

/**
 * METRICS_LISTEN: GET /metrics on its own TCP port (the admin socket serves it too); nothing else.
 * `beforeScrape`: worker processes' figures brought in first (--workers N).
 */
export async function listenForScrapes (metrics: Metrics, at: { host: string, port: number }, beforeScrape: () => Promise<void> = async () => {}): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url !== '/metrics') { res.writeHead(404).end(); return }
    beforeScrape().then(async () => await metrics.registry.metrics()).then((text) => { res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text) }, () => { res.writeHead(500).end() })
  })
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(at.port, at.host, resolve) })
  return server
}
