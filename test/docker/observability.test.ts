// Metrics, request IDs, the live status page during a real deploy (headless Chromium), and the
// rollout history surviving a proxy restart.
import { execFile, spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import t from 'tap'
import { docker, requireDocker, runApp, uniqueName } from '../support/docker.ts'
import { get } from '../support/http-client.ts'
import { describeFailures, startLoad } from '../support/load.ts'
import { TEST_APP_IMAGE, TEST_LABEL } from '../support/images.ts'
import { freePort } from '../support/ports.ts'
import { CLI, startProxyProcess } from '../support/proxy-process.ts'
import { waitFor } from '../support/wait.ts'
import { findComposeBinary } from '../../src/deploy/compose.ts'

const execFileP = promisify(execFile)
const artifacts = fileURLToPath(new URL('../../test-artifacts/', import.meta.url))
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const ci = process.env.CI === 'true' || process.env.CI === '1'

if (requireDocker(t)) {
  t.test('metrics: counters match the requests sent; the opt-in listener serves them', async (t) => {
    const metricsPort = await freePort()
    const proxy = await startProxyProcess(t, { args: ['--metrics-listen', `127.0.0.1:${metricsPort}`] })
    const name = uniqueName('metrics')
    await runApp(t, { name, env: { VIRTUAL_HOST: 'metrics.test' } })
    await waitFor(async () => (await get(proxy.port, 'metrics.test')).status === 200, { what: 'metrics.test routed' })
    const scrape = async (): Promise<string> => (await get(metricsPort, 'localhost', '/metrics')).body
    const count = (text: string, labels: string): number => {
      const m = new RegExp(`^proxyctl_requests_total\\{${labels.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\} (\\d+)$`, 'm').exec(text)
      return m === null ? 0 : Number(m[1])
    }
    const okLabels = `host="metrics.test",status_class="2xx",upstream="${name}"`
    const before = count(await scrape(), okLabels)
    for (let i = 0; i < 37; i++) t.equal((await get(proxy.port, 'metrics.test', `/?i=${i}`)).status, 200)
    for (let i = 0; i < 5; i++) await get(proxy.port, 'nobody.test')
    const text = await scrape()
    t.equal(count(text, okLabels) - before, 37, 'proxyctl_requests_total counts every answered request')
    t.ok(count(text, 'host="(unmatched)",status_class="5xx",upstream=""') >= 5, 'unknown hosts counted as unmatched 5xx')
    t.match(text, /^proxyctl_request_duration_seconds_bucket\{le="0\.1",host="metrics\.test"\} \d+$/m)
    t.match(text, /^proxyctl_upstreams\{state="ready"\} [1-9]\d*$/m)
    t.match(text, /^proxyctl_health_checks_total\{result="pass"\} [1-9]\d*$/m)
    t.match(text, /^proxyctl_inflight_requests \d+$/m)
    t.match(text, /^proxyctl_docker_reconnects_total \d+$/m)
    const viaAdmin = JSON.parse((await execFileP(process.execPath, [CLI, 'admin-request', 'GET', '/metrics', '--admin-socket', proxy.adminSocket])).stdout) as { text: string }
    t.match(viaAdmin.text, /proxyctl_requests_total/, 'the admin socket serves /metrics too')
    t.equal((await get(proxy.port, 'metrics.test', '/metrics')).headers['content-type']?.includes('json'), true, 'the public listener proxies /metrics to the app, not the proxy\'s metrics')
  })

  t.test('request IDs: passed through when present, generated when absent, upstream and back, in the access log', async (t) => {
    const proxy = await startProxyProcess(t)
    await runApp(t, { name: uniqueName('rid'), env: { VIRTUAL_HOST: 'rid.test' } })
    await waitFor(async () => (await get(proxy.port, 'rid.test')).status === 200, { what: 'rid.test routed' })
    const given = await get(proxy.port, 'rid.test', '/given', { headers: { 'x-request-id': 'abc-123' } })
    t.equal(given.headers['x-request-id'], 'abc-123')
    t.equal((JSON.parse(given.body) as { headers: Record<string, string> }).headers['x-request-id'], 'abc-123')
    const fresh = await get(proxy.port, 'rid.test', '/fresh')
    const id = fresh.headers['x-request-id'] as string
    t.match(id, /^[0-9a-f]{32}$/)
    t.equal((JSON.parse(fresh.body) as { headers: Record<string, string> }).headers['x-request-id'], id, 'the upstream saw the same id')
    t.equal((await get(proxy.port, 'nobody.test')).headers['x-request-id']?.length, 32, 'error responses carry one too')
    const line = await proxy.waitForLog((l) => l.component === 'access' && l.path === '/fresh')
    t.equal(line.requestId, id)
    t.equal((await proxy.waitForLog((l) => l.component === 'access' && l.path === '/given')).requestId, 'abc-123')
  })

  t.test('the status page during a real deploy (headless Chromium), then the history after a proxy restart', async (t) => {
    if (!existsSync(CHROMIUM)) {
      if (ci) t.fail(`Chromium not found at ${CHROMIUM} (.ci/run installs Debian's chromium)`)
      else t.pass(`skipped: no Chromium at ${CHROMIUM}`, { skip: true })
      return
    }
    const { chromium } = await import('playwright-core')
    const testStart = Date.now()
    const dir = mkdtempSync(join(tmpdir(), 'pxt-obs-'))
    const historyFile = join(dir, 'history.jsonl')
    let proxy = await startProxyProcess(t, { args: ['--history-file', historyFile] })
    const bin = await findComposeBinary()
    const project = `pxtobs${process.pid}`
    const file = join(dir, 'compose.yml')
    writeFileSync(file, `services:
  app:
    image: ${TEST_APP_IMAGE}
    environment:
      VIRTUAL_HOST: obs.test
      APP_VERSION: \${APP_VERSION:-v1}
      STARTUP_DELAY_MS: \${STARTUP_DELAY_MS:-0}
    labels:
      ${TEST_LABEL}: "1"
      proxyctl.health.path: /hc
`)
    const compose = async (env: Record<string, string>, ...args: string[]): Promise<void> => {
      await execFileP(bin[0]!, [...bin.slice(1), '-f', file, '-p', project, ...args], { env: { ...process.env, ...env } })
    }
    t.teardown(async () => { await compose({}, 'down', '-v').catch(() => {}) })
    await compose({}, 'up', '-d')
    await waitFor(async () => (await get(proxy.port, 'obs.test')).status === 200, { timeoutMs: 20_000, what: 'obs.test routed' })
    const oldName = (await docker('ps', '--format', '{{.Names}}', '--filter', `label=com.docker.compose.project=${project}`)).trim()

    const dash = spawn(process.execPath, [CLI, 'dashboard', '--port', '0', '--admin-socket', proxy.adminSocket], { stdio: ['ignore', 'pipe', 'pipe'] })
    t.teardown(() => { dash.kill('SIGTERM') })
    let dashOut = ''
    dash.stdout.on('data', (c: Buffer) => { dashOut += c.toString() })
    // The printed URL carries the relay's token; the page's own fetches then ride on its cookie.
    const url = await waitFor(() => /http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]+/.exec(dashOut)?.[0], { what: 'the dashboard URL' })

    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
    })
    t.teardown(async () => { await browser.close() })
    const page = await browser.newPage({ viewport: { width: 1200, height: 800 } })
    await page.goto(url)
    await page.waitForSelector(`tr[data-container="${oldName}"][data-state="ready"]`, { timeout: 10_000 })

    // Long requests on the old version keep it visibly draining during the deploy. They start once
    // the new container shows up (it boots in 3 s, so they go to the old one), so that they outlast
    // its admission however long the compose steps before it take on a busy machine.
    let inflight: Array<Promise<Awaited<ReturnType<typeof get>>>> | undefined
    const seen = new Set<string>()
    let watching = true
    mkdirSync(artifacts, { recursive: true })
    let shot = false
    const watcher = (async () => {
      while (watching) {
        const rows = await page.$$eval('tr[data-container]', (trs) => trs.map((tr) => `${tr.getAttribute('data-container') ?? ''}=${tr.getAttribute('data-state') ?? ''}`)).catch(() => [])
        for (const r of rows) seen.add(r)
        if (inflight === undefined && rows.some((r) => !r.startsWith(`${oldName}=`))) {
          inflight = Array.from({ length: 3 }, async () => await get(proxy.port, 'obs.test', '/?delay=10000'))
        }
        if (!shot && rows.some((r) => r === `${oldName}=draining`)) {
          shot = true
          await page.screenshot({ path: join(artifacts, 'status-page-during-deploy.png'), fullPage: true })
        }
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    })()
    // Real traffic through the whole deploy, so the history's failed-request count is a measurement.
    const load = startLoad({ port: proxy.port, host: 'obs.test', clients: 4, maxDurationMs: 60_000 })
    await waitFor(() => load.count() > 20, { what: 'load under way' })
    const deployStart = Date.now()
    const deploy = await execFileP(process.execPath, [CLI, 'deploy', 'app', '-f', file, '-p', project, '--admin-socket', proxy.adminSocket], {
      env: { ...process.env, APP_VERSION: 'v2', STARTUP_DELAY_MS: '3000' }
    })
    const deployEnd = Date.now()
    t.comment(`deploy took ${deployEnd - deployStart} ms:\n${deploy.stdout}`)
    t.match(deploy.stdout, /deployed app/)
    const traffic = await load.stop()
    t.equal(traffic.failures.length, 0, `failed requests during the deploy: ${describeFailures(traffic)}`)
    const duringDeploy = traffic.samples.filter((s) => s.startMs >= deployStart && s.endMs <= deployEnd)
    t.ok(duringDeploy.length >= 100, `${duringDeploy.length} requests within the deploy's ${deployEnd - deployStart} ms`)
    t.ok((traffic.byVersion.v1 ?? 0) > 0 && (traffic.byVersion.v2 ?? 0) > 0, `both versions served the load (${JSON.stringify(traffic.byVersion)})`)
    t.ok(inflight !== undefined, 'long requests sent once the new container appeared')
    const long = await Promise.all(inflight ?? [])
    t.same(long.map((r) => `${r.status} ${String(r.headers['x-app-version'])}`), ['200 v1', '200 v1', '200 v1'], 'the long requests on the old version completed through its drain')
    await page.waitForSelector('tr[data-rollout="succeeded"]', { timeout: 10_000 })
    watching = false
    await watcher
    await page.screenshot({ path: join(artifacts, 'status-page-after-deploy.png'), fullPage: true })
    const newName = (await docker('ps', '--format', '{{.Names}}', '--filter', `label=com.docker.compose.project=${project}`)).trim()
    t.not(newName, oldName)
    t.ok(seen.has(`${newName}=starting`), 'the new container appeared as starting')
    t.ok(seen.has(`${newName}=ready`), '... then ready')
    t.ok(seen.has(`${oldName}=draining`), 'the old one as draining')
    // A file left by an earlier run does not count: this run's screenshot, taken while draining.
    const during = join(artifacts, 'status-page-during-deploy.png')
    t.ok(existsSync(during) && statSync(during).mtimeMs >= testStart, 'screenshot of this run kept in test-artifacts/')
    const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true })
    await phone.goto(url)
    await phone.waitForSelector('tr[data-rollout="succeeded"]')
    t.ok(await phone.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1), 'no horizontal scrolling on a phone')
    await phone.screenshot({ path: join(artifacts, 'status-page-phone.png'), fullPage: true })

    const check = (records: Array<{ service: string, outcome: string, old: string[], new: string[], steps: Array<{ step: string }>, failedRequests: number }>): void => {
      t.equal(records.length, 1)
      const r = records[0]!
      t.equal(r.service, 'app')
      t.equal(r.outcome, 'succeeded')
      t.same(r.old, [oldName])
      t.same(r.new, [newName])
      t.same([...new Set(r.steps.map((s) => s.step))], ['plan', 'scale', 'admit', 'drain', 'retire', 'done'])
      t.equal(r.failedRequests, 0, 'no failed requests among those sent during the deploy')
    }
    const history = async (): Promise<Parameters<typeof check>[0]> =>
      JSON.parse((await execFileP(process.execPath, [CLI, 'history', '--json', '--admin-socket', proxy.adminSocket])).stdout) as Parameters<typeof check>[0]
    check(await history())
    t.equal(readFileSync(historyFile, 'utf8').trim().split('\n').length, 1, 'one JSON line in the history file')

    await proxy.stop()
    proxy = await startProxyProcess(t, { args: ['--history-file', historyFile] })
    check(await history())
    t.match((await execFileP(process.execPath, [CLI, 'history', '--admin-socket', proxy.adminSocket])).stdout, /app {2}succeeded in [\d.]+s {2}failed requests: 0/)
  })
}
