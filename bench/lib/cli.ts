// Settings for every bench script: a flag, else an env variable, else the default (undici
// benchmarks take CONNECTIONS / DURATION from env; flags win so one run can be tweaked by hand).

export interface OptionSpec {
  /** Flag name without dashes: `duration` is `--duration N` (or `--duration=N`). */
  flag: string
  env: string
  help: string
  default: string
  /** A flag that takes no value: `--x` sets "true". */
  boolean?: boolean
}

export type Settings<K extends string> = Record<K, string>

export function parseSettings<K extends string> (name: string, usage: string, specs: Record<K, OptionSpec>, argv = process.argv.slice(2)): Settings<K> {
  const byFlag = new Map<string, K>()
  for (const key of Object.keys(specs) as K[]) byFlag.set(specs[key].flag, key)
  const values = {} as Settings<K>
  for (const key of Object.keys(specs) as K[]) {
    const s = specs[key]
    values[key] = process.env[s.env] ?? s.default
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === '--help' || arg === '-h') {
      process.stdout.write(helpText(name, usage, specs))
      process.exit(0)
    }
    const m = /^--(no-)?([a-z0-9-]+)(?:=(.*))?$/.exec(arg)
    const key = m === null ? undefined : byFlag.get(m[2]!)
    if (m === null || key === undefined) {
      process.stderr.write(`${name}: unknown argument ${arg} (try --help)\n`)
      process.exit(2)
    }
    if (specs[key].boolean === true) {
      values[key] = m[1] === 'no-' ? 'false' : (m[3] ?? 'true')
    } else if (m[3] !== undefined) {
      values[key] = m[3]
    } else {
      const next = argv[++i]
      if (next === undefined) {
        process.stderr.write(`${name}: --${m[2]} needs a value\n`)
        process.exit(2)
      }
      values[key] = next
    }
  }
  return values
}

function helpText (name: string, usage: string, specs: Record<string, OptionSpec>): string {
  const rows = Object.values(specs).map((s) => {
    const flag = s.boolean === true ? `--[no-]${s.flag}` : `--${s.flag} V`
    return `  ${flag.padEnd(28)} ${s.help} (env ${s.env}; default ${s.default === '' ? 'none' : s.default})`
  })
  return `${name}\n\n${usage}\n\nOptions (flag, else env, else default):\n${rows.join('\n')}\n  --help                       this text\n`
}

export function int (v: string, what: string): number {
  const n = Number(v)
  if (!Number.isFinite(n) || n < 0) throw new Error(`${what} must be a non-negative number, got "${v}"`)
  return Math.round(n)
}

export function num (v: string, what: string): number {
  const n = Number(v)
  if (!Number.isFinite(n) || n < 0) throw new Error(`${what} must be a non-negative number, got "${v}"`)
  return n
}

export function bool (v: string): boolean {
  return ['1', 'true', 'yes', 'on'].includes(v.trim().toLowerCase())
}

export function list (v: string): string[] {
  return v.split(',').map((s) => s.trim()).filter((s) => s !== '')
}
