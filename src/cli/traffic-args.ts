import { parseArgs } from 'node:util'
import { parseDurationMs, parsePositiveInt } from '../config/options.js'
import { InvalidOptionError } from '../errors.js'
import { DEFAULT_PAUSE_MAX_HOLD_MS, DEFAULT_PAUSE_MAX_QUEUED, MAX_PAUSE_HOLD_MS, MAX_PAUSE_QUEUED } from '../admin/api.js'
import { MAX_ALLOW_ENTRIES, parseAllowEntry } from '../traffic/maintenance.js'

// argv -> pause / resume / maintenance commands (pure), beside args.ts so that file only dispatches.

interface Target { adminSocket: string | undefined, proxy: string | undefined, target: string, project: string | undefined, json: boolean }
export type TrafficCommand =
  | ({ kind: 'pause', maxHoldMs: number, maxQueued: number } & Target)
  | ({ kind: 'resume' } & Target)
  | ({ kind: 'maintenance', on: true, pageFile: string | undefined, allow: string[] } & Target)
  | ({ kind: 'maintenance', on: false } & Target)
  | { kind: 'help', topic: string }

const common = {
  'admin-socket': { type: 'string' },
  proxy: { type: 'string' },
  project: { type: 'string', short: 'p' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' }
} as const

function parse (args: string[], command: string, extra: Record<string, { type: 'string' | 'boolean', multiple?: boolean }> = {}): { values: Record<string, string | boolean | string[] | undefined>, positionals: string[] } {
  try {
    return parseArgs({ args, options: { ...common, ...extra }, allowPositionals: true, strict: true }) as { values: Record<string, string | boolean | string[] | undefined>, positionals: string[] }
  } catch (err) {
    throw new InvalidOptionError(`${command}: ${(err as Error).message.split('\n')[0] ?? ''}`)
  }
}

function targetOf (command: string, values: Record<string, unknown>, positionals: string[]): Target {
  const [target, ...more] = positionals
  if (target === undefined || target === '') throw new InvalidOptionError(`${command}: missing HOST or SERVICE`)
  if (more.length > 0) throw new InvalidOptionError(`${command}: unexpected argument "${more[0] ?? ''}"`)
  if (target.length > 253) throw new InvalidOptionError(`${command}: "${target.slice(0, 40)}…" is too long for a host or service name`)
  const str = (k: string): string | undefined => typeof values[k] === 'string' ? values[k] : undefined
  return { target, adminSocket: str('admin-socket'), proxy: str('proxy'), project: str('project'), json: values.json === true }
}

export function parsePause (args: string[]): TrafficCommand {
  const { values, positionals } = parse(args, 'pause', { 'max-hold': { type: 'string' }, 'max-queued': { type: 'string' } })
  if (values.help === true) return { kind: 'help', topic: 'pause' }
  const maxHoldMs = typeof values['max-hold'] === 'string' ? parseDurationMs(values['max-hold'], '--max-hold') : DEFAULT_PAUSE_MAX_HOLD_MS
  if (maxHoldMs < 1 || maxHoldMs > MAX_PAUSE_HOLD_MS) throw new InvalidOptionError(`--max-hold must be from 1ms to ${MAX_PAUSE_HOLD_MS / 60_000}m`)
  const maxQueued = typeof values['max-queued'] === 'string' ? parsePositiveInt(values['max-queued'], '--max-queued') : DEFAULT_PAUSE_MAX_QUEUED
  if (maxQueued > MAX_PAUSE_QUEUED) throw new InvalidOptionError(`--max-queued must be at most ${MAX_PAUSE_QUEUED}`)
  return { kind: 'pause', maxHoldMs, maxQueued, ...targetOf('pause', values, positionals) }
}

export function parseResume (args: string[]): TrafficCommand {
  const { values, positionals } = parse(args, 'resume')
  if (values.help === true) return { kind: 'help', topic: 'resume' }
  return { kind: 'resume', ...targetOf('resume', values, positionals) }
}

export function parseMaintenance (args: string[]): TrafficCommand {
  const { values, positionals } = parse(args, 'maintenance', { page: { type: 'string' }, allow: { type: 'string', multiple: true } })
  if (values.help === true) return { kind: 'help', topic: 'maintenance' }
  const [mode, ...rest] = positionals
  if (mode !== 'on' && mode !== 'off') throw new InvalidOptionError('maintenance: usage: maintenance on|off HOST|SERVICE')
  const target = targetOf('maintenance', values, rest)
  if (mode === 'off') {
    if (values.page !== undefined || values.allow !== undefined) throw new InvalidOptionError('maintenance off: --page and --allow go with "on"')
    return { kind: 'maintenance', on: false, ...target }
  }
  // --allow 10.0.0.0/8 --allow 203.0.113.7, or --allow 10.0.0.0/8,203.0.113.7
  const allow: string[] = []
  for (const entry of (values.allow as string[] | undefined ?? []).flatMap((a) => a.split(','))) {
    const parsed = parseAllowEntry(entry)
    if ('error' in parsed) throw new InvalidOptionError(`--allow: ${parsed.error}`)
    if (!allow.includes(parsed.cidr)) allow.push(parsed.cidr)
  }
  if (allow.length > MAX_ALLOW_ENTRIES) throw new InvalidOptionError(`--allow: at most ${MAX_ALLOW_ENTRIES} entries`)
  const pageFile = typeof values.page === 'string' ? values.page : undefined
  if (pageFile === '') throw new InvalidOptionError('--page needs a file name')
  return { kind: 'maintenance', on: true, pageFile, allow, ...target }
}
