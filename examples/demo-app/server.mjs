// A tiny app for compose.example.yml: answers with its version and hostname, drains on SIGTERM.
import http from 'node:http'
import os from 'node:os'

const port = Number(process.env.PORT ?? 3000)
const version = process.env.APP_VERSION ?? '1.0'
const server = http.createServer((req, res) => {
  if (req.url === '/hc') { res.end('ok'); return }
  res.setHeader('content-type', 'text/plain; charset=utf-8')
  res.end(`Hello from demo-app ${version} on ${os.hostname()} (Host: ${req.headers.host ?? '-'})\n`)
})
server.listen(port, () => { console.log(`demo-app ${version} listening on ${port}`) })
process.on('SIGTERM', () => { server.close(() => process.exit(0)); server.closeIdleConnections() })
