// proxyctl test app: a dependency-free upstream for the proxy's Docker tests.
// Node built-ins only (node:http, node:crypto, node:os). Runs as PID 1 in its
// container and handles SIGTERM/SIGINT itself.
//
// Env knobs:
//   PORT                 listen port (3000)
//   APP_VERSION          reported version (v1)
//   STARTUP_DELAY_MS     wait this long before listening at all (0)
//   RESPONSE_DELAY_MS    delay every response except /hc (0)
//   ON_SIGTERM           exit (default): exit 0 at once
//                        graceful: stop accepting, close idle keep-alive sockets,
//                          answer in-flight requests with `Connection: close`, end
//                          SSE streams and WebSockets (close 1001), then exit 0
//   GRACEFUL_TIMEOUT_MS  hard cap for graceful (30000); exits 1 when hit
//   HEALTHY              true (default) | false: /hc answers 500 (until /hc/set flips it)
//   IGNORE_SIGNALS       comma-separated signals (SIGHUP,SIGUSR1,...) that are only logged,
//                        as an app reloading its config would (Node's default: SIGHUP exits)
//   KEEP_ALIVE_TIMEOUT_MS  server.keepAliveTimeout (Node's default, 5000)
//   FAIL_PERCENT         0..100 (0): that share of requests for `/` (any method) answer 500,
//                        spread evenly (every 5th at 20), as a broken release would
//
// Routes:
//   GET /hc    200 "ok" (500 "unhealthy" when HEALTHY=false); never delayed
//   POST /hc/set?healthy=true|false  flips what /hc answers from now on; 204
//   GET /sse   text/event-stream, `data: <version>\n\n` now and every 500 ms
//   Upgrade: websocket (any path)  RFC 6455 echo: text -> "<version>:<text>",
//              binary -> same bytes, ping -> pong, close -> close
//   anything else, any method: 200 JSON {version, hostname, method, url,
//              headers, bodyBytes, bodySha256} once the whole body is read;
//              ?delay=N adds N ms (on top of RESPONSE_DELAY_MS)
//   Every response carries X-App-Version.
import http from 'node:http';
import os from 'node:os';
import { createHash } from 'node:crypto';

const env = process.env;
const int = (v, d) => {
  const n = Number.parseInt(v ?? '', 10);
  return Number.isFinite(n) && n >= 0 ? n : d;
};
const PORT = int(env.PORT, 3000);
const VERSION = env.APP_VERSION || 'v1';
const STARTUP_DELAY_MS = int(env.STARTUP_DELAY_MS, 0);
const RESPONSE_DELAY_MS = int(env.RESPONSE_DELAY_MS, 0);
const ON_SIGTERM = (env.ON_SIGTERM || 'exit').toLowerCase() === 'graceful' ? 'graceful' : 'exit';
const GRACEFUL_TIMEOUT_MS = int(env.GRACEFUL_TIMEOUT_MS, 30000);
let healthy = (env.HEALTHY || 'true').toLowerCase() !== 'false';
const IGNORE_SIGNALS = (env.IGNORE_SIGNALS || '').split(',').map((s) => s.trim().toUpperCase()).filter((s) => s !== '');
const KEEP_ALIVE_TIMEOUT_MS = int(env.KEEP_ALIVE_TIMEOUT_MS, 5000);
const FAIL_PERCENT = Math.min(100, int(env.FAIL_PERCENT, 0));
let rootRequests = 0;
const MAX_WS_MESSAGE = 16 * 1024 * 1024;
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

// Synchronous for pipes/files on Linux, so the line is out before process.exit.
const log = (msg) => process.stdout.write(`${new Date().toISOString()} test-app ${VERSION} pid=${process.pid}: ${msg}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let server = null;
let shuttingDown = false;
const sseStreams = new Set();
const webSockets = new Set();

function baseHeaders(extra = {}) {
  const h = { 'X-App-Version': VERSION, ...extra };
  if (shuttingDown) h.Connection = 'close';
  return h;
}

// ---------------------------------------------------------------- HTTP
async function onRequest(req, res) {
  let url;
  try {
    url = new URL(req.url, 'http://localhost');
  } catch {
    url = new URL('http://localhost/');
  }

  if (url.pathname === '/hc/set' && req.method === 'POST') {
    req.resume();
    healthy = url.searchParams.get('healthy') !== 'false';
    log(`/hc now answers ${healthy ? 200 : 500}`);
    res.writeHead(204, baseHeaders());
    res.end();
    return;
  }

  if (url.pathname === '/hc' && (req.method === 'GET' || req.method === 'HEAD')) {
    req.resume();
    const body = healthy ? 'ok' : 'unhealthy';
    res.writeHead(healthy ? 200 : 500, baseHeaders({ 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body) }));
    res.end(body);
    return;
  }

  // Read the whole body through a hash, never holding it in memory.
  const hash = createHash('sha256');
  let bodyBytes = 0;
  let aborted = false;
  res.on('close', () => {
    if (!res.writableFinished) aborted = true;
  });
  try {
    for await (const chunk of req) {
      hash.update(chunk);
      bodyBytes += chunk.length;
    }
  } catch {
    return; // client went away mid-body
  }

  const extra = int(url.searchParams.get('delay'), 0);
  const delay = RESPONSE_DELAY_MS + extra;
  if (delay > 0) await sleep(delay);
  if (aborted || res.destroyed) return;

  if (url.pathname === '/sse' && req.method === 'GET') {
    startSse(res);
    return;
  }

  if (FAIL_PERCENT > 0 && url.pathname === '/') {
    // Evenly spread: the n-th request fails when floor(n * p / 100) steps up.
    const n = rootRequests++;
    if (Math.floor((n + 1) * FAIL_PERCENT / 100) > Math.floor(n * FAIL_PERCENT / 100)) {
      const body = 'failing on purpose (FAIL_PERCENT)';
      res.writeHead(500, baseHeaders({ 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body) }));
      res.end(body);
      return;
    }
  }

  const payload = JSON.stringify({
    version: VERSION,
    hostname: os.hostname(),
    method: req.method,
    url: req.url,
    headers: req.headers,
    bodyBytes,
    bodySha256: hash.digest('hex'),
  });
  res.writeHead(200, baseHeaders({ 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) }));
  res.end(payload);
}

function startSse(res) {
  res.writeHead(200, baseHeaders({ 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' }));
  const send = () => res.write(`data: ${VERSION}\n\n`);
  send();
  const timer = setInterval(send, 500);
  const stream = { end: () => { clearInterval(timer); res.end(); } };
  sseStreams.add(stream);
  res.on('close', () => {
    clearInterval(timer);
    sseStreams.delete(stream);
  });
}

// ---------------------------------------------------------------- WebSocket (RFC 6455)
function onUpgrade(req, socket, head) {
  const key = req.headers['sec-websocket-key'];
  const isWs = String(req.headers.upgrade || '').toLowerCase() === 'websocket';
  if (!isWs || !key || req.headers['sec-websocket-version'] !== '13' || shuttingDown) {
    const status = shuttingDown ? '503 Service Unavailable' : '400 Bad Request';
    socket.end(`HTTP/1.1 ${status}\r\nX-App-Version: ${VERSION}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    return;
  }
  const accept = createHash('sha1').update(key + WS_GUID).digest('base64');
  const lines = [
    'HTTP/1.1 101 Switching Protocols',
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Accept: ${accept}`,
    `X-App-Version: ${VERSION}`,
  ];
  const offered = req.headers['sec-websocket-protocol'];
  if (offered) lines.push(`Sec-WebSocket-Protocol: ${offered.split(',')[0].trim()}`);
  socket.write(lines.join('\r\n') + '\r\n\r\n');
  socket.setNoDelay(true);
  new WsConnection(socket, head);
}

function encodeFrame(opcode, payload) {
  const len = payload.length;
  let header;
  if (len < 126) {
    header = Buffer.from([0x80 | opcode, len]);
  } else if (len < 65536) {
    header = Buffer.alloc(4);
    header[0] = 0x80 | opcode;
    header[1] = 126;
    header.writeUInt16BE(len, 2);
  } else {
    header = Buffer.alloc(10);
    header[0] = 0x80 | opcode;
    header[1] = 127;
    header.writeBigUInt64BE(BigInt(len), 2);
  }
  return Buffer.concat([header, payload]);
}

class WsConnection {
  constructor(socket, head) {
    this.socket = socket;
    this.buf = Buffer.alloc(0);
    this.fragOpcode = 0; // opcode of the message being reassembled, 0 = none
    this.fragments = [];
    this.fragBytes = 0;
    this.closing = false;
    webSockets.add(this);
    socket.on('data', (d) => this.onData(d));
    socket.on('error', () => {});
    socket.on('close', () => webSockets.delete(this));
    if (head && head.length) this.onData(head);
  }

  send(opcode, payload) {
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(encodeFrame(opcode, payload));
  }

  close(code, reason = '') {
    if (this.closing) return;
    this.closing = true;
    const r = Buffer.from(reason);
    const p = Buffer.alloc(2 + r.length);
    p.writeUInt16BE(code, 0);
    r.copy(p, 2);
    this.send(0x8, p);
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 2000).unref();
  }

  onData(data) {
    this.buf = this.buf.length ? Buffer.concat([this.buf, data]) : data;
    while (!this.closing) {
      const b = this.buf;
      if (b.length < 2) return;
      const fin = (b[0] & 0x80) !== 0;
      const rsv = b[0] & 0x70;
      const opcode = b[0] & 0x0f;
      const masked = (b[1] & 0x80) !== 0;
      let len = b[1] & 0x7f;
      let off = 2;
      if (len === 126) {
        if (b.length < 4) return;
        len = b.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (b.length < 10) return;
        const big = b.readBigUInt64BE(2);
        if (big > BigInt(MAX_WS_MESSAGE)) return this.close(1009, 'too big');
        len = Number(big);
        off = 10;
      }
      if (rsv) return this.close(1002, 'rsv bits set');
      if (!masked) return this.close(1002, 'client frames must be masked');
      if (b.length < off + 4 + len) return; // wait for the rest of the frame
      const mask = b.subarray(off, off + 4);
      const payload = Buffer.from(b.subarray(off + 4, off + 4 + len));
      for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i & 3];
      this.buf = b.subarray(off + 4 + len);
      this.onFrame(fin, opcode, payload);
    }
  }

  onFrame(fin, opcode, payload) {
    if (opcode >= 0x8) {
      if (!fin || payload.length > 125) return this.close(1002, 'bad control frame');
      if (opcode === 0x8) {
        // Echo the status code (if any) and close.
        const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1000;
        return this.close(code === 1005 || code === 1006 || code === 1015 ? 1000 : code);
      }
      if (opcode === 0x9) return this.send(0xa, payload); // ping -> pong
      if (opcode === 0xa) return; // pong
      return this.close(1002, 'unknown opcode');
    }
    if (opcode === 0x0) {
      if (!this.fragOpcode) return this.close(1002, 'unexpected continuation');
    } else if (opcode === 0x1 || opcode === 0x2) {
      if (this.fragOpcode) return this.close(1002, 'expected continuation');
      this.fragOpcode = opcode;
    } else {
      return this.close(1002, 'unknown opcode');
    }
    this.fragments.push(payload);
    this.fragBytes += payload.length;
    if (this.fragBytes > MAX_WS_MESSAGE) return this.close(1009, 'too big');
    if (!fin) return;
    const message = this.fragments.length === 1 ? this.fragments[0] : Buffer.concat(this.fragments);
    const type = this.fragOpcode;
    this.fragOpcode = 0;
    this.fragments = [];
    this.fragBytes = 0;
    if (type === 0x2) return this.send(0x2, message);
    let text;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(message);
    } catch {
      return this.close(1007, 'invalid utf-8');
    }
    this.send(0x1, Buffer.from(`${VERSION}:${text}`));
  }
}

// ---------------------------------------------------------------- lifecycle
function onSignal(signal) {
  if (shuttingDown) {
    log(`${signal} received again; still draining`);
    return;
  }
  log(`${signal} received (ON_SIGTERM=${ON_SIGTERM})`);
  if (ON_SIGTERM !== 'graceful' || !server) {
    log('exiting (code 0)');
    process.exit(0);
  }
  shuttingDown = true;
  const cap = setTimeout(() => {
    log(`graceful timeout after ${GRACEFUL_TIMEOUT_MS} ms; exiting (code 1)`);
    process.exit(1);
  }, GRACEFUL_TIMEOUT_MS);
  cap.unref();
  server.close(() => {
    log('all connections closed; exiting (code 0)');
    process.exit(0);
  });
  server.closeIdleConnections();
  for (const s of sseStreams) s.end();
  for (const ws of webSockets) ws.close(1001, 'server shutting down');
}

process.on('SIGTERM', () => onSignal('SIGTERM'));
process.on('SIGINT', () => onSignal('SIGINT'));
for (const signal of IGNORE_SIGNALS) process.on(signal, () => log(`${signal} received; ignored (IGNORE_SIGNALS)`));

function start() {
  server = http.createServer(onRequest);
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  server.on('upgrade', onUpgrade);
  server.on('clientError', (err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else socket.destroy();
  });
  server.listen(PORT, () => {
    log(`listening on port ${PORT} (ON_SIGTERM=${ON_SIGTERM}, HEALTHY=${healthy}, RESPONSE_DELAY_MS=${RESPONSE_DELAY_MS})`);
  });
}

log(`starting; STARTUP_DELAY_MS=${STARTUP_DELAY_MS}`);
if (STARTUP_DELAY_MS > 0) setTimeout(start, STARTUP_DELAY_MS);
else start();
