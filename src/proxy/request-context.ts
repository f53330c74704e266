import { AsyncLocalStorage } from 'node:async_hooks'

// The request a piece of work belongs to, for the last-resort error log: timers, promises and
// sockets created while a request is handled carry its ID. Only where it is cheap: Node >= 24 runs
// AsyncLocalStorage on AsyncContextFrame; before it, on async_hooks, it cost ~7 % of the proxy's
// HTTP/1.1 throughput on Node 20 (bench/proxy-throughput.ts, 3 rounds each: 10.8k vs 11.5k req/s),
// so older hosts log without it.
const context = Number(process.versions.node.split('.')[0]) >= 24 ? new AsyncLocalStorage<string>() : undefined

export function runInRequest<T> (requestId: string | undefined, fn: () => T): T {
  return requestId === undefined || context === undefined ? fn() : context.run(requestId, fn)
}

/** The request ID of the work running now, when it was started by a request (Node >= 24). */
export function currentRequestId (): string | undefined {
  return context?.getStore()
}
