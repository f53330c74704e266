// HTTP/2 load with h2load (nghttp2-client): autocannon speaks HTTP/1.1 only. Percentiles come
// from h2load's per-request log (--log-file: start µs, status, µs to the end of the response),
// restricted to the measured period, so they are comparable with autocannon's.
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { ensureAptTool, log, percentileSorted, round, run } from './util.ts'

export interface LoadSummary {
  requests: number
  durationS: number
  reqPerSec: number
  p50: number
  p90: number
  p99: number
  p99_9: number
  errors: number
  timeouts: number
  non2xx: number
  /** "TLSv1.3 TLS_AES_256_GCM_SHA384 h2", as h2load reports the handshake. */
  tls?: string
}

export async function ensureH2load (): Promise<string> {
  return await ensureAptTool({ name: 'h2load', envVar: 'H2LOAD_BIN', paths: ['/usr/bin/h2load', '/usr/local/bin/h2load'], pkg: 'nghttp2-client' })
}

/**
 * `clients` connections with `streams` concurrent streams each, for `durationS` after `warmupS`, or
 * for a fixed count of `requests` (then the run is stopped if it takes over `durationS` + 60 s).
 * `url` carries the :authority and SNI name; `connectTo` is where the sockets go.
 */
export async function h2load (opts: { bin: string, url: string, connectTo: string, clients: number, streams: number, durationS: number, warmupS: number, logFile: string, h1?: boolean, requests?: number }): Promise<LoadSummary> {
  rmSync(opts.logFile, { force: true })
  // --h1: HTTP/1.1 (over TLS for https: URLs, ALPN http/1.1) with the same client, e.g. to compare both protocols' cost per request.
  const amount = opts.requests !== undefined ? ['-n', String(opts.requests)] : ['-D', String(opts.durationS), ...(opts.warmupS > 0 ? [`--warm-up-time=${opts.warmupS}`] : [])]
  const args = [...(opts.h1 === true ? ['--h1'] : []), '-c', String(opts.clients), '-m', String(opts.streams), '-t', '1', ...amount,
    `--connect-to=${opts.connectTo}`, `--log-file=${opts.logFile}`, opts.url]
  let r = await run(opts.bin, args, { timeoutMs: (opts.durationS + opts.warmupS + 60) * 1000 })
  if (r.code !== 0 && !r.stdout.includes('finished in')) {
    // Seen with -m 10 against nginx on this 2-core machine: h2load stopped its clients and exited 1
    // without a summary (nothing on stderr). One more run, said in the log, rather than no result.
    log(`h2load exited ${r.code ?? '?'} without a summary; running it once more`)
    rmSync(opts.logFile, { force: true })
    r = await run(opts.bin, args, { timeoutMs: (opts.durationS + opts.warmupS + 60) * 1000 })
  }
  if (r.code !== 0) throw new Error(`h2load ${args.join(' ')} failed (${r.code}): ${r.stderr.slice(-1000)}${r.stdout.slice(-1000)}`)
  writeFileSync(`${opts.logFile}.out`, r.stdout)
  return parseH2load(r.stdout, readFileSync(opts.logFile, 'utf8'), opts.durationS)
}

/** h2load's summary (counts) and its per-request log (latencies), in autocannon's units (ms). */
export function parseH2load (stdout: string, perRequestLog: string, durationS: number): LoadSummary {
  const num = (re: RegExp): number => { const m = re.exec(stdout); if (m === null) throw new Error(`h2load output without ${String(re)}:\n${stdout}`); return Number(m[1]) }
  const done = num(/requests: \d+ total, \d+ started, (\d+) done/)
  const errored = num(/, (\d+) errored/)
  const timeouts = num(/, (\d+) timeout/)
  const statuses = /status codes: \d+ 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(stdout)
  if (statuses === null) throw new Error(`h2load output without status codes:\n${stdout}`)
  // With --warm-up-time, both the counts and the per-request log cover the measured period only.
  const ms = perRequestLog.split('\n').filter((l) => l !== '').map((l) => Number(l.split('\t')[2]) / 1000).sort((a, b) => a - b)
  const p = (q: number): number => ms.length === 0 ? NaN : round(percentileSorted(ms, q), 2)
  return {
    requests: done,
    durationS,
    reqPerSec: round(num(/finished in [\d.]+\w*, ([\d.]+) req\/s/), 0),
    p50: p(50),
    p90: p(90),
    p99: p(99),
    p99_9: p(99.9),
    errors: errored,
    timeouts,
    // Requests h2load cancelled when the time was up count as "failed", not as answers.
    non2xx: Number(statuses[1]) + Number(statuses[2]) + Number(statuses[3]),
    tls: [/TLS Protocol: (\S+)/, /Cipher: (\S+)/, /Application protocol: (\S+)/].map((re) => re.exec(stdout)?.[1] ?? '?').join(' ')
  }
}
