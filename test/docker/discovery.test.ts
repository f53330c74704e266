import { createHash } from 'node:crypto'
import t from 'tap'
import { docker, requireDocker, runApp, uniqueName } from '../support/docker.ts'
import { get } from '../support/http-client.ts'
import { startProxyProcess } from '../support/proxy-process.ts'
import { waitFor } from '../support/wait.ts'
import { websocketEcho } from '../support/ws-client.ts'

interface AppReply { version: string, hostname: string, url: string, headers: Record<string, string>, bodyBytes: number, bodySha256: string }

if (requireDocker(t)) {
  const proxy = await startProxyProcess(t, { args: ['--default-host', 'fallback.test'] })
  const reply = async (host: string, path = '/', opts: Parameters<typeof get>[3] = {}): Promise<AppReply & { status: number }> => {
    const r = await get(proxy.port, host, path, opts)
    return { status: r.status, ...(r.status === 200 ? JSON.parse(r.body) as AppReply : {} as AppReply) }
  }
  const routed = async (host: string, timeoutMs = 5_000, path = '/'): Promise<AppReply> =>
    await waitFor(async () => { const r = await reply(host, path); return r.status === 200 ? r : undefined }, { timeoutMs, what: `${host} routed` })

  t.test('an app container started is routed by its Host within 2 s', async (t) => {
    const name = uniqueName('basic')
    await runApp(t, { name, env: { VIRTUAL_HOST: 'basic.test', APP_VERSION: 'basic-v1' } })
    const started = Date.now()
    const r = await routed('basic.test', 2_000)
    t.equal(r.version, 'basic-v1')
    t.ok(Date.now() - started <= 2_000, `routed after ${Date.now() - started} ms`)
  })

  t.test('multiple hosts, wildcard and regex', async (t) => {
    await runApp(t, { name: uniqueName('multi'), env: { VIRTUAL_HOST: 'one.test, two.test', APP_VERSION: 'multi' } })
    await runApp(t, { name: uniqueName('wild'), env: { VIRTUAL_HOST: '*.wild.test', APP_VERSION: 'wild' } })
    await runApp(t, { name: uniqueName('regex'), env: { VIRTUAL_HOST: '~^api-[0-9]+\\.re\\.test$', APP_VERSION: 'regex' } })
    t.equal((await routed('one.test')).version, 'multi')
    t.equal((await routed('two.test')).version, 'multi')
    t.equal((await routed('x.wild.test')).version, 'wild')
    t.equal((await routed('a.b.wild.test')).version, 'wild')
    t.equal((await routed('api-42.re.test')).version, 'regex')
    t.equal((await reply('api-x.re.test')).status, 503, 'a regex non-match is not routed')
  })

  t.test('VIRTUAL_PATH with VIRTUAL_DEST, and VIRTUAL_PORT among several exposed ports', async (t) => {
    await runApp(t, { name: uniqueName('root'), env: { VIRTUAL_HOST: 'paths.test', APP_VERSION: 'root' } })
    await runApp(t, { name: uniqueName('api'), env: { VIRTUAL_HOST: 'paths.test', VIRTUAL_PATH: '/api/', VIRTUAL_DEST: '/', APP_VERSION: 'api' } })
    await runApp(t, { name: uniqueName('port'), expose: [4000, 5000], env: { VIRTUAL_HOST: 'port.test', VIRTUAL_PORT: '5000', PORT: '5000', APP_VERSION: 'port5000' } })
    t.equal((await routed('paths.test')).version, 'root')
    const api = await routed('paths.test', 5_000, '/api/users?x=1')
    t.equal(api.version, 'api')
    t.equal(api.url, '/users?x=1', 'VIRTUAL_DEST replaced the matched prefix')
    t.equal(api.headers['x-original-uri'], '/api/users?x=1')
    t.equal((await routed('port.test')).version, 'port5000')
  })

  t.test('two replicas both receive requests; a stopped one is no longer routed', async (t) => {
    const a = await runApp(t, { name: uniqueName('rep'), env: { VIRTUAL_HOST: 'replicas.test' } })
    const b = await runApp(t, { name: uniqueName('rep'), env: { VIRTUAL_HOST: 'replicas.test' } })
    const seen = await waitFor(async () => {
      const hosts = new Set<string>()
      // Only answers from a replica count: a 503 while one is still being admitted has no hostname.
      for (let i = 0; i < 10; i++) {
        const r = await reply('replicas.test')
        if (r.status === 200) hosts.add(r.hostname)
      }
      return hosts.size === 2 ? hosts : undefined
    }, { timeoutMs: 8_000, what: 'both replicas answering' })
    t.same([...seen].sort(), [a.slice(0, 12), b.slice(0, 12)].sort())
    await docker('stop', '-t', '1', a)
    for (let i = 0; i < 10; i++) {
      const r = await reply('replicas.test')
      t.equal(r.status, 200)
      t.equal(r.hostname, b.slice(0, 12), 'only the running replica answers')
    }
  })

  t.test('unknown host is 503; DEFAULT_HOST serves the fallback app', async (t) => {
    t.equal((await get(proxy.port, 'nobody.test')).status, 503, 'no default app yet')
    await runApp(t, { name: uniqueName('fallback'), env: { VIRTUAL_HOST: 'fallback.test', APP_VERSION: 'fallback-default' } })
    t.equal((await routed('nobody.test')).version, 'fallback-default')
  })

  t.test('forwarded header values', async (t) => {
    await runApp(t, { name: uniqueName('hdr'), env: { VIRTUAL_HOST: 'headers.test' } })
    await routed('headers.test')
    const r = await reply('headers.test', '/p?q=1', { headers: { 'x-forwarded-for': '198.51.100.7', proxy: 'http://evil' } })
    t.equal(r.headers.host, 'headers.test')
    t.equal(r.headers['x-real-ip'], '127.0.0.1')
    t.equal(r.headers['x-forwarded-for'], '198.51.100.7, 127.0.0.1')
    t.equal(r.headers['x-forwarded-proto'], 'http')
    t.equal(r.headers['x-forwarded-host'], 'headers.test')
    t.equal(r.headers['x-forwarded-port'], String(proxy.port))
    t.equal(r.headers['x-forwarded-ssl'], 'off')
    t.equal(r.headers['x-original-uri'], '/p?q=1')
    t.equal(r.headers.proxy, undefined)
  })

  t.test('WebSocket echo through the proxy', async (t) => {
    await runApp(t, { name: uniqueName('ws'), env: { VIRTUAL_HOST: 'ws.test', APP_VERSION: 'wsv' } })
    await routed('ws.test')
    t.equal(await websocketEcho(proxy.port, 'ws.test', 'hello'), 'wsv:hello')
  })

  t.test('a 10 MiB POST arrives intact', async (t) => {
    await runApp(t, { name: uniqueName('big'), env: { VIRTUAL_HOST: 'big.test' } })
    await routed('big.test')
    const body = Buffer.alloc(10 * 1024 * 1024)
    for (let i = 0; i < body.length; i += 4) body.writeUInt32LE(i, i)
    const r = await reply('big.test', '/upload', { method: 'POST', body, headers: { 'content-type': 'application/octet-stream' } })
    t.equal(r.status, 200)
    t.equal(r.bodyBytes, body.length)
    t.equal(r.bodySha256, createHash('sha256').update(body).digest('hex'))
  })

  t.test('a port in use is a clear start-up error and a non-zero exit, not a half-started proxy', async (t) => {
    const { spawnSync } = await import('node:child_process')
    const { CLI } = await import('../support/proxy-process.ts')
    const r = spawnSync(process.execPath, [CLI, 'serve', '--host', '127.0.0.1', '--port', '0', '--https-port', String(proxy.httpsPort), '--admin-socket', `/tmp/pxt-busy-${process.pid}.sock`], { encoding: 'utf8', timeout: 30_000 })
    t.equal(r.status, 2)
    t.match(r.stderr, new RegExp(`cannot listen for HTTPS on 127\\.0\\.0\\.1:${proxy.httpsPort}: EADDRINUSE`))
  })

  t.test('an invalid VIRTUAL_HOST is logged once with the container name and skipped; the rest keep routing', async (t) => {
    const bad = uniqueName('bad')
    await runApp(t, { name: bad, env: { VIRTUAL_HOST: 'good.test,bad host!' } })
    await runApp(t, { name: uniqueName('badport'), env: { VIRTUAL_HOST: 'badport.test', VIRTUAL_PORT: 'eighty' } })
    await runApp(t, { name: uniqueName('ok'), env: { VIRTUAL_HOST: 'still-ok.test' } })
    await routed('still-ok.test')
    const line = await proxy.waitForLog((l) => l.container === bad)
    t.match(line.msg, /invalid host name/)
    t.equal((await get(proxy.port, 'good.test')).status, 503)
    t.equal((await get(proxy.port, 'badport.test')).status, 503)
    t.equal(proxy.logs.filter((l) => l.container === bad).length, 1, 'logged once')
    t.equal(proxy.child.exitCode, null, 'proxy still running')
  })
}
