import { constants } from 'node:fs'
import { open } from 'node:fs/promises'
import { join, normalize, sep } from 'node:path'
import type { OutgoingHttpHeaders } from 'node:http'

export const ACME_PREFIX = '/.well-known/acme-challenge/'
/** HTTP-01 key authorizations are under 200 bytes; bigger files under the prefix are not challenges. */
export const MAX_CHALLENGE_FILE_BYTES = 64 * 1024

/** What serveAcmeChallenge writes to: a node:http ServerResponse or the HTTP/2 H2Response. */
export interface ChallengeResponse {
  writeHead (status: number, headers?: OutgoingHttpHeaders): unknown
  end (chunk?: Buffer | string): unknown
}

/**
 * acme-companion writes HTTP-01 tokens under the html volume; nginx-proxy's ACME location serves
 * them (`root /usr/share/nginx/html; try_files $uri =404`) before any redirect or auth. Which
 * hosts and schemes have that location is the router's decision. Resolves to the status sent.
 */
export async function serveAcmeChallenge (htmlDir: string, url: string, res: ChallengeResponse): Promise<number> {
  let path: string
  try {
    path = decodeURIComponent(url.split('?')[0] ?? '')
  } catch {
    // Percent-encoding that is no UTF-8 (%ff): no token is named that way.
    res.writeHead(400, { 'content-length': 0, connection: 'close' })
    res.end()
    return 400
  }
  const file = normalize(join(htmlDir, path))
  if (!file.startsWith(join(htmlDir, ACME_PREFIX).replace(/\/$/, '') + sep) || path.includes('\0')) {
    res.writeHead(404, { 'content-length': 0 })
    res.end()
    return 404
  }
  // Read whole (the file is tiny) rather than piped: the HTTP/2 response is not a Writable.
  let body: Buffer | undefined
  try {
    // O_NONBLOCK: a FIFO planted under the prefix must not hold a libuv thread waiting for a writer.
    const handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK)
    try {
      const st = await handle.stat()
      if (st.isFile() && st.size <= MAX_CHALLENGE_FILE_BYTES) body = await handle.readFile()
    } finally {
      await handle.close()
    }
  } catch {}
  if (body === undefined || body.length > MAX_CHALLENGE_FILE_BYTES) {
    res.writeHead(404, { 'content-type': 'text/plain', 'content-length': 10 })
    res.end('not found\n')
    return 404
  }
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length })
  res.end(body)
  return 200
}
