import { resolveServeOptions } from '../../config/env.js'
import type { ServeOptions } from '../../config/options.js'
import { StartAbandoned, startDaemon, type Daemon } from '../../daemon.js'
import { locateDocker } from '../../docker/docker-client.js'
import { createLogger } from '../../logger.js'
import { dropPrivileges } from '../../privileges.js'
import { currentRequestId } from '../../proxy/request-context.js'

/** sysexits' EX_SOFTWARE: an internal error; Docker's restart policy brings the proxy back. */
const EXIT_INTERNAL_ERROR = 70

export async function serve (flags: Partial<ServeOptions>): Promise<number> {
  const options = resolveServeOptions(process.env, flags)
  const log = createLogger()
  // A bug in one request's handling must not take every other connection down with it.
  process.on('unhandledRejection', (err) => { log.error({ err, requestId: currentRequestId() }, 'Unhandled rejection') })
  // Every request, stream and socket has its own error handling; an exception that still reaches
  // the top came from somewhere whose state is now unknown (a half-updated table, a counter never
  // decremented). Serving on could route wrongly for hours; exiting costs one restart, after which
  // the boot health wait re-admits healthy apps before the listener opens.
  process.on('uncaughtException', (err) => {
    log.fatal({ err, requestId: currentRequestId() }, 'Uncaught exception: exiting so the container restarts')
    setTimeout(() => process.exit(EXIT_INTERNAL_ERROR), 500).unref()
    log.flush(() => process.exit(EXIT_INTERNAL_ERROR))
  })
  const runAs = process.env.PROXYCTL_RUN_AS
  if (runAs !== undefined && process.getuid?.() === 0) {
    let socketPath: string | undefined
    try {
      const where = locateDocker()
      socketPath = 'socketPath' in where.target ? where.target.socketPath : undefined
    } catch {} // startDaemon says what is wrong with Docker, after the drop
    const dropped = dropPrivileges(runAs, socketPath)
    if (dropped !== undefined) log.info({ ...dropped, socket: socketPath }, 'Running unprivileged, with the Docker socket\'s group')
  }
  // A reload signal during the start must not kill the proxy (SIGHUP's default action): acme-companion
  // renews whenever it likes, and with worker processes one may already answer requests while the
  // primary still starts. The start reads every file anyway; one reload follows once it is up.
  let daemon: Daemon | undefined
  let reloadPending = false
  const reload = (): void => {
    if (daemon === undefined) { reloadPending = true; return }
    daemon.reload().catch((err: unknown) => { log.error({ err }, 'Reload failed') })
  }
  process.on('SIGHUP', () => {
    log.info({ signal: 'SIGHUP' }, 'Signal received')
    reload()
  })
  // A stop asked for during the start (docker stop right after docker run, a Ctrl-C) is honoured
  // without cutting anything: before the listeners open the start is given up; after, it
  // completes and the daemon stops as on any SIGTERM, every worker draining what it holds (one may
  // already answer while the primary still starts). Handled from here on, so neither signal's
  // default action kills the process meanwhile; a second one of the same signal still does.
  let stopAsked: string | undefined
  let stopNow: ((signal: string) => void) | undefined
  const abandon = new AbortController()
  const onStopSignal = (signal: string): void => {
    if (stopNow !== undefined) { stopNow(signal); return }
    if (stopAsked !== undefined) return
    stopAsked = signal
    log.info({ signal }, 'Signal received during the start: stopping as soon as it can')
    abandon.abort()
  }
  process.once('SIGTERM', () => { onStopSignal('SIGTERM') })
  process.once('SIGINT', () => { onStopSignal('SIGINT') })
  let started: Daemon
  try {
    started = await startDaemon(options, log, abandon.signal)
  } catch (err) {
    if (!(err instanceof StartAbandoned)) throw err
    log.info({ signal: stopAsked }, 'Stopped before listening: the start was given up')
    log.flush()
    return 0
  }
  daemon = started
  if (reloadPending) reload()
  return await new Promise<number>((resolve) => {
    let stopping = false
    stopNow = (signal: string): void => {
      if (stopping) return
      stopping = true
      log.info({ signal }, signal === stopAsked ? 'Started; stopping as asked during the start' : 'Signal received')
      started.stop().then(() => { log.flush(); resolve(0) }, (err: unknown) => { log.error({ err }, 'Stop failed'); log.flush(); resolve(1) })
    }
    if (stopAsked !== undefined) stopNow(stopAsked)
  })
}
