import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import bcrypt from 'bcryptjs'
import t, { type Test } from 'tap'
import { createNetwork, requireDocker, runApp, runProxyImage, uniqueName } from '../support/docker.ts'
import { get } from '../support/http-client.ts'
import { freePort } from '../support/ports.ts'
import { waitFor } from '../support/wait.ts'

// Issue 15, items 1 and 6 end to end: the proxy image with nginx-proxy's volumes
// (/etc/nginx/htpasswd, /usr/share/nginx/html) and app containers configured as for nginx-proxy.

const sha1 = (text: string): string => createHash('sha1').update(text).digest('hex')
const basic = (user: string, password: string): Record<string, string> => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` })

/** A directory the image's unprivileged user (uid 1000) can read, as a bind mount. */
function readableDir (prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  chmodSync(dir, 0o755)
  return dir
}

async function startProxy (t: Test, net: string, mounts: Record<string, string>, env: Record<string, string> = {}): Promise<number> {
  const port = await freePort()
  await runProxyImage(t, { network: net, publish: { [port]: 80 }, mounts, env })
  return port
}

if (requireDocker(t)) {
  t.test('VIRTUAL_HOST=~^secret\\..* protected by /etc/nginx/htpasswd/<SHA-1 of the regex>, VIRTUAL_PATH by <host>_<SHA-1 of the path>', async (t) => {
    const net = uniqueName('net')
    await createNetwork(t, net)
    const htpasswd = readableDir('pxt-htpasswd-')
    const regex = '~^secret\\..*'
    // As `htpasswd -B` writes it ($2y$).
    writeFileSync(join(htpasswd, sha1(regex)), `alice:${bcrypt.hashSync('s3cret', 5).replace(/^\$2[ab]\$/, '$2y$')}\n`, { mode: 0o644 })
    writeFileSync(join(htpasswd, `paths.test_${sha1('/admin/')}`), `root:${bcrypt.hashSync('adm1n', 5).replace(/^\$2[ab]\$/, '$2y$')}\n`, { mode: 0o644 })
    const port = await startProxy(t, net, { [htpasswd]: '/etc/nginx/htpasswd' })
    await runApp(t, { name: uniqueName('secret'), network: net, env: { VIRTUAL_HOST: regex } })
    await runApp(t, { name: uniqueName('admin'), network: net, env: { VIRTUAL_HOST: 'paths.test', VIRTUAL_PATH: '/admin/' } })
    await runApp(t, { name: uniqueName('site'), network: net, env: { VIRTUAL_HOST: 'paths.test' } })

    const denied = await waitFor(async () => {
      const r = await get(port, 'secret.example.test').catch(() => undefined)
      return r?.status === 401 ? r : undefined
    }, { timeoutMs: 20_000, what: 'the regex host routed and answering 401' })
    t.equal(denied.headers['www-authenticate'], 'Basic realm="Restricted access"')
    t.equal((await get(port, 'secret.example.test', '/', { headers: basic('alice', 'wrong') })).status, 401)
    const ok = await get(port, 'secret.example.test', '/x', { headers: basic('alice', 's3cret') })
    t.equal(ok.status, 200)
    t.equal(JSON.parse(ok.body).url, '/x', 'the app answered')

    await waitFor(async () => (await get(port, 'paths.test', '/')).status === 200, { timeoutMs: 20_000, what: 'paths.test / routed (no file: open)' })
    const admin = await waitFor(async () => {
      const r = await get(port, 'paths.test', '/admin/users')
      return r.status === 401 ? r : undefined
    }, { timeoutMs: 20_000, what: 'paths.test/admin/ routed and answering 401' })
    t.equal(admin.headers['www-authenticate'], 'Basic realm="Restricted paths.test/admin/"')
    t.equal((await get(port, 'paths.test', '/admin/users', { headers: basic('root', 'adm1n') })).status, 200)
  })

  t.test('ACME_HTTP_CHALLENGE_LOCATION=false on a container: its challenge path goes to the app; unknown names get none', async (t) => {
    const net = uniqueName('net')
    await createNetwork(t, net)
    const html = readableDir('pxt-html-')
    mkdirSync(join(html, '.well-known', 'acme-challenge'), { recursive: true, mode: 0o755 })
    chmodSync(join(html, '.well-known'), 0o755)
    writeFileSync(join(html, '.well-known', 'acme-challenge', 'tok'), 'tok.keyauth', { mode: 0o644 })
    const port = await startProxy(t, net, { [html]: '/usr/share/nginx/html' })
    await runApp(t, { name: uniqueName('acme-on'), network: net, env: { VIRTUAL_HOST: 'on.test' } })
    await runApp(t, { name: uniqueName('acme-off'), network: net, env: { VIRTUAL_HOST: 'off.test', ACME_HTTP_CHALLENGE_LOCATION: 'false' } })
    const path = '/.well-known/acme-challenge/tok'
    // No certificates: both hosts are served over HTTP, as nginx-proxy's noredirect.
    await waitFor(async () => (await get(port, 'on.test', '/')).status === 200 && (await get(port, 'off.test', '/')).status === 200, { timeoutMs: 20_000, what: 'both hosts routed' })
    t.equal((await get(port, 'on.test', path)).body, 'tok.keyauth')
    const off = await get(port, 'off.test', path)
    t.equal(off.status, 200)
    t.equal(JSON.parse(off.body).url, path, 'the app answered the challenge path')
    t.equal((await get(port, 'unknown.test', path)).status, 503, 'ACME_HTTP_CHALLENGE_ACCEPT_UNKNOWN_HOST defaults to false')
  })
}
