// The fuzz test's target, run as a CHILD process (see fuzz-proxy.ts) so that a crash is an exit the
// parent can see: the real data plane (ProxyServer + Reconciler via the test harness) on HTTP and
// HTTPS (HTTP/2 + HTTP/1.1 over TLS), with recording upstreams that report every request they
// receive, and every request they could not parse, to the parent over IPC.
import { createHash } from 'node:crypto'
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import { connect, createServer as createNetServer, type AddressInfo, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { RouteSpec } from '../../src/routing/desired-state.ts'
import { installCert, makeCert } from './certs.ts'
import { route, startHarness } from './proxy-harness.ts'
import { FUZZ_AUTH, FUZZ_HOSTS, UPSTREAM_MARK, type ChildMessage, type ParentMessage } from './fuzz-protocol.ts'

function send (msg: ChildMessage): void { process.send?.(msg) }

// Not malformed input: a connection the proxy cut mid-request (the client left), and a head larger
// than this upstream's 16 KiB limit (a limit, answered 431; HTTP/2 heads may legitimately be large).
const BENIGN_PARSE_ERRORS = new Set(['ECONNRESET', 'EPIPE', 'HPE_INVALID_EOF_STATE', 'ERR_HTTP_REQUEST_TIMEOUT', 'HPE_HEADER_OVERFLOW'])

async function recordingUpstream (name: string): Promise<{ port: number, server: Server }> {
  const history = new Map<number, { bytes: Buffer }>()
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
      const sent = history.get(socket.remotePort ?? 0)?.bytes ?? err.rawPacket ?? Buffer.alloc(0)
      send({ type: 'record', record: { kind: 'parse-error', upstream: name, code, rawPacket: sent.toString('latin1').slice(-4_096) } })
    }
    socket.destroy()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const serverPort = (server.address() as AddressInfo).port
  // A TCP tap in front of the server keeps the last bytes of every connection, keyed by the port
  // the server sees, so a parse error is reported with the requests that led to it.
  const tap = createNetServer((incoming) => {
    const outgoing = connect(serverPort, '127.0.0.1')
    const seen = { bytes: Buffer.alloc(0) }
    let key = 0
    outgoing.once('connect', () => { key = outgoing.localPort ?? 0; history.set(key, seen) })
    incoming.on('data', (c: Buffer) => { seen.bytes = Buffer.concat([seen.bytes, c]).subarray(-8_192) })
    incoming.pipe(outgoing).pipe(incoming)
    const failed = (): void => { incoming.destroy(); outgoing.destroy() }
    incoming.on('error', failed)
    outgoing.on('error', failed)
    outgoing.once('close', () => { incoming.end(); setTimeout(() => history.delete(key), 2_000).unref() })
  })
  await new Promise<void>((resolve) => tap.listen(0, '127.0.0.1', resolve))
  return { port: (tap.address() as AddressInfo).port, server }
}

async function main (): Promise<void> {
  const certsDir = mkdtempSync(join(tmpdir(), 'pxt-fuzz-certs-'))
  for (const host of FUZZ_HOSTS) installCert(certsDir, host, makeCert(host))
  installCert(certsDir, 'default', makeCert('default-cert'))
  const htpasswdDir = mkdtempSync(join(tmpdir(), 'pxt-fuzz-htpasswd-'))
  // {SHA}: a cheap scheme, so that the fuzzer measures robustness, not bcrypt's cost.
  writeFileSync(join(htpasswdDir, 'auth.test'), `${FUZZ_AUTH.user}:{SHA}${createHash('sha1').update(FUZZ_AUTH.password).digest('base64')}\n`)
  const htmlDir = mkdtempSync(join(tmpdir(), 'pxt-fuzz-html-'))
  mkdirSync(join(htmlDir, '.well-known', 'acme-challenge'), { recursive: true })
  writeFileSync(join(htmlDir, '.well-known', 'acme-challenge', 'token'), 'token\n')

  const ups = await Promise.all(FUZZ_HOSTS.map(async (h) => await recordingUpstream(h)))
  const port = (i: number): number => ups[i]!.port
  const health = { intervalMs: 1_000 }
  const tls = (httpsMethod: 'redirect' | 'noredirect') => ({ tls: { httpsMethod, hsts: undefined, certName: undefined } })
  const routes: RouteSpec[] = [
    route('plain.test', [port(0)], tls('noredirect'), health),
    route('api.test', [port(1)], { path: '/api', dest: '/v2', ...tls('noredirect') }, health),
    route('ws.test', [port(2)], tls('noredirect'), health),
    route('auth.test', [port(3)], tls('noredirect'), health),
    route('redirect.test', [port(4)], tls('redirect'), health)
  ]
  const h = await startHarness({
    certsDir,
    htpasswdDir,
    tls: { defaultHttpsMethod: 'noredirect' },
    // Short client timeouts, so that a request that stalls on purpose (headers, or a body announced
    // and never sent) is answered 408 inside the fuzzer's 5 s bound.
    proxy: { requestHeadersTimeoutMs: 2_000, htmlDir, limits: { clientIdleTimeoutMs: 2_000 } }
  })
  h.apply(routes)
  await h.waitReady(routes.length)
  process.on('message', (m: ParentMessage) => { if (m.type === 'sync') send({ type: 'synced', n: m.n }) })
  // The parent going away (or closing IPC) ends the child: no orphaned proxies.
  process.on('disconnect', () => { void h.stop().finally(() => process.exit(0)) })
  send({ type: 'ready', port: h.port, httpsPort: h.httpsPort, hosts: FUZZ_HOSTS })
}

main().catch((err: unknown) => {
  console.error('fuzz target failed to start:', err)
  process.exit(70)
})
