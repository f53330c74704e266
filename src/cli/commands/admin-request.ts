import { SocketTransport } from '../../admin/client/transports.js'
import type { SessionAnswer, SessionRequest } from '../../admin/api.js'
import { lineReader } from '../../line-reader.js'
import { DEFAULT_ADMIN_SOCKET } from '../../config/options.js'

/** Internal: what `docker exec` runs inside the proxy container. Prints {status, body} as JSON. */
export async function adminRequest (method: string, path: string, body: string | undefined, adminSocket: string | undefined): Promise<number> {
  const transport = new SocketTransport(adminSocket ?? process.env.PROXYCTL_ADMIN_SOCKET ?? DEFAULT_ADMIN_SOCKET)
  try {
    const res = await transport.request(method, path, body === undefined ? undefined : JSON.parse(body))
    process.stdout.write(`${JSON.stringify({ status: res.status, contentType: res.contentType, text: res.text })}\n`)
    return res.status < 400 ? 0 : 1
  } catch (err) {
    const text = JSON.stringify({ code: 'PROXY_ERR_ADMIN', message: (err as Error).message })
    process.stdout.write(`${JSON.stringify({ status: 502, contentType: 'application/json', text })}\n`)
    return 1
  } finally {
    await transport.close()
  }
}

/** HEALTHCHECK: the admin socket answers. */
export async function health (adminSocket: string | undefined): Promise<number> {
  const transport = new SocketTransport(adminSocket ?? process.env.PROXYCTL_ADMIN_SOCKET ?? DEFAULT_ADMIN_SOCKET)
  try {
    const res = await transport.request('GET', '/v1/health')
    return res.status === 200 ? 0 : 1
  } catch {
    return 1
  } finally {
    await transport.close()
  }
}

/**
 * Internal: `proxyctl admin-request --stdio`, one `docker exec` serving a whole `proxyctl deploy`.
 * Reads one JSON request a line ({id, method, path, body}), answers each (concurrently, in any
 * order) with one line ({id, status, contentType, text}); once stdin ends, answers what is under
 * way (every admin request is bounded: a held admission request by the proxy's cap) and exits.
 */
export async function adminSession (adminSocket: string | undefined, input: NodeJS.ReadableStream, output: NodeJS.WritableStream): Promise<number> {
  const transport = new SocketTransport(adminSocket ?? process.env.PROXYCTL_ADMIN_SOCKET ?? DEFAULT_ADMIN_SOCKET)
  const answer = (line: SessionAnswer): void => { output.write(`${JSON.stringify(line)}\n`) }
  const inFlight = new Set<Promise<void>>()
  const handle = async (line: string): Promise<void> => {
    let req: SessionRequest
    try {
      req = JSON.parse(line) as SessionRequest
    } catch {
      answer({ id: null, status: 400, contentType: 'application/json', text: JSON.stringify({ code: 'PROXY_ERR_ADMIN', message: 'not a JSON line' }) })
      return
    }
    try {
      const res = await transport.request(req.method, req.path, req.body)
      answer({ id: req.id, status: res.status, contentType: res.contentType, text: res.text })
    } catch (err) {
      answer({ id: req.id, status: 502, contentType: 'application/json', text: JSON.stringify({ code: 'PROXY_ERR_ADMIN', message: (err as Error).message }) })
    }
  }
  input.setEncoding('utf8')
  input.on('data', lineReader((raw) => {
    const line = raw.trim()
    if (line === '') return
    const p = handle(line).finally(() => { inFlight.delete(p) })
    inFlight.add(p)
  }, { maxLength: MAX_SESSION_LINE, onOverflow: () => { answer({ id: null, status: 413, contentType: 'text/plain', text: 'line too long' }) } }))
  await new Promise<void>((resolve) => { input.once('end', resolve); input.once('close', resolve) })
  await Promise.all(inFlight)
  await transport.close()
  return 0
}

/** A request line is at most the admin API's body cap plus its envelope. */
const MAX_SESSION_LINE = 1024 * 1024 + 4096
