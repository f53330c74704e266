// Verified deploys and canaries (issue 13) end to end: the proxy as a host process, a compose
// project with the app, continuous load (20 clients, GETs mixed with 250 ms POSTs), and
// `proxyctl deploy --verify` / `--canary` as a user runs them.
import { spawn } from 'node:child_process'
import { Agent, request } from 'node:http'
import t, { type Test } from 'tap'
import { AdminClient } from '../../src/admin/client/admin-client.ts'
import { SocketTransport } from '../../src/admin/client/transports.ts'
import { appServiceYaml, composeProject } from '../support/compose-project.ts'
import { requireDocker } from '../support/docker.ts'
import { get } from '../support/http-client.ts'
import { describeFailures, startLoad, type Sample } from '../support/load.ts'
import { CLI, startProxyProcess, type ProxyProcess } from '../support/proxy-process.ts'
import { waitFor } from '../support/wait.ts'

interface Line { step: string, status: string, message: string, at: number, [k: string]: unknown }

interface Deployed {
  code: number
  lines: Line[]
  stderr: string
  startedAt: number
  exitedAt: number
}

interface Project {
  file: string
  name: string
  host: string
  deploy (env: Record<string, string>, ...args: string[]): Promise<Deployed>
  containers (): Promise<Array<{ id: string, name: string, version: string }>>
}

async function project (t: Test, proxy: ProxyProcess, label: string): Promise<Project> {
  const host = `${label}-${process.pid}.verify.test`
  const { dir, file, name, containers } = await composeProject(t, {
    prefix: 'pxt-verify-',
    name: `pxtv${label}${process.pid}`,
    yaml: () => `services:
${appServiceYaml('app', { VIRTUAL_HOST: host, APP_VERSION: '${APP_VERSION:-v1}', FAIL_PERCENT: '${FAIL_PERCENT:-0}', RESPONSE_DELAY_MS: '20' })}`
  })
  await waitFor(async () => (await get(proxy.port, host).catch(() => undefined))?.status === 200, { timeoutMs: 30_000, what: `v1 of ${host} through the proxy` })
  return {
    file,
    name,
    host,
    deploy: async (env, ...args) => {
      const startedAt = Date.now()
      const child = spawn(process.execPath, [CLI, 'deploy', 'app', '-f', file, '-p', name, '--admin-socket', proxy.adminSocket, '--json', ...args], { cwd: dir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
      const lines: Line[] = []
      let buf = ''
      let stderr = ''
      child.stdout.setEncoding('utf8').on('data', (c: string) => {
        buf += c
        let nl: number
        while ((nl = buf.indexOf('\n')) >= 0) {
          const text = buf.slice(0, nl)
          buf = buf.slice(nl + 1)
          try { lines.push({ ...(JSON.parse(text) as Line), at: Date.now() }) } catch { stderr += `(stdout) ${text}\n` }
        }
      })
      child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c })
      const code = await new Promise<number>((resolve) => { child.once('close', (c) => { resolve(c ?? 1) }) })
      return { code, lines, stderr, startedAt, exitedAt: Date.now() }
    },
    containers: async () => await containers('app')
  }
}

interface ClientRun {
  /** Per client, in order: the version that answered each request (or `<status>` when not a 200). */
  versions: string[][]
  /** Per client: the Set-Cookie names the proxy sent, per response. */
  cookies: string[][]
  samples: Array<{ client: number, startMs: number, endMs: number, status: number, version: string }>
}

/**
 * N distinct clients: each its own source address (127.0.0.10 + i: the proxy listens on
 * 127.0.0.1, and every 127/8 address reaches it) and its own cookie jar, `perClient` requests
 * each, one at a time, GETs and POSTs alternating; or until `until()` says stop.
 */
async function distinctClients (port: number, host: string, n: number, perClient: number, until: () => boolean = () => false): Promise<ClientRun> {
  const run: ClientRun = { versions: [], cookies: [], samples: [] }
  await Promise.all(Array.from({ length: n }, async (_, i) => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    const jar = new Map<string, string>()
    const versions: string[] = []
    const cookies: string[] = []
    run.versions[i] = versions
    run.cookies[i] = cookies
    for (let k = 0; k < perClient && !until(); k++) {
      const post = k % 2 === 1
      const startMs = Date.now()
      const { status, version, setCookie } = await new Promise<{ status: number, version: string, setCookie: string[] }>((resolve) => {
        const req = request({
          host: '127.0.0.1', port, localAddress: `127.0.0.${10 + i}`, agent, method: post ? 'POST' : 'GET', path: post ? '/orders?delay=50' : `/?c=${i}`,
          headers: { host, ...(jar.size > 0 ? { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') } : {}), ...(post ? { 'content-type': 'application/json' } : {}) }
        }, (res) => {
          res.resume()
          res.on('end', () => { resolve({ status: res.statusCode ?? 0, version: String(res.headers['x-app-version'] ?? ''), setCookie: res.headers['set-cookie'] ?? [] }) })
        })
        req.on('error', (err) => { resolve({ status: 0, version: `error ${(err as NodeJS.ErrnoException).code ?? err.message}`, setCookie: [] }) })
        req.end(post ? '{"order":1}' : undefined)
      })
      for (const c of setCookie) {
        const [pair] = c.split(';')
        const eq = pair!.indexOf('=')
        jar.set(pair!.slice(0, eq), pair!.slice(eq + 1))
        cookies.push(pair!.slice(0, eq))
      }
      if (setCookie.length === 0) cookies.push('')
      versions.push(status === 200 ? version : `<${status}> ${version}`)
      run.samples.push({ client: i, startMs, endMs: Date.now(), status, version })
    }
    agent.destroy()
  }))
  return run
}

/** Clients that saw the new version and then the old one again. */
function flipped (run: ClientRun, fresh: string, old: string): string[] {
  const out: string[] = []
  run.versions.forEach((vs, i) => {
    const firstNew = vs.indexOf(fresh)
    if (firstNew >= 0 && vs.slice(firstNew).includes(old)) out.push(`client ${i}: ${vs.join(' ')}`)
  })
  return out
}

const describeLines = (d: Deployed): string => d.lines.map((l) => `${l.step} ${l.status} ${l.message}`).join('\n') + (d.stderr === '' ? '' : `\nstderr: ${d.stderr}`)

if (requireDocker(t)) {
  const proxy = await startProxyProcess(t)
  const admin = new AdminClient(new SocketTransport(proxy.adminSocket))
  t.teardown(async () => { await admin.close() })

  t.test('--verify 20s of a version whose / answers 500 for 20 % of requests: rolled back, exit 3, old version serving within 1 s of the verdict', async (t) => {
    const p = await project(t, proxy, 'bad')
    const before = await p.containers()
    t.equal(before.length, 1)
    const load = startLoad({ port: proxy.port, host: p.host, clients: 20 })
    await waitFor(() => load.count() > 300, { timeoutMs: 30_000, what: 'load under way (the baseline)' })
    const r = await p.deploy({ APP_VERSION: 'v2', FAIL_PERCENT: '20' }, '--verify', '20s')
    await waitFor(() => Date.now() > r.exitedAt + 1_500)
    const result = await load.stop()

    t.equal(r.code, 3, `exit code 3\n${describeLines(r)}`)
    const verdict = r.lines.find((l) => l.step === 'verify' && l.status === 'failed')
    t.ok(verdict, 'a failed verdict line')
    t.match(verdict?.message, /verification failed: error rate \d+(\.\d+)?% \(\d+ of \d+\) > 1%/, 'the verdict names the failing figure')
    const failed = r.lines.find((l) => l.step === 'failed')
    t.equal(failed?.code, 'PROXY_ERR_VERIFY_FAILED')
    const verdictAt = verdict?.at ?? r.exitedAt

    // Every failed request is the new version's own 500: nothing lost in the switches.
    const foreign = result.failures.filter((s) => !(s.status === 500 && s.version === 'v2'))
    t.same(foreign, [], `failures other than v2's own 500s: ${describeFailures({ ...result, failures: foreign })}`)
    t.ok(result.failures.length > 0, `v2 was exercised: ${result.failures.length} of its 500s seen`)
    // Old version back: answering within 1 s of the verdict, and v2 no more for requests started after that.
    const firstV1 = result.samples.filter((s) => s.version === 'v1' && s.startMs >= verdictAt).sort((a, b) => a.endMs - b.endMs)[0]
    t.ok(firstV1 !== undefined && firstV1.endMs - verdictAt <= 1_000, `v1 answered ${firstV1 === undefined ? 'never' : `${firstV1.endMs - verdictAt} ms`} after the verdict`)
    const lateV2 = result.samples.filter((s: Sample) => s.startMs > verdictAt + 1_000 && s.version !== 'v1')
    t.same(lateV2.map((s) => `${s.method} ${s.status} ${s.version ?? ''}`), [], 'only v1 from 1 s after the verdict')
    const after = await p.containers()
    t.same(after.map((c) => c.id), before.map((c) => c.id), 'the new container removed, the old one kept (never restarted)')
    const standby = (await admin.status()).upstreams.filter((u) => u.containerId.startsWith(before[0]!.id))
    t.same(standby.map((u) => u.state), ['ready'], 'the old container in rotation')
    const record = (await admin.history()).find((h) => h.service === 'app' && h.old.includes(before[0]!.name))
    t.equal(record?.outcome, 'failed')
    t.ok(record?.steps.some((s) => s.step === 'verify' && s.status === 'failed' && /error rate/.test(s.message)), 'the history records the verdict')
    t.comment(`bad version: ${result.total} requests, ${result.failures.length} failed (all v2 500s), versions ${JSON.stringify(result.byVersion)}, verdict after ${((verdictAt - r.startedAt) / 1000).toFixed(1)} s`)
  })

  t.test('--verify 10s of a good version: promoted after the window, old container in standby meanwhile then removed, 0 failed', async (t) => {
    const p = await project(t, proxy, 'good')
    const before = await p.containers()
    const load = startLoad({ port: proxy.port, host: p.host, clients: 20 })
    await waitFor(() => load.count() > 300, { timeoutMs: 30_000, what: 'load under way (the baseline)' })
    const deploying = p.deploy({ APP_VERSION: 'v2' }, '--verify', '10s')
    // While verifying, status shows the old container in standby (running, not routed).
    const standby = await waitFor(async () => (await admin.status()).upstreams.find((u) => u.containerId.startsWith(before[0]!.id) && u.state === 'standby'), { timeoutMs: 60_000, what: 'the old container in standby' })
    const standbyAt = Date.now()
    const r = await deploying
    await waitFor(() => Date.now() > r.exitedAt + 1_000)
    const result = await load.stop()

    t.equal(r.code, 0, describeLines(r))
    t.equal(standby.inflight, 0, 'nothing in flight on the standby container')
    const started = r.lines.find((l) => l.step === 'verify' && l.status === 'start')
    const done = r.lines.find((l) => l.step === 'verify' && l.status === 'done')
    t.match(done?.message, /^verified: new version: \d+ requests, 0 errors/)
    t.ok(started !== undefined && done !== undefined && done.at - started.at >= 10_000, `judged after the whole window (${(done?.at ?? 0) - (started?.at ?? 0)} ms)`)
    t.ok(r.lines.some((l) => l.step === 'verify' && l.status === 'info' && /new version \d+ requests/.test(l.message)), 'progress lines carry the live figures')
    t.equal(result.failures.length, 0, `failed requests: ${describeFailures(result)}`)
    const lateV1 = result.samples.filter((s) => s.startMs > standbyAt && s.version === 'v1')
    t.same(lateV1.map((s) => s.method), [], 'no request reached the standby version')
    const after = await p.containers()
    t.same(after.map((c) => c.version), ['v2'])
    t.notOk(after.some((c) => c.id === before[0]!.id), 'old container removed')
    const record = (await admin.history()).find((h) => h.service === 'app' && h.old.includes(before[0]!.name))
    t.equal(record?.outcome, 'succeeded')
    t.ok(record?.steps.some((s) => s.step === 'verify' && s.status === 'done' && /^verified/.test(s.message)), 'the history records the verdict')
    t.comment(`good version: ${result.total} requests, 0 failed, versions ${JSON.stringify(result.byVersion)}`)
  })

  t.test('--canary 20%: 1,000 requests from 50 distinct clients, the new version\'s share within 5 points, every client on one side; then 100 % and promoted', async (t) => {
    const p = await project(t, proxy, 'canary')
    const before = await p.containers()
    const warm = startLoad({ port: proxy.port, host: p.host, clients: 4 })
    await waitFor(() => warm.count() > 100, { timeoutMs: 30_000, what: 'a baseline for the old version' })
    await warm.stop()
    const deploying = p.deploy({ APP_VERSION: 'v2' }, '--canary', '20%', '--step-time', '20s', '--min-requests', '20')
    await waitFor(async () => (await admin.status()).canary?.[p.host]?.share === 0.2, { timeoutMs: 60_000, what: 'the 20 % step' })
    const stepStartedAt = Date.now()
    const run = await distinctClients(proxy.port, p.host, 50, 20)
    const during = await admin.status()
    const clientsDoneAt = Date.now()
    const r = await deploying

    t.equal(run.samples.length, 1_000)
    t.same(run.samples.filter((s) => s.status !== 200).map((s) => `${s.status} ${s.version}`), [], 'every request answered 200')
    t.equal(during.canary?.[p.host]?.share, 0.2, `all 1,000 requests within the 20 % step (${clientsDoneAt - stepStartedAt} ms)`)
    const onNew = run.samples.filter((s) => s.version === 'v2').length
    t.ok(Math.abs(onNew / 1_000 - 0.2) <= 0.05, `the new version answered ${onNew} of 1000 (${onNew / 10}%)`)
    t.same(flipped(run, 'v2', 'v1'), [], 'no client that saw the new version saw the old one again')
    t.same(run.versions.filter((vs) => new Set(vs).size !== 1).map((vs) => vs.join(' ')), [], 'every client stayed on one version')
    const names = new Set(run.cookies.flat().filter((c) => c !== ''))
    t.equal(names.size, 1, `one cookie name for the rollout: ${[...names].join(', ')}`)
    t.match([...names][0], /^pxc_[0-9a-f]{8}$/)
    t.ok(run.cookies.every((cs) => cs[0] !== '' && cs.slice(1).every((c) => c === '')), 'the cookie set on each client\'s first response only (its jar sends it back)')
    const split = during.canary?.[p.host]
    t.ok(split !== undefined && split.new.requests > 0 && split.old.requests > 0, `status shows both versions' figures: new ${JSON.stringify(split?.new)}, old ${JSON.stringify(split?.old)}`)

    t.equal(r.code, 0, describeLines(r))
    const canaryLines = r.lines.filter((l) => l.step === 'canary')
    t.same(canaryLines.map((l) => l.share), [0.2, 1], 'two steps: 20 % then 100 %')
    t.equal(r.lines.filter((l) => l.step === 'verify' && l.status === 'done').length, 2, 'each step judged')
    t.same((await p.containers()).map((c) => c.version), ['v2'])
    t.notOk((await p.containers()).some((c) => c.id === before[0]!.id), 'old container removed')
    t.equal((await admin.status()).canary?.[p.host], undefined, 'the split removed')
    const record = (await admin.history()).find((h) => h.service === 'app' && h.old.includes(before[0]!.name))
    t.same(record?.steps.filter((s) => s.step === 'canary').map((s) => /step (\d)\/2: (\d+)%/.exec(s.message)?.slice(1, 3).join(' ')), ['1 20', '2 100'], 'the history records each step')
    t.comment(`canary: ${onNew} of 1000 requests on v2 (${onNew / 10}%), ${new Set(run.samples.filter((s) => s.version === 'v2').map((s) => s.client)).size} of 50 clients`)
  })

  t.test('--canary 20% of a version whose / answers 500 for 20 %: the step fails, back to 0 % at once, exit 3', async (t) => {
    const p = await project(t, proxy, 'canarybad')
    const before = await p.containers()
    const warm = startLoad({ port: proxy.port, host: p.host, clients: 4 })
    await waitFor(() => warm.count() > 100, { timeoutMs: 30_000, what: 'a baseline for the old version' })
    await warm.stop()
    let deployed: Deployed | undefined
    const deploying = p.deploy({ APP_VERSION: 'v2', FAIL_PERCENT: '20' }, '--canary', '20%', '--step-time', '30s', '--min-requests', '20').then((d) => { deployed = d; return d })
    await waitFor(async () => (await admin.status()).canary?.[p.host]?.share === 0.2, { timeoutMs: 60_000, what: 'the 20 % step' })
    const run = await distinctClients(proxy.port, p.host, 50, 400, () => deployed !== undefined && Date.now() > deployed.exitedAt + 1_500)
    const r = await deploying

    t.equal(r.code, 3, describeLines(r))
    const verdict = r.lines.find((l) => l.step === 'verify' && l.status === 'failed')
    t.match(verdict?.message, /error rate/)
    const zero = r.lines.find((l) => l.step === 'rollback' && /canary back to 0%/.test(l.message))
    t.ok(zero !== undefined && verdict !== undefined && zero.at - verdict.at < 1_000, `share back to 0 ${zero === undefined || verdict === undefined ? '?' : zero.at - verdict.at} ms after the verdict`)
    const verdictAt = verdict?.at ?? r.exitedAt
    const foreign = run.samples.filter((s) => s.status !== 200 && !(s.status === 500 && s.version === 'v2'))
    t.same(foreign.map((s) => `${s.status} ${s.version}`), [], 'no failure but the new version\'s own 500s')
    const late = run.samples.filter((s) => s.startMs > verdictAt + 1_000 && s.version !== 'v1')
    t.same(late.map((s) => `${s.status} ${s.version}`), [], 'only v1 from 1 s after the verdict')
    t.ok(run.samples.some((s) => s.startMs > verdictAt + 1_000), 'requests were made after it')
    t.same((await p.containers()).map((c) => c.id), before.map((c) => c.id), 'the new container removed')
    t.equal((await admin.status()).canary?.[p.host], undefined, 'the split removed')
  })
}
