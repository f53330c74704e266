// A plain node:http upstream with a fixed body (undici's benchmarks/server.js).
// Erasable TypeScript only and no local imports, so Node 24 runs it as-is inside a container
// (`node upstream.ts`, type stripping); on the host use the bench loader (see bench/README.md).
//   node upstream.ts [--port 8080] [--body-bytes 128]   (env PORT, BODY_BYTES)
import { createServer } from 'node:http'

function arg (name: string, env: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`)
  if (process.argv.includes('--help')) {
    process.stdout.write('usage: upstream.ts [--port N] [--body-bytes N]  (env PORT, BODY_BYTES)\n')
    process.exit(0)
  }
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : (process.env[env] ?? fallback)
}

function fixedBody (bytes: number): Buffer {
  const head = '{"ok":true,"pad":"'
  const tail = '"}'
  return Buffer.from(head + 'x'.repeat(Math.max(0, bytes - head.length - tail.length)) + tail)
}

const port = Number(arg('port', 'PORT', '8080'))
const body = fixedBody(Number(arg('body-bytes', 'BODY_BYTES', '128')))
const server = createServer((req, res) => {
  req.resume()
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length })
  res.end(body)
})
server.keepAliveTimeout = 75_000
server.listen(port, () => { process.stdout.write(`upstream listening on ${port}, body ${body.length} bytes\n`) })
process.on('SIGTERM', () => { server.close(); server.closeAllConnections(); process.exit(0) })
