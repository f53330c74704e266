import { mkdirSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect as tlsConnect } from 'node:tls'
import t from 'tap'
import { installCert, makeCert } from '../support/certs.ts'
import { createNetwork, requireDocker, runApp, runProxyImage, uniqueName } from '../support/docker.ts'
import { get } from '../support/http-client.ts'
import { httpsGet } from '../support/https-client.ts'
import { freePort } from '../support/ports.ts'
import { waitFor } from '../support/wait.ts'

// nginx-proxy 1.7's default certificate, end to end: the proxy image with only default.crt in
// /etc/nginx/certs, app containers configured as for nginx-proxy (env and labels).

async function handshake (port: number, servername: string): Promise<{ cn: string } | { alert: number }> {
  return await new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false }, () => {
      const cn = String(socket.getPeerCertificate().subject?.CN)
      socket.destroy()
      resolve({ cn })
    })
    socket.on('error', (err) => {
      const m = /alert number (\d+)/.exec(err.message)
      if (m === null) reject(err)
      else resolve({ alert: Number(m[1]) })
    })
  })
}

if (requireDocker(t)) {
  t.test('default.crt trusted: hosts without a certificate get HTTPS and a redirect; the labels opt out and set 308', async (t) => {
    const net = uniqueName('net')
    await createNetwork(t, net)
    const port = await freePort()
    const httpsPort = await freePort()
    const nginxDir = mkdtempSync(join(tmpdir(), 'pxt-nginx-'))
    mkdirSync(join(nginxDir, 'certs'))
    installCert(join(nginxDir, 'certs'), 'default', makeCert('default-cert'))
    await runProxyImage(t, { network: net, publish: { [port]: 80, [httpsPort]: 443 }, mounts: { [join(nginxDir, 'certs')]: '/etc/nginx/certs' } })
    await runApp(t, { name: uniqueName('trusted'), network: net, env: { VIRTUAL_HOST: 'trusted.test' } })
    await runApp(t, {
      name: uniqueName('distrust'), network: net, env: { VIRTUAL_HOST: 'distrust.test' },
      labels: { 'com.github.nginx-proxy.nginx-proxy.trust-default-cert': 'false' }
    })
    await runApp(t, {
      name: uniqueName('nonget'), network: net, env: { VIRTUAL_HOST: 'nonget.test' },
      labels: { 'com.github.nginx-proxy.nginx-proxy.non-get-redirect': '308' }
    })

    const served = await waitFor(async () => {
      const r = await httpsGet(httpsPort, 'trusted.test').catch(() => undefined)
      return r?.status === 200 ? r : undefined
    }, { timeoutMs: 20_000, what: 'trusted.test over HTTPS through the proxy container' })
    t.equal(served.peerCN, 'default-cert', 'served with the default certificate')
    t.equal(served.headers['strict-transport-security'], 'max-age=31536000')
    const redirect = await get(port, 'trusted.test', '/a?b=c')
    t.equal(redirect.status, 301)
    t.equal(redirect.headers.location, 'https://trusted.test/a?b=c', 'to the HTTPS port the container listens on (443)')

    await waitFor(async () => (await get(port, 'distrust.test')).status === 200, { timeoutMs: 20_000, what: 'distrust.test over HTTP' })
    t.same(await handshake(httpsPort, 'distrust.test'), { alert: 112 }, 'trust-default-cert=false: the handshake is rejected (unrecognized_name)')

    await waitFor(async () => (await get(port, 'nonget.test')).status === 301, { timeoutMs: 20_000, what: 'nonget.test redirecting' })
    t.equal((await get(port, 'nonget.test', '/', { method: 'POST', body: 'x' })).status, 308, 'non-get-redirect=308 for POST')
    t.equal((await get(port, 'nonget.test', '/', { method: 'GET' })).status, 301, 'GET stays 301')

    const unknown = await httpsGet(httpsPort, 'unknown.test')
    t.equal(unknown.peerCN, 'default-cert', 'the fallback server presents default.crt')
    t.equal(unknown.status, 503)
  })
}
