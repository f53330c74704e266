import { resolveServeOptions } from '../../config/env.js'
import type { ServeOptions } from '../../config/options.js'
import { startDaemon } from '../../daemon.js'
import { createLogger } from '../../logger.js'

export async function serve (flags: Partial<ServeOptions>): Promise<number> {
  const options = resolveServeOptions(process.env, flags)
  const log = createLogger()
  // A bug in one request's handling must not take every other connection down with it.
  process.on('unhandledRejection', (err) => { log.error({ err }, 'Unhandled rejection') })
  const daemon = await startDaemon(options, log)
  return await new Promise<number>((resolve) => {
    const shutdown = (signal: string): void => {
      log.info({ signal }, 'Signal received')
      daemon.stop().then(() => { log.flush(); resolve(0) }, (err: unknown) => { log.error({ err }, 'Stop failed'); log.flush(); resolve(1) })
    }
    process.on('SIGHUP', () => {
      log.info({ signal: 'SIGHUP' }, 'Signal received')
      daemon.reload().catch((err: unknown) => { log.error({ err }, 'Reload failed') })
    })
    process.once('SIGTERM', () => { shutdown('SIGTERM') })
    process.once('SIGINT', () => { shutdown('SIGINT') })
  })
}
