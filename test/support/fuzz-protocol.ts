// What the fuzz target (child) and the fuzz test (parent) say to each other over IPC.

export const FUZZ_HOSTS = ['plain.test', 'api.test', 'ws.test', 'auth.test', 'redirect.test'] as const
/**
 * Hosts under a traffic policy (issue 13), set in the child as the admin API sets it: paused.test
 * paused for good (small max hold and queue), pulse.test paused and resumed in a cycle,
 * maint.test in maintenance with an allow list the client never matches, maint-allow.test with one
 * that matches loopback, canary.test split between two upstreams ('canary-old', 'canary-new').
 */
export const POLICY_HOSTS = ['paused.test', 'pulse.test', 'maint.test', 'maint-allow.test', 'canary.test'] as const
export type PolicyHost = typeof POLICY_HOSTS[number]
export const FUZZ_PAUSE = { maxHoldMs: 300, maxQueued: 3 }
/** pulse.test: paused this long, then resumed this long, again and again. */
export const PULSE_MS = { paused: 250, resumed: 60 }
/** Addresses maint.test lets through: never the loopback the fuzzer connects from (spoofed headers name them). */
export const MAINT_ALLOW = ['203.0.113.7', '10.0.0.0/8']
export const CANARY = { cookie: 'pxc_0badc0de', share: 0.5, buckets: 10_000 }
/** The side a valid canary cookie's bucket names (canary.ts: new while bucket < share × BUCKETS). */
export const canarySide = (bucket: number): 'canary-new' | 'canary-old' => bucket < Math.round(CANARY.share * CANARY.buckets) ? 'canary-new' : 'canary-old'
export const FUZZ_AUTH = { user: 'fuzz', password: 'secret' }
/** Every response an upstream writes carries it: a response without it came from the proxy. */
export const UPSTREAM_MARK = 'x-fuzz-upstream'
export const FUZZ_ID_HEADER = 'x-fuzz-id'

/** What a recording upstream saw: one parsed request head, or bytes its parser refused; or a worker process's exit (WORKERS=2). */
export type UpstreamRecord =
  | { kind: 'request', upstream: string, method: string, url: string, httpVersion: string, rawHeaders: string[], upgrade: boolean }
  /** rawPacket: the connection's last bytes; firstBytes: its first 2 KiB. */
  | { kind: 'parse-error', upstream: string, code: string, rawPacket: string, firstBytes: string }
  | { kind: 'worker-exit', pid: number | undefined, code: number | null, signal: string | null }
  /** A log line the primary wrote out that is not one whole JSON object (the relay cut or merged lines). */
  | { kind: 'bad-log-line', line: string }

export type ChildMessage =
  | { type: 'ready', port: number, httpsPort: number, hosts: readonly string[], workers: number }
  | { type: 'record', record: UpstreamRecord }
  /** held: requests held per paused host now (summed over the workers); logLines: whole log lines the primary wrote so far (workers only). */
  | { type: 'synced', n: number, held: Record<string, number>, logLines: number }

export type ParentMessage = { type: 'sync', n: number }
