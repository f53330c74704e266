import { SocketTransport } from '../../admin/client/transports.js'
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
