// What the fuzz target (child) and the fuzz test (parent) say to each other over IPC.

export const FUZZ_HOSTS = ['plain.test', 'api.test', 'ws.test', 'auth.test', 'redirect.test'] as const
export const FUZZ_AUTH = { user: 'fuzz', password: 'secret' }
/** Every response an upstream writes carries it: a response without it came from the proxy. */
export const UPSTREAM_MARK = 'x-fuzz-upstream'
export const FUZZ_ID_HEADER = 'x-fuzz-id'

/** What a recording upstream saw: one parsed request head, or bytes its parser refused. */
export type UpstreamRecord =
  | { kind: 'request', upstream: string, method: string, url: string, httpVersion: string, rawHeaders: string[], upgrade: boolean }
  | { kind: 'parse-error', upstream: string, code: string, rawPacket: string }

export type ChildMessage =
  | { type: 'ready', port: number, httpsPort: number, hosts: readonly string[] }
  | { type: 'record', record: UpstreamRecord }
  | { type: 'synced', n: number }

export type ParentMessage = { type: 'sync', n: number }
