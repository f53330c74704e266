import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { createNetwork, requireDocker, runApp, runProxyImage, uniqueName } from '../support/docker.ts'
import { get } from '../support/http-client.ts'
import { freePort } from '../support/ports.ts'
import { waitFor } from '../support/wait.ts'

// Issue 15, items 4 and 8 end to end: the proxy image as nginx-proxy users run it, an app with
// EXTERNAL_HTTP_PORT (served on that port, not on 80) and a vhost.d file setting
// client_max_body_size for another host (413 above it), both configured as for nginx-proxy.

if (requireDocker(t)) {
  t.test('EXTERNAL_HTTP_PORT opens a listener for its host; vhost.d client_max_body_size answers 413', async (t) => {
    const net = uniqueName('net')
    await createNetwork(t, net)
    const port = await freePort()
    const externalPort = await freePort()
    const nginxDir = mkdtempSync(join(tmpdir(), 'pxt-nginx-'))
    mkdirSync(join(nginxDir, 'vhost.d'))
    writeFileSync(join(nginxDir, 'vhost.d', 'small.test'), 'client_max_body_size 1k;\n')
    // The external port is published as nginx-proxy users publish it: container 8081.
    await runProxyImage(t, {
      network: net, publish: { [port]: 80, [externalPort]: 8081 }, env: { HTTPS_PORT: 'off' },
      mounts: { [join(nginxDir, 'vhost.d')]: '/etc/nginx/vhost.d' }
    })
    await runApp(t, { name: uniqueName('ext'), network: net, env: { VIRTUAL_HOST: 'ext.test', EXTERNAL_HTTP_PORT: '8081', APP_VERSION: 'ext' } })
    await runApp(t, { name: uniqueName('small'), network: net, env: { VIRTUAL_HOST: 'small.test', APP_VERSION: 'small' } })

    const onExternal = await waitFor(async () => {
      const r = await get(externalPort, 'ext.test').catch(() => undefined)
      return r?.status === 200 ? r : undefined
    }, { timeoutMs: 20_000, what: 'ext.test on its EXTERNAL_HTTP_PORT' })
    t.equal((JSON.parse(onExternal.body) as { version: string }).version, 'ext')
    t.equal((await get(port, 'ext.test')).status, 503, 'not served on 80: its server block listens on 8081 only')

    await waitFor(async () => (await get(port, 'small.test')).status === 200, { timeoutMs: 20_000, what: 'small.test routed' })
    t.equal((await get(port, 'small.test', '/', { method: 'POST', body: 'x'.repeat(1024) })).status, 200, 'at the limit: forwarded')
    const tooBig = await get(port, 'small.test', '/', { method: 'POST', body: 'x'.repeat(1025) })
    t.equal(tooBig.status, 413, 'over vhost.d/small.test\'s client_max_body_size')
    t.equal(tooBig.headers['x-proxyctl-error'], 'PROXY_ERR_BODY_TOO_LARGE')
  })
}
