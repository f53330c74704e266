import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { join, normalize, sep } from 'node:path'
import type { ServerResponse } from 'node:http'

export const ACME_PREFIX = '/.well-known/acme-challenge/'

/**
 * acme-companion writes HTTP-01 tokens under the html volume; nginx-proxy serves them on port 80
 * for every host, before any redirect or auth. Resolves true when the request was answered.
 */
export async function serveAcmeChallenge (htmlDir: string, url: string, res: ServerResponse): Promise<number> {
  let path: string
  try {
    path = decodeURIComponent(url.split('?')[0] ?? '')
  } catch {
    // Percent-encoding that is no UTF-8 (%ff): no token is named that way.
    res.writeHead(400, { 'content-length': 0, connection: 'close' }).end()
    return 400
  }
  const file = normalize(join(htmlDir, path))
  if (!file.startsWith(join(htmlDir, ACME_PREFIX).replace(/\/$/, '') + sep) || path.includes('\0')) {
    res.writeHead(404, { 'content-length': 0 }).end()
    return 404
  }
  try {
    const st = await stat(file)
    if (!st.isFile()) throw new Error('not a file')
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': st.size })
    // A file removed or unreadable between stat and read ends this response, not the process.
    createReadStream(file).on('error', () => { res.destroy() }).pipe(res)
    return 200
  } catch {
    res.writeHead(404, { 'content-type': 'text/plain', 'content-length': 10 }).end('not found\n')
    return 404
  }
}
