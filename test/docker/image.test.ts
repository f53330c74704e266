import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import t from 'tap'
import { connect as tlsConnect } from 'node:tls'
import { chmodSync, chownSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { installCert, makeCert } from '../support/certs.ts'
import { createNetwork, docker, dockerSocketGid, requireDocker, runApp, runProxyImage, uniqueName } from '../support/docker.ts'
import { h2Session, httpsGet } from '../support/https-client.ts'
import { get } from '../support/http-client.ts'
import { freePort } from '../support/ports.ts'
import { CLI } from '../support/proxy-process.ts'
import { waitFor } from '../support/wait.ts'
import { findComposeBinary } from '../../src/deploy/compose.ts'

const execFileP = promisify(execFile)
const root = fileURLToPath(new URL('../..', import.meta.url))

if (requireDocker(t)) {
  t.test('the image built from the Dockerfile serves apps on networks it shares, and answers proxyctl status', async (t) => {
    const net = uniqueName('net')
    await createNetwork(t, net)
    const port = await freePort()
    const httpsPort = await freePort()
    // nginx-proxy's volumes: certificates, and a vhost.d file: one directive proxyctl honours, one it
    // warns about with its line.
    const nginxDir = mkdtempSync(join(tmpdir(), 'pxt-nginx-'))
    mkdirSync(join(nginxDir, 'certs'))
    mkdirSync(join(nginxDir, 'vhost.d'))
    writeFileSync(join(nginxDir, 'vhost.d', 'image.test'), 'client_max_body_size 100m;\nproxy_cache_valid 200 1m;\n')
    installCert(join(nginxDir, 'certs'), 'image.test', makeCert('image.test'))
    // A key as acme-companion writes it by default: root:root 0600, which uid 1000 cannot read.
    const asRoot = process.getuid?.() === 0
    const acmeKey = join(nginxDir, 'certs', 'acme.test.key')
    if (asRoot) {
      installCert(join(nginxDir, 'certs'), 'acme.test', makeCert('acme.test'))
      chownSync(acmeKey, 0, 0)
      chmodSync(acmeKey, 0o600)
    }
    // As an nginx-proxy user runs it: no --user, no --group-add. The proxy keeps the socket's group
    // and becomes node itself (src/privileges.ts).
    const proxyName = await runProxyImage(t, {
      network: net, publish: { [port]: 80, [httpsPort]: 443 },
      mounts: { [join(nginxDir, 'certs')]: '/etc/nginx/certs', [join(nginxDir, 'vhost.d')]: '/etc/nginx/vhost.d' }
    })
    const shared = uniqueName('shared')
    await runApp(t, { name: shared, network: net, env: { VIRTUAL_HOST: 'image.test,acme.test', APP_VERSION: 'in-image' } })
    const isolated = uniqueName('isolated')
    await runApp(t, { name: isolated, env: { VIRTUAL_HOST: 'isolated.test' } })

    const body = await waitFor(async () => {
      const r = await httpsGet(httpsPort, 'image.test')
      return r.status === 200 ? JSON.parse(r.body) as { version: string, headers: Record<string, string> } : undefined
    }, { timeoutMs: 20_000, what: 'image.test through the proxy container' })
    t.equal(body.version, 'in-image')
    t.equal(body.headers['x-forwarded-proto'], 'https')
    t.equal((await get(port, 'image.test')).status, 301, 'plain HTTP redirects to HTTPS (a certificate exists)')
    t.equal((await get(port, 'isolated.test')).status, 502, 'an app on no shared network gets no upstream: its host answers 502, as nginx-proxy')

    // proxyctl serve runs as node, not root, and still listens on 80 and 443 (the requests above
    // went through them). tini, PID 1, stays root: it only forwards signals and reaps.
    const processes = (await docker('top', proxyName, '-o', 'pid,uid,gid,supgid,args')).split('\n').slice(1).map((l) => l.trim().split(/\s+/))
    const serve = processes.find((p) => p.slice(4).join(' ').includes('serve') && !p[4]!.includes('tini'))
    t.ok(serve, `the proxyctl serve process (docker top: ${JSON.stringify(processes)})`)
    t.same([serve![1], serve![2]], ['1000', '1000'], 'uid and gid 1000 (node)')
    t.same(serve![3]!.split(','), [dockerSocketGid()], 'the Docker socket\'s group is its only supplementary group')
    t.equal(await docker('exec', proxyName, 'cat', '/proc/sys/net/ipv4/ip_unprivileged_port_start'), '0', 'what lets node bind 80/443')
    // The workers' lines reach `docker logs` through the primary's batched destination (up to its
    // 200 ms flush) and may come after the primary's own: wait for every line asserted below.
    const expected = [isolated, 'proxy_cache_valid', ...(asRoot ? ['Certificate pair skipped'] : [])]
    const logs = await waitFor(async () => {
      const { stdout } = await execFileP('docker', ['logs', proxyName])
      const missing = expected.filter((s) => !stdout.includes(s))
      if (missing.length > 0) throw new Error(`not yet logged: ${missing.join(', ')}; logged:\n${stdout}`)
      return stdout
    }, { what: 'the isolated app, the vhost.d directive and the root-only key logged' })
    t.match(logs, /shares no network with the proxy/)
    t.match(logs, /vhost\.d\/image\.test:2: \\"proxy_cache_valid\\" is not supported/, 'the directive proxyctl does not honour is named with its line')
    if (asRoot) {
      t.ok(logs.split('\n').some((l) => l.includes('Certificate pair skipped') && l.includes('acme.test.key') && l.includes('EACCES')), 'a root-only key is skipped with EACCES')
      t.not((await httpsGet(httpsPort, 'acme.test').catch(() => undefined))?.peerCN, 'acme.test')
      // The README's remedy, what acme-companion's FILES_GID=1000 FILES_PERMS=640 produce.
      chownSync(acmeKey, 0, 1000)
      chmodSync(acmeKey, 0o640)
    }

    // acme-companion's renewal signal: certificates reload, the proxy keeps serving.
    await docker('kill', '-s', 'HUP', proxyName)
    await waitFor(async () => (await execFileP('docker', ['logs', proxyName])).stdout.includes('"msg":"Reloaded"'), { what: 'the SIGHUP reload' })
    t.equal((await httpsGet(httpsPort, 'image.test')).status, 200, 'still serving after SIGHUP')
    if (asRoot) t.equal((await httpsGet(httpsPort, 'acme.test')).peerCN, 'acme.test', 'group 1000 and mode 0640: the key is read')

    // The host CLI finds the proxy by its image label and reads the table through docker exec.
    const { stdout } = await execFileP(process.execPath, [CLI, 'status', '--proxy', proxyName, '--json'])
    const status = JSON.parse(stdout) as { hosts: Array<{ host: string, locations: Array<{ upstreams: Array<{ name: string, state: string }> }> }> }
    const host = status.hosts.find((h) => h.host === 'image.test')
    t.equal(host?.locations[0]?.upstreams[0]?.name, shared)
    t.equal(host?.locations[0]?.upstreams[0]?.state, 'ready')

    const health = await waitFor(async () => {
      const h = await docker('inspect', '-f', '{{.State.Health.Status}}', proxyName)
      return h === 'healthy' ? h : undefined
    }, { timeoutMs: 30_000, what: 'the image HEALTHCHECK' })
    t.equal(health, 'healthy')

    // SIGTERM through tini: a clean, prompt exit, even with an idle HTTP/2 session open (a browser
    // keeps one): the proxy sends GOAWAY and closes it rather than wait for Docker's SIGKILL (137).
    const session = await h2Session(httpsPort, 'image.test')
    session.on('error', () => {})
    const goaway = new Promise<boolean>((resolve) => { session.once('goaway', () => { resolve(true) }); session.once('close', () => { resolve(false) }) })
    // ...and with a WebSocket tunnel open (issue 10: an upgraded socket is no longer the server's,
    // so it used to keep the process alive until SIGKILL, exit code 137).
    const tunnel = tlsConnect({ port: httpsPort, host: '127.0.0.1', servername: 'image.test', ALPNProtocols: ['http/1.1'], rejectUnauthorized: false })
    tunnel.on('error', () => {})
    tunnel.write('GET /ws HTTP/1.1\r\nHost: image.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n')
    const switched = await new Promise<string>((resolve) => { tunnel.once('data', (c: Buffer) => { resolve(c.toString('latin1')) }) })
    t.match(switched, /^HTTP\/1\.1 101 /, 'a wss:// tunnel is open through the proxy')
    const tunnelClosed = new Promise<void>((resolve) => { tunnel.once('close', () => { resolve() }) })
    await docker('stop', '-t', '8', proxyName)
    t.equal(await docker('inspect', '-f', '{{.State.ExitCode}}', proxyName), '0', 'exited by itself, not SIGKILLed')
    t.ok(await goaway, 'the open HTTP/2 session got GOAWAY')
    await tunnelClosed
    session.destroy()
  })

  t.test('run with --user and without the socket\'s group, the proxy says so and exits 6 (Docker unavailable)', async (t) => {
    const proxyName = await runProxyImage(t, { args: ['--user', '1000:1000'] })
    t.equal(await docker('wait', proxyName), '6')
    const { stdout, stderr } = await execFileP('docker', ['logs', proxyName])
    t.match(stdout + stderr, /Docker socket \/tmp\/docker\.sock is not readable and writable by this user/)
  })

  t.test('compose.example.yml serves the demo app on both hosts through the proxy image', async (t) => {
    const compose = await findComposeBinary()
    const port = await freePort()
    const project = uniqueName('example').replace(/-/g, '')
    const env = { ...process.env, PROXYCTL_HTTP_PUBLISH: `127.0.0.1:${port}`, PROXYCTL_HTTPS_PUBLISH: `127.0.0.1:${await freePort()}` }
    const run = async (...args: string[]): Promise<string> => {
      const { stdout } = await execFileP(compose[0]!, [...compose.slice(1), '-f', 'compose.example.yml', '-p', project, ...args], { cwd: root, env, maxBuffer: 16 * 1024 * 1024 })
      return stdout
    }
    t.teardown(async () => { await run('down', '-v', '--remove-orphans').catch(() => {}) })
    await run('up', '-d', '--build')
    for (const host of ['api.my-app.com', 'admin.my-app.com']) {
      const r = await waitFor(async () => {
        const res = await get(port, host)
        return res.status === 200 ? res : undefined
      }, { timeoutMs: 30_000, what: `${host} through compose.example.yml` })
      t.match(r.body, new RegExp(`Hello from demo-app .*Host: ${host.replace(/\./g, '\\.')}`))
    }
  })
}
