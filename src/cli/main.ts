#!/usr/bin/env node
import { VERSION } from '../version.js'
import { parseCommand } from './args.js'
import { exitCodeFor } from './exit-codes.js'
import { HELP } from './help.js'

async function run (argv: string[]): Promise<number> {
  const cmd = parseCommand(argv)
  switch (cmd.kind) {
    case 'help': process.stdout.write(`${HELP[cmd.topic ?? 'main'] ?? HELP.main}\n`); return 0
    case 'version': process.stdout.write(`${VERSION}\n`); return 0
    case 'serve': return await (await import('./commands/serve.js')).serve(cmd.flags)
    case 'status': return await (await import('./commands/status.js')).status(cmd)
    case 'deploy': return await (await import('./commands/deploy.js')).deploy(cmd)
    case 'admin-request': return await (await import('./commands/admin-request.js')).adminRequest(cmd.method, cmd.path, cmd.body, cmd.adminSocket)
    case 'admin-session': return await (await import('./commands/admin-request.js')).adminSession(cmd.adminSocket, process.stdin, process.stdout)
    case 'history': return await (await import('./commands/history.js')).history(cmd)
    case 'dashboard': return await (await import('./commands/dashboard.js')).dashboard(cmd)
    case 'pause':
    case 'resume':
    case 'maintenance': return await (await import('./commands/traffic-control.js')).trafficControl(cmd)
    case 'health': return await (await import('./commands/admin-request.js')).health(cmd.adminSocket)
  }
}

run(process.argv.slice(2)).then((code) => { process.exitCode = code }, (err: unknown) => {
  const e = err as { code?: string, message?: string }
  process.stderr.write(`proxyctl: ${e.message ?? String(err)}${e.code !== undefined && e.code.startsWith('PROXY_ERR') ? ` [${e.code}]` : ''}\n`)
  // Exit now: a start-up that failed half-way (a port in use) may have left timers and streams open.
  process.exit(exitCodeFor(err))
})
