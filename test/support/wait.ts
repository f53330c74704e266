/** Poll `fn` until it returns a truthy value or the deadline passes (traefik's try.*). */
export async function waitFor<T> (fn: () => T | Promise<T>, opts: { timeoutMs?: number, intervalMs?: number, what?: string } = {}): Promise<NonNullable<T>> {
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000)
  let last: unknown
  for (;;) {
    try {
      const v = await fn()
      if (v !== undefined && v !== null && v !== false) return v as NonNullable<T>
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${opts.what ?? 'condition'}${last !== undefined ? `: ${(last as Error).message}` : ''}`)
    }
    await new Promise((resolve) => setTimeout(resolve, opts.intervalMs ?? 50))
  }
}

/** `p`, or a rejection naming `what` if it has not settled within `ms`. */
export async function within<T> (ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([p, new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error(`${what}: no answer within ${ms} ms`)) }, ms) })])
  } finally {
    clearTimeout(timer)
  }
}
