// The canary split on the real request path (no Docker): ProxyServer with the PolicyStore, two
// real upstreams, clients with their own source addresses and cookie jars; the figures come
// from the RequestObserver (Telemetry), as verified deploys read them.
import { Agent, request } from 'node:http'
import t from 'tap'
import { Telemetry } from '../../src/metrics/telemetry.ts'
import { PolicyStore } from '../../src/traffic/policy.ts'
import { route, startHarness } from '../support/proxy-harness.ts'
import { startUpstream } from '../support/upstream.ts'

interface Answer { status: number, body: string, setCookie: string[] }

function get (port: number, host: string, localAddress: string, agent: Agent, cookie?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, localAddress, agent, path: '/', headers: { host, ...(cookie !== undefined ? { cookie } : {}) } }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (c: string) => { body += c }).on('end', () => { resolve({ status: res.statusCode ?? 0, body, setCookie: res.headers['set-cookie'] ?? [] }) })
    })
    req.on('error', reject)
    req.end()
  })
}

t.test('20 % canary: 50 clients with cookie jars split within 5 points, each on one side; app cookies kept; figures per version', async (t) => {
  const old = await startUpstream((_req, res) => { res.setHeader('set-cookie', 'app=1; Path=/'); res.end('old') })
  const fresh = await startUpstream((req, res) => { res.statusCode = req.url === '/' ? 200 : 500; res.setHeader('set-cookie', 'app=1; Path=/'); res.end('new') })
  const policy = new PolicyStore()
  const telemetry = new Telemetry(false)
  const h = await startHarness({ proxy: { policy, observer: telemetry.requests } })
  t.teardown(async () => { await h.stop(); await old.close(); await fresh.close() })
  h.apply([route('canary.test', [old.port, fresh.port])])
  await h.waitReady(2)
  policy.update('canary.test', (p) => ({ ...p, canary: { newTargets: [`local-${fresh.port}`], share: 0.2, cookie: 'pxc_0123abcd' } }))

  const seen: string[][] = []
  await Promise.all(Array.from({ length: 50 }, async (_, i) => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    const jar = new Map<string, string>()
    const mine: string[] = []
    seen[i] = mine
    for (let k = 0; k < 20; k++) {
      const a = await get(h.port, 'canary.test', `127.0.0.${20 + i}`, agent, jar.size === 0 ? undefined : [...jar].map(([n, v]) => `${n}=${v}`).join('; '))
      for (const c of a.setCookie) { const [pair] = c.split(';'); const eq = pair!.indexOf('='); jar.set(pair!.slice(0, eq), pair!.slice(eq + 1)) }
      if (k === 0) t.ok(a.setCookie.some((c) => c.startsWith('app=1')) && a.setCookie.some((c) => /^pxc_0123abcd=\d{1,4}; Path=\/; Max-Age=86400; HttpOnly; SameSite=Lax$/.test(c)), 'the app\'s cookie and the proxy\'s, side by side')
      else t.equal(a.setCookie.filter((c) => c.startsWith('pxc_')).length, 0, 'no new proxy cookie once the jar sends it')
      mine.push(a.body)
    }
    agent.destroy()
  }))
  const onNew = seen.flat().filter((b) => b === 'new').length
  t.ok(Math.abs(onNew / 1000 - 0.2) <= 0.05, `${onNew} of 1000 on the new version`)
  t.same(seen.filter((s) => new Set(s).size !== 1).map((s) => s.join(',')), [], 'every client on one side')
  const figures = telemetry.versions.figures([`local-${fresh.port}`])
  t.equal(figures.requests, onNew, 'the RequestObserver counted the new version\'s requests')
  t.equal(telemetry.versions.figures([`local-${old.port}`]).requests, 1000 - onNew)

  await t.test('hostile cookies: ignored and overwritten, never a failure', async (t) => {
    const agent = new Agent({ keepAlive: false })
    t.teardown(() => { agent.destroy() })
    for (const cookie of ['pxc_0123abcd=99999', 'pxc_0123abcd=-1', 'pxc_0123abcd=' + '9'.repeat(4000), 'pxc_0123abcd', '=;=;pxc_0123abcd==1', 'pxc_0123abcd=1 2', 'x'.repeat(7000)]) {
      const a = await get(h.port, 'canary.test', '127.0.0.99', agent, cookie)
      t.equal(a.status, 200, cookie.slice(0, 40))
      t.ok(a.setCookie.some((c) => /^pxc_0123abcd=\d{1,4};/.test(c)), 'a valid cookie set instead')
    }
  })

  await t.test('share 0: everyone on the old version at once, whatever their cookie', async (t) => {
    policy.update('canary.test', (p) => ({ ...p, canary: { ...p.canary!, share: 0 } }))
    const agent = new Agent({ keepAlive: false })
    t.teardown(() => { agent.destroy() })
    for (let b = 0; b < 10_000; b += 997) t.equal((await get(h.port, 'canary.test', '127.0.0.98', agent, `pxc_0123abcd=${b}`)).body, 'old')
  })
})
