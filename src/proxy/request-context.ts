import { AsyncLocalStorage } from 'node:async_hooks'

// The request a piece of work belongs to, for the last-resort error log: timers, promises and
// sockets created while a request is handled carry its ID (cheap on Node >= 24, AsyncContextFrame).
const context = new AsyncLocalStorage<string>()

export function runInRequest<T> (requestId: string | undefined, fn: () => T): T {
  return requestId === undefined ? fn() : context.run(requestId, fn)
}

/** The request ID of the work running now, when it was started by a request. */
export function currentRequestId (): string | undefined {
  return context.getStore()
}
