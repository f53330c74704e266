import { parseArgs, type ParseArgsConfig } from 'node:util'
import {
  parseDurationMs, parsePort, parsePositiveInt, type BalancingStrategy, type ServeOptions
} from '../config/options.js'
import { parseHttpsMethod, parseHttpsPort, parseListen, validatedDefaultHost } from '../config/env.js'
import { InvalidOptionError } from '../errors.js'
import type { RolloutOptions } from '../deploy/rollout.js'
import { ROLLOUT_FLAGS, parseRolloutFlags } from './rollout-flags.js'
import { parseMaintenance, parsePause, parseResume, type TrafficCommand } from './traffic-args.js'

// argv -> typed command (pure). node:util parseArgs is enough for this flag set: strict mode
// rejects unknown flags, and it keeps the CLI free of a dependency.

export interface AdminTarget {
  adminSocket: string | undefined
  proxy: string | undefined
}

export interface DeployCommand extends AdminTarget {
  kind: 'deploy'
  service: string | undefined
  composeFile: string | undefined
  project: string | undefined
  container: string | undefined
  image: string | undefined
  /** `--swarm`: SERVICE is a Swarm service (or, with -f, a stack file's service). */
  swarm: boolean
  timeoutMs: number
  drainTimeoutMs: number
  json: boolean
  /** --verify / --canary and their thresholds; undefined: a plain deploy. */
  rollout: RolloutOptions | undefined
}

export type Command =
  | { kind: 'help', topic: string | undefined }
  | { kind: 'version' }
  | { kind: 'serve', flags: Partial<ServeOptions> }
  | ({ kind: 'status', json: boolean } & AdminTarget)
  | DeployCommand
  | { kind: 'admin-request', method: string, path: string, body: string | undefined, adminSocket: string | undefined }
  | { kind: 'admin-session', adminSocket: string | undefined }
  | { kind: 'health', adminSocket: string | undefined }
  | ({ kind: 'history', json: boolean } & AdminTarget)
  | ({ kind: 'dashboard', port: number, host: string } & AdminTarget)
  | Exclude<TrafficCommand, { kind: 'help' }>

export const DEFAULT_DEPLOY_TIMEOUT_MS = 120_000
export const DEFAULT_DEPLOY_DRAIN_TIMEOUT_MS = 30_000

const adminFlags = {
  'admin-socket': { type: 'string' },
  proxy: { type: 'string' },
  help: { type: 'boolean', short: 'h' }
} as const satisfies ParseArgsConfig['options']

function parse<T extends NonNullable<ParseArgsConfig['options']>> (args: string[], options: T, command: string): ReturnType<typeof parseArgs<{ args: string[], options: T, allowPositionals: true, strict: true }>> {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true })
  } catch (err) {
    throw new InvalidOptionError(`${command}: ${(err as Error).message.split('\n')[0] ?? ''}`)
  }
}

export function parseCommand (argv: string[]): Command {
  const [name, ...rest] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') return { kind: 'help', topic: rest[0] }
  if (name === '--version' || name === '-v' || name === 'version') return { kind: 'version' }
  switch (name) {
    case 'serve': return parseServe(rest)
    case 'status': {
      const { values, positionals } = parse(rest, { ...adminFlags, json: { type: 'boolean' } }, 'status')
      if (values.help === true) return { kind: 'help', topic: 'status' }
      if (positionals.length > 0) throw new InvalidOptionError(`status: unexpected argument "${positionals[0] ?? ''}"`)
      return { kind: 'status', json: values.json === true, adminSocket: values['admin-socket'], proxy: values.proxy }
    }
    case 'deploy': return parseDeploy(rest)
    case 'history': {
      const { values, positionals } = parse(rest, { ...adminFlags, json: { type: 'boolean' } }, 'history')
      if (values.help === true) return { kind: 'help', topic: 'history' }
      if (positionals.length > 0) throw new InvalidOptionError(`history: unexpected argument "${positionals[0] ?? ''}"`)
      return { kind: 'history', json: values.json === true, adminSocket: values['admin-socket'], proxy: values.proxy }
    }
    case 'pause': return parsePause(rest)
    case 'resume': return parseResume(rest)
    case 'maintenance': return parseMaintenance(rest)
    case 'dashboard': {
      const { values, positionals } = parse(rest, { ...adminFlags, port: { type: 'string', short: 'p' }, host: { type: 'string' } }, 'dashboard')
      if (values.help === true) return { kind: 'help', topic: 'dashboard' }
      if (positionals.length > 0) throw new InvalidOptionError(`dashboard: unexpected argument "${positionals[0] ?? ''}"`)
      return { kind: 'dashboard', port: values.port === undefined ? 8090 : parsePort(values.port, '--port'), host: values.host ?? '127.0.0.1', adminSocket: values['admin-socket'], proxy: values.proxy }
    }
    case 'admin-request': {
      const { values, positionals } = parse(rest, { 'admin-socket': { type: 'string' }, stdio: { type: 'boolean' } }, 'admin-request')
      if (values.stdio === true) {
        if (positionals.length > 0) throw new InvalidOptionError('admin-request: --stdio takes no METHOD PATH')
        return { kind: 'admin-session', adminSocket: values['admin-socket'] }
      }
      const [method, path, body] = positionals
      if (method === undefined || path === undefined) throw new InvalidOptionError('admin-request: usage: admin-request METHOD PATH [JSON]')
      return { kind: 'admin-request', method: method.toUpperCase(), path, body, adminSocket: values['admin-socket'] }
    }
    case 'health': {
      const { values } = parse(rest, { 'admin-socket': { type: 'string' } }, 'health')
      return { kind: 'health', adminSocket: values['admin-socket'] }
    }
    default:
      throw new InvalidOptionError(`unknown command "${name}" (try proxyctl --help)`)
  }
}

function parseServe (args: string[]): Command {
  const { values, positionals } = parse(args, {
    port: { type: 'string', short: 'p' },
    'https-port': { type: 'string' },
    'https-method': { type: 'string' },
    host: { type: 'string' },
    'admin-socket': { type: 'string' },
    'default-host': { type: 'string' },
    'access-log': { type: 'boolean' },
    'no-access-log': { type: 'boolean' },
    balancing: { type: 'string' },
    'drain-timeout': { type: 'string' },
    'shutdown-timeout': { type: 'string' },
    'history-file': { type: 'string' },
    'metrics-listen': { type: 'string' },
    workers: { type: 'string' },
    help: { type: 'boolean', short: 'h' }
  }, 'serve')
  if (values.help === true) return { kind: 'help', topic: 'serve' }
  if (positionals.length > 0) throw new InvalidOptionError(`serve: unexpected argument "${positionals[0] ?? ''}"`)
  const flags: Partial<ServeOptions> = {}
  if (values.port !== undefined) flags.port = parsePort(values.port, '--port')
  if (values['https-port'] !== undefined) flags.httpsPort = parseHttpsPort(values['https-port'], '--https-port')
  if (values['https-method'] !== undefined) flags.defaultHttpsMethod = parseHttpsMethod(values['https-method'], '--https-method')
  if (values.host !== undefined) flags.host = values.host
  if (values['admin-socket'] !== undefined) flags.adminSocket = values['admin-socket']
  if (values['default-host'] !== undefined) flags.defaultHost = validatedDefaultHost(values['default-host'], '--default-host')
  if (values['access-log'] === true) flags.accessLog = true
  if (values['no-access-log'] === true) flags.accessLog = false
  if (values.balancing !== undefined) {
    if (values.balancing !== 'least-outstanding' && values.balancing !== 'round-robin') {
      throw new InvalidOptionError(`--balancing must be least-outstanding or round-robin, got "${values.balancing}"`)
    }
    flags.balancing = values.balancing satisfies BalancingStrategy
  }
  if (values['drain-timeout'] !== undefined) flags.drainTimeoutMs = parseDurationMs(values['drain-timeout'], '--drain-timeout')
  if (values['history-file'] !== undefined) flags.historyFile = values['history-file']
  if (values['metrics-listen'] !== undefined) flags.metricsListen = parseListen(values['metrics-listen'], '--metrics-listen')
  if (values['shutdown-timeout'] !== undefined) flags.shutdownTimeoutMs = parseDurationMs(values['shutdown-timeout'], '--shutdown-timeout')
  if (values.workers !== undefined) flags.workers = parsePositiveInt(values.workers, '--workers')
  return { kind: 'serve', flags }
}

/** Swarm paces its own rolling update: no verified or canary phase to hold it in. */
function swarmRollout (swarm: boolean, rollout: RolloutOptions | undefined): RolloutOptions | undefined {
  if (swarm && rollout !== undefined) throw new InvalidOptionError('deploy --swarm: --verify and --canary are not supported (Swarm paces its own rolling update)')
  return rollout
}

function parseDeploy (args: string[]): Command {
  const { values, positionals } = parse(args, {
    ...adminFlags,
    file: { type: 'string', short: 'f' },
    project: { type: 'string', short: 'p' },
    container: { type: 'string' },
    image: { type: 'string' },
    swarm: { type: 'boolean' },
    timeout: { type: 'string' },
    'drain-timeout': { type: 'string' },
    json: { type: 'boolean' },
    ...ROLLOUT_FLAGS
  }, 'deploy')
  if (values.help === true) return { kind: 'help', topic: 'deploy' }
  const service = positionals[0]
  if (positionals.length > 1) throw new InvalidOptionError(`deploy: unexpected argument "${positionals[1] ?? ''}"`)
  const byContainer = values.swarm !== true && (values.container !== undefined || values.image !== undefined)
  if (values.swarm === true) {
    if (service === undefined || values.container !== undefined) throw new InvalidOptionError('deploy --swarm: SERVICE --image IMAGE, or SERVICE -f STACK_FILE [-p STACK]')
    if (values.image === undefined && values.file === undefined) throw new InvalidOptionError('deploy --swarm: --image IMAGE (or -f STACK_FILE) is required')
  } else if (byContainer) {
    if (values.container === undefined || values.image === undefined) throw new InvalidOptionError('deploy: --container and --image go together')
    if (service !== undefined || values.file !== undefined) throw new InvalidOptionError('deploy: use either SERVICE [-f FILE] or --container NAME --image IMAGE')
  } else if (service === undefined && values.file === undefined) {
    // The whole stack only when asked for by its file: a bare `proxyctl deploy` stays an error.
    throw new InvalidOptionError('deploy: missing SERVICE (or -f FILE for every service of the stack, or --container NAME --image IMAGE)')
  }
  return {
    kind: 'deploy',
    service,
    composeFile: values.file,
    project: values.project,
    container: values.container,
    image: values.image,
    swarm: values.swarm === true,
    timeoutMs: values.timeout === undefined ? DEFAULT_DEPLOY_TIMEOUT_MS : parseDurationMs(values.timeout, '--timeout'),
    drainTimeoutMs: values['drain-timeout'] === undefined ? DEFAULT_DEPLOY_DRAIN_TIMEOUT_MS : parseDurationMs(values['drain-timeout'], '--drain-timeout'),
    json: values.json === true,
    rollout: swarmRollout(values.swarm === true, parseRolloutFlags(values)),
    adminSocket: values['admin-socket'],
    proxy: values.proxy
  }
}
