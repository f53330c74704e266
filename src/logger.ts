import { pino, type Logger, type LoggerOptions } from 'pino'

export type { Logger }
export type Component = 'docker' | 'health' | 'proxy' | 'admin' | 'deploy' | 'daemon' | 'access' | 'routing'

export interface LoggerSettings {
  level?: string
  /** Pretty output for humans; defaults to whether stdout is a TTY. */
  pretty?: boolean
}

export function createLogger (settings: LoggerSettings = {}): Logger {
  const options: LoggerOptions = {
    level: settings.level ?? process.env.LOG_LEVEL ?? 'info',
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime
  }
  const pretty = settings.pretty ?? process.stdout.isTTY === true
  if (pretty) {
    return pino({ ...options, transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid' } } })
  }
  // Asynchronous writes keep the access log off the request path; flushed on stop.
  const destination = pino.destination({ dest: 1, sync: false, minLength: 4096 })
  // minLength batches writes under load; the timer bounds how long a quiet line waits.
  setInterval(() => { destination.flush() }, 200).unref()
  return pino(options, destination)
}
