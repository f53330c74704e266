// The fuzz test's target, run as a CHILD process (see fuzz-child.ts) so that a crash is an exit the
// parent can see: the real data plane (ProxyServer + Reconciler via the test harness, or with
// FUZZ_WORKERS=2 the daemon's WorkerPool and two worker processes) on HTTP and HTTPS (HTTP/2 +
// HTTP/1.1 over TLS), with the traffic policy of issue 13 on some hosts, and recording upstreams
// that report every request they receive, and every request they could not parse, to the parent
// over IPC.
import cluster from 'node:cluster'
import { createHash } from 'node:crypto'
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import { connect, createServer as createNetServer, type AddressInfo, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { DEFAULT_SERVE_OPTIONS, type ServeOptions } from '../../src/config/options.ts'
import { Telemetry } from '../../src/metrics/telemetry.ts'
import { reconcilerOptions } from '../../src/proxy/proxy-setup.ts'
import type { RouteSpec } from '../../src/routing/desired-state.ts'
import { Reconciler } from '../../src/routing/reconciler.ts'
import { RouteTableStore } from '../../src/routing/route-table-store.ts'
import { parseAllowEntry } from '../../src/traffic/maintenance.ts'
import { PolicyStore, type PausePolicy } from '../../src/traffic/policy.ts'
import { WorkerPool } from '../../src/workers/worker-pool.ts'
import { installCert, makeCert } from './certs.ts'
import { route, startHarness } from './proxy-harness.ts'
import { waitFor } from './wait.ts'
import { CANARY, FUZZ_AUTH, FUZZ_HOSTS, FUZZ_PAUSE, MAINT_ALLOW, POLICY_HOSTS, PULSE_MS, UPSTREAM_MARK, type ChildMessage, type ParentMessage } from './fuzz-protocol.ts'

// After the parent closed IPC (stop) the pool is still stopping and health checks still reach the
// upstreams: process.send would emit an error that kills this process before its workers are stopped.
function send (msg: ChildMessage): void { if (process.connected) process.send?.(msg) }

// Not malformed input: a connection the proxy cut mid-request (the client left), and a head larger
// than this upstream's 16 KiB limit (a limit, answered 431; HTTP/2 heads may legitimately be large).
const BENIGN_PARSE_ERRORS = new Set(['ECONNRESET', 'EPIPE', 'HPE_INVALID_EOF_STATE', 'ERR_HTTP_REQUEST_TIMEOUT', 'HPE_HEADER_OVERFLOW'])

async function recordingUpstream (name: string): Promise<{ port: number, server: Server }> {
  const history = new Map<number, { first: Buffer, bytes: Buffer }>()
  const record = (req: IncomingMessage, upgrade: boolean): void => {
    send({ type: 'record', record: { kind: 'request', upstream: name, method: req.method ?? '', url: req.url ?? '', httpVersion: req.httpVersion, rawHeaders: req.rawHeaders, upgrade } })
  }
  const server = createServer({ requestTimeout: 0 }, (req, res) => {
    record(req, false)
    req.on('error', () => {})
    req.resume()
    res.setHeader(UPSTREAM_MARK, name)
    res.end('ok')
  })
  server.on('upgrade', (req: IncomingMessage, socket: Socket) => {
    record(req, true)
    socket.on('error', () => {})
    const key = req.headers['sec-websocket-key']
    if (typeof key !== 'string' || String(req.headers.upgrade).toLowerCase() !== 'websocket') {
      socket.end(`HTTP/1.1 400 Bad Request\r\n${UPSTREAM_MARK}: ${name}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
      return
    }
    const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64')
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n${UPSTREAM_MARK}: ${name}\r\n\r\n`)
    // Echo whatever comes; the tunnel ends when either side does.
    socket.on('data', (c: Buffer) => { socket.write(c) })
    setTimeout(() => { socket.destroy() }, 3_000).unref()
  })
  server.on('clientError', (err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Socket) => {
    const code = err.code ?? err.message
    if (!BENIGN_PARSE_ERRORS.has(code)) {
      // What the parser refused can depend on what came before it on the same connection.
      const seen = history.get(socket.remotePort ?? 0)
      const sent = seen?.bytes ?? err.rawPacket ?? Buffer.alloc(0)
      // The first bytes too: a long body after the refused request line pushes it out of the last ones.
      send({ type: 'record', record: { kind: 'parse-error', upstream: name, code, rawPacket: sent.toString('latin1').slice(-4_096), firstBytes: (seen?.first ?? Buffer.alloc(0)).toString('latin1') } })
    }
    socket.destroy()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const serverPort = (server.address() as AddressInfo).port
  // A TCP tap in front of the server keeps the last bytes of every connection, keyed by the port
  // the server sees, so a parse error is reported with the requests that led to it.
  const tap = createNetServer((incoming) => {
    const outgoing = connect(serverPort, '127.0.0.1')
    const seen = { first: Buffer.alloc(0), bytes: Buffer.alloc(0) }
    let key = 0
    outgoing.once('connect', () => { key = outgoing.localPort ?? 0; history.set(key, seen) })
    incoming.on('data', (c: Buffer) => {
      if (seen.first.length < 2_048) seen.first = Buffer.concat([seen.first, c]).subarray(0, 2_048)
      seen.bytes = Buffer.concat([seen.bytes, c]).subarray(-8_192)
    })
    incoming.pipe(outgoing).pipe(incoming)
    const failed = (): void => { incoming.destroy(); outgoing.destroy() }
    incoming.on('error', failed)
    outgoing.on('error', failed)
    outgoing.once('close', () => { incoming.end(); setTimeout(() => history.delete(key), 2_000).unref() })
  })
  await new Promise<void>((resolve) => tap.listen(0, '127.0.0.1', resolve))
  return { port: (tap.address() as AddressInfo).port, server }
}

/** The policy of issue 13, set as the admin API's routes set it (PolicyStore.update); pulse.test's pause comes and goes. */
function setPolicies (policy: PolicyStore, canaryNewGroup: string): () => void {
  const pause = (): { pause: PausePolicy } => ({ pause: { since: Date.now(), ...FUZZ_PAUSE } })
  policy.update('paused.test', (p) => ({ ...p, ...pause() }))
  // Canonical CIDRs, as POST /v1/maintenance/on stores them (traffic-control.ts).
  const cidrs = (list: string[]): string[] => list.map((a) => { const p = parseAllowEntry(a); return 'cidr' in p ? p.cidr : a })
  policy.update('maint.test', (p) => ({ ...p, maintenance: { page: undefined, allow: cidrs(MAINT_ALLOW), since: Date.now() } }))
  policy.update('maint-allow.test', (p) => ({ ...p, maintenance: { page: '<p>fuzz maintenance</p>', allow: cidrs(['127.0.0.0/8', '::1']), since: Date.now() } }))
  policy.update('canary.test', (p) => ({ ...p, canary: { newTargets: [canaryNewGroup], share: CANARY.share, cookie: CANARY.cookie } }))
  let timer: NodeJS.Timeout | undefined
  const cycle = (paused: boolean): void => {
    // A new pause object each time: held requests are re-armed (hold-queue.ts sync) as well as released.
    policy.update('pulse.test', (p) => ({ ...p, pause: paused ? pause().pause : undefined }))
    timer = setTimeout(() => { cycle(!paused) }, paused ? PULSE_MS.paused : PULSE_MS.resumed)
  }
  cycle(true)
  return () => { clearTimeout(timer) }
}

/** The primary's log destination with worker processes: every line it writes must be one whole JSON object. */
let logLines = 0

function checkedLogSink (): Writable {
  let rest = ''
  return new Writable({
    write (chunk: Buffer, _enc, cb) {
      const lines = (rest + chunk.toString('utf8')).split('\n')
      rest = lines.pop() ?? ''
      for (const line of lines) {
        if (line === '') continue
        let ok = false
        try { const v: unknown = JSON.parse(line); ok = typeof v === 'object' && v !== null } catch {}
        logLines++
        if (!ok) send({ type: 'record', record: { kind: 'bad-log-line', line: line.slice(0, 2_000) } })
        // The fuzzer's own evidence for a crash: a worker's fatal line, kept for the report.
        else if (line.includes('"level":60') || line.includes('"level":50')) process.stderr.write(`${line.slice(0, 4_000)}\n`)
      }
      cb()
    }
  })
}

interface Plane { port: number, httpsPort: number, held: () => Promise<Record<string, number>>, stop: () => Promise<void> }

async function main (): Promise<void> {
  const workers = Number(process.env.FUZZ_WORKERS ?? 1)
  const nginxRoot = mkdtempSync(join(tmpdir(), 'pxt-fuzz-root-'))
  const certsDir = join(nginxRoot, 'certs')
  mkdirSync(certsDir)
  for (const host of [...FUZZ_HOSTS, ...POLICY_HOSTS]) installCert(certsDir, host, makeCert(host))
  installCert(certsDir, 'default', makeCert('default-cert'))
  const htpasswdDir = join(nginxRoot, 'htpasswd')
  mkdirSync(htpasswdDir)
  // {SHA}: a cheap scheme, so that the fuzzer measures robustness, not bcrypt's cost.
  writeFileSync(join(htpasswdDir, 'auth.test'), `${FUZZ_AUTH.user}:{SHA}${createHash('sha1').update(FUZZ_AUTH.password).digest('base64')}\n`)
  const htmlDir = mkdtempSync(join(tmpdir(), 'pxt-fuzz-html-'))
  mkdirSync(join(htmlDir, '.well-known', 'acme-challenge'), { recursive: true })
  writeFileSync(join(htmlDir, '.well-known', 'acme-challenge', 'token'), 'token\n')

  const names = [...FUZZ_HOSTS, 'paused.test', 'pulse.test', 'maint.test', 'maint-allow.test', 'canary-old', 'canary-new']
  const ups = new Map(await Promise.all(names.map(async (n) => [n, await recordingUpstream(n)] as const)))
  const port = (n: string): number => ups.get(n)!.port
  const health = { intervalMs: 1_000 }
  const tls = (httpsMethod: 'redirect' | 'noredirect') => ({ tls: { httpsMethod, hsts: undefined, certName: undefined } })
  const routes: RouteSpec[] = [
    route('plain.test', [port('plain.test')], tls('noredirect'), health),
    route('api.test', [port('api.test')], { path: '/api', dest: '/v2', ...tls('noredirect') }, health),
    route('ws.test', [port('ws.test')], tls('noredirect'), health),
    route('auth.test', [port('auth.test')], tls('noredirect'), health),
    route('redirect.test', [port('redirect.test')], tls('redirect'), health),
    ...(['paused.test', 'pulse.test', 'maint.test', 'maint-allow.test'] as const).map((h) => route(h, [port(h)], tls('noredirect'), health)),
    route('canary.test', [port('canary-old'), port('canary-new')], tls('noredirect'), health)
  ]
  const policy = new PolicyStore()
  // The harness names a target's group `local-<port>`: what a canary's newTargets (container ids) match.
  const stopPolicies = setPolicies(policy, `local-${port('canary-new')}`)
  const ready = routes.reduce((n, r) => n + r.targets.length, 0)
  const plane = workers > 1 ? await workerPlane(workers, { nginxRoot, htmlDir, policy, routes, ready }) : await singlePlane({ certsDir, htpasswdDir, htmlDir, policy, routes, ready })
  process.on('message', (m: ParentMessage) => {
    if (m.type !== 'sync') return
    void plane.held().then((held) => { send({ type: 'synced', n: m.n, held, logLines }) })
  })
  // The parent going away (or closing IPC) ends the child: no orphaned proxies.
  process.on('disconnect', () => { stopPolicies(); void plane.stop().finally(() => process.exit(0)) })
  send({ type: 'ready', port: plane.port, httpsPort: plane.httpsPort, hosts: [...FUZZ_HOSTS, ...POLICY_HOSTS], workers })
}

const SHORT_TIMEOUTS = { requestHeadersTimeoutMs: 2_000, clientIdleTimeoutMs: 2_000 }

async function singlePlane (o: { certsDir: string, htpasswdDir: string, htmlDir: string, policy: PolicyStore, routes: RouteSpec[], ready: number }): Promise<Plane> {
  const h = await startHarness({
    certsDir: o.certsDir,
    htpasswdDir: o.htpasswdDir,
    tls: { defaultHttpsMethod: 'noredirect' },
    // Short client timeouts, so that a request that stalls on purpose (headers, or a body announced
    // and never sent) is answered 408 inside the fuzzer's 5 s bound.
    proxy: { requestHeadersTimeoutMs: SHORT_TIMEOUTS.requestHeadersTimeoutMs, htmlDir: o.htmlDir, limits: { clientIdleTimeoutMs: SHORT_TIMEOUTS.clientIdleTimeoutMs }, policy: o.policy }
  })
  h.apply(o.routes)
  await h.waitReady(o.ready)
  const held = async (): Promise<Record<string, number>> => Object.fromEntries(POLICY_HOSTS.map((host) => [host, h.proxy.held(host)]))
  return { port: h.port, httpsPort: h.httpsPort, held, stop: async () => { await h.stop() } }
}

/** WORKERS=2 (issue 12): the primary's WorkerPool as the daemon starts it, with the same settings as the single process. */
async function workerPlane (count: number, o: { nginxRoot: string, htmlDir: string, policy: PolicyStore, routes: RouteSpec[], ready: number }): Promise<Plane> {
  // Workers log what the single process logs; at info the access log of every fuzz request goes
  // through the primary's line relay, whose output is checked line by line.
  process.env.LOG_LEVEL = 'info'
  const root = pino({ level: 'info' }, checkedLogSink())
  const options: ServeOptions = {
    ...DEFAULT_SERVE_OPTIONS,
    ...SHORT_TIMEOUTS,
    host: '127.0.0.1', port: 0, httpsPort: 0, nginxRoot: o.nginxRoot, htmlDir: o.htmlDir, workers: count,
    defaultHttpsMethod: 'noredirect', trustDownstreamProxy: true, accessLog: true, balancing: 'round-robin',
    keepAliveTimeoutMs: 5_000, maxHeaderSize: 8_192, shutdownTimeoutMs: 2_000, drainTimeoutMs: 2_000,
    upstreamConnectTimeoutMs: 1_000, upstreamResponseTimeoutMs: 5_000
  }
  const store = new RouteTableStore()
  const reconciler = new Reconciler(store, reconcilerOptions(options), root.child({ component: 'routing' }))
  reconciler.apply({ routes: o.routes })
  await waitFor(() => reconciler.targets().filter((t) => t.routable).length >= o.ready, { what: `${o.ready} ready targets` })
  const telemetry = new Telemetry(true)
  const pool = new WorkerPool({ count, accept: 'reuseport', options, store, reconciler, policy: o.policy, observer: telemetry.requests, log: root })
  let stopping = false
  // A worker that dies is replaced by the pool: the parent must still hear of it.
  cluster.on('exit', (w, code, signal) => { if (!stopping) send({ type: 'record', record: { kind: 'worker-exit', pid: w.process.pid, code, signal } }) })
  const { port, httpsPort } = await pool.start()
  return {
    port,
    httpsPort: httpsPort ?? 0,
    // What the admin API asks before it answers: outcomes flushed, held counts summed over workers.
    held: async () => { await pool.refresh(); return Object.fromEntries(POLICY_HOSTS.map((host) => [host, pool.held(host)])) },
    stop: async () => { stopping = true; await pool.stop(); await reconciler.stop() }
  }
}

main().catch((err: unknown) => {
  console.error('fuzz target failed to start:', err)
  process.exit(70)
})
