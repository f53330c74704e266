import t from 'tap'
import { createNetwork, docker, requireDocker, runApp, runProxyImage, uniqueName } from '../support/docker.ts'
import { get } from '../support/http-client.ts'
import { freePort } from '../support/ports.ts'
import { startProxyProcess } from '../support/proxy-process.ts'
import { waitFor } from '../support/wait.ts'

// issue 15, item 5, from nginx-proxy's docs ("Host networking") and nginx.tmpl's container_ip:
// apps in the host network are reached at the host's address (127.0.0.1 when the proxy shares it,
// else its network's gateway); a proxy in the host network reaches apps on their bridge IPs; an app
// disconnected from every network the proxy can reach keeps its host, answered 502
// (`server 127.0.0.1 down`), until it is reachable again.

interface AppReply { version: string }

if (requireDocker(t)) {
  const proxy = await startProxyProcess(t)
  const status = async (port: number, host: string): Promise<number> => (await get(port, host).catch(() => ({ status: 0 }))).status
  const routed = async (port: number, host: string, timeoutMs = 10_000): Promise<AppReply> =>
    await waitFor(async () => {
      const r = await get(port, host).catch(() => undefined)
      return r?.status === 200 ? JSON.parse(r.body) as AppReply : undefined
    }, { timeoutMs, what: `${host} routed on ${port}` })

  t.test('an app in the host network with VIRTUAL_PORT is routed to the host address', async (t) => {
    const port = await freePort()
    await runApp(t, { name: uniqueName('hostnet'), network: 'host', env: { VIRTUAL_HOST: 'hostnet.test', VIRTUAL_PORT: String(port), PORT: String(port), APP_VERSION: 'on-host' } })
    t.equal((await routed(proxy.port, 'hostnet.test')).version, 'on-host')
  })

  t.test('docker network disconnect keeps the host (502 while unreachable); reconnect serves it again', async (t) => {
    const net = uniqueName('net')
    await createNetwork(t, net)
    const name = uniqueName('disc')
    const id = await runApp(t, { name, network: net, env: { VIRTUAL_HOST: 'disconnect.test', APP_VERSION: 'connected' } })
    t.equal((await routed(proxy.port, 'disconnect.test')).version, 'connected')
    await docker('network', 'disconnect', net, id)
    await waitFor(async () => await status(proxy.port, 'disconnect.test') === 502, { what: 'disconnect.test answering 502' })
    t.equal(await status(proxy.port, 'nobody.test'), 503, 'an unknown host is still 503: the host stayed configured')
    const line = await proxy.waitForLog((l) => l.container === name && /not routed/.test(String(l.msg)))
    t.match(line.msg, /its hosts answer 502/)
    await docker('network', 'connect', net, id)
    t.equal((await routed(proxy.port, 'disconnect.test')).version, 'connected')
  })

  t.test('the proxy in the host network reaches apps on their bridge networks, and host-network apps on localhost', async (t) => {
    const net = uniqueName('net')
    await createNetwork(t, net)
    const port = await freePort()
    // As an nginx-proxy user runs it with network_mode: host (the ports are the host's: unused ones).
    const edge = await runProxyImage(t, { network: 'host', env: { HTTP_PORT: String(port), HTTPS_PORT: 'off', PROXYCTL_LISTEN_HOST: '127.0.0.1' } })
    await runApp(t, { name: uniqueName('bridged'), network: net, env: { VIRTUAL_HOST: 'bridged.test', APP_VERSION: 'bridged' } })
    const appPort = await freePort()
    await runApp(t, { name: uniqueName('hostapp'), network: 'host', env: { VIRTUAL_HOST: 'hostapp.test', VIRTUAL_PORT: String(appPort), PORT: String(appPort), APP_VERSION: 'host-app' } })
    t.equal((await routed(port, 'bridged.test', 30_000)).version, 'bridged', 'a bridge app on a network the proxy is not attached to')
    t.equal((await routed(port, 'hostapp.test')).version, 'host-app')
    const logs = await docker('logs', edge)
    t.notMatch(logs, /shares no network/, 'no app was refused for its network')
  })
}
