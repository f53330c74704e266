// After every few fuzz batches, what the traffic policy of issue 13 must still do for
// well-behaved clients: no held request is left behind once every client is gone, a canary
// client with a valid cookie stays on its version, maintenance still answers 503 + Retry-After to a
// client that claims an allowed address in headers, the allowed peer still reaches the app; more
// rarely (it waits out the max hold), a burst on the paused host is answered within the max hold,
// the excess at once.
import { get } from './http-client.ts'
import { httpsGet } from './https-client.ts'
import type { FuzzChild } from './fuzz-child.ts'
import { CANARY, FUZZ_PAUSE, UPSTREAM_MARK, canarySide } from './fuzz-protocol.ts'
import { HOLD_BOUND_MS } from './fuzz-policy.ts'
import { within } from './wait.ts'

export interface PolicyFailure { kind: string, message: string }

export interface PolicySanity {
  /** Normal requests sent so far. */
  sent: number
  /** Burst answers by kind: 'PROXY_ERR_PAUSE_QUEUE_FULL', 'PROXY_ERR_PAUSE_TIMEOUT', ... */
  burst: Map<string, number>
  check (c: FuzzChild, batch: number): Promise<PolicyFailure[]>
}

/** `bucket`: the run's canary client's cookie, the same for the whole run. */
export function policySanity (bucket: number, opts: { requestsEvery: number, burstEvery: number, boundMs: number }): PolicySanity {
  const cookie = `${CANARY.cookie}=${bucket}`
  const side = canarySide(bucket)
  const state: PolicySanity = { sent: 0, burst: new Map(), check }
  async function check (c: FuzzChild, batch: number): Promise<PolicyFailure[]> {
    const failures: PolicyFailure[] = []
    const attempt = async (kind: string, what: string, fn: () => Promise<string | undefined>): Promise<void> => {
      state.sent++
      try {
        const wrong = await within(opts.boundMs, what, fn())
        if (wrong !== undefined) failures.push({ kind, message: `${what}: ${wrong}` })
      } catch (err) {
        failures.push({ kind, message: `${what} failed: ${(err as Error).message}` })
      }
    }
    // Every few batches only: waiting out what half-closed clients left held costs up to the max hold.
    if (batch % opts.requestsEvery !== 0) return failures
    await Promise.all([
      attempt('canary client moved', `GET http://canary.test/ with cookie ${cookie}`, async () => {
        const r = await get(c.port, 'canary.test', '/', { headers: { cookie } })
        return r.status === 200 && r.headers[UPSTREAM_MARK] === side ? undefined : `got ${r.status} from ${String(r.headers[UPSTREAM_MARK])}, not ${side} (the cookie's bucket ${bucket})`
      }),
      attempt('canary client moved', `GET https://canary.test/ with cookie ${cookie}`, async () => {
        const r = await httpsGet(c.httpsPort, 'canary.test', '/', { cookie })
        return r.status === 200 && r.headers[UPSTREAM_MARK] === side ? undefined : `got ${r.status} from ${String(r.headers[UPSTREAM_MARK])}, not ${side} (the cookie's bucket ${bucket})`
      }),
      attempt('maintenance not answered', 'GET http://maint.test/ claiming an allowed address in X-Forwarded-For', async () => {
        const r = await get(c.port, 'maint.test', '/', { headers: { 'x-forwarded-for': '203.0.113.7', 'x-real-ip': '10.0.0.1' } })
        return r.status === 503 && /^\d+$/.test(String(r.headers['retry-after'])) && r.headers[UPSTREAM_MARK] === undefined ? undefined : `got ${r.status} (Retry-After ${String(r.headers['retry-after'])}, upstream ${String(r.headers[UPSTREAM_MARK])}), not the maintenance 503`
      }),
      attempt('allowed client refused', 'GET http://maint-allow.test/ from loopback (allowed)', async () => {
        const r = await get(c.port, 'maint-allow.test', '/')
        return r.status === 200 && r.headers[UPSTREAM_MARK] === 'maint-allow.test' ? undefined : `got ${r.status}, not the upstream's 200`
      })
    ])
    // Nothing held first: a client that half-closed and then left is only found out when its max hold
    // ends (TCP says nothing more), and it would take a place in the burst's queue.
    const leftover = await nothingHeld(c)
    failures.push(...leftover)
    if (batch % opts.burstEvery === 0 && leftover.length === 0) failures.push(...await burst(c))
    return failures
  }

  /** More requests than the paused host may hold: the excess 503 at once, the rest 503 after the max hold. */
  async function burst (c: FuzzChild): Promise<PolicyFailure[]> {
    const n = FUZZ_PAUSE.maxQueued * c.workers + 2
    const started = Date.now()
    state.sent += n
    // What the proxy holds while the burst is held: with the split below, it says whether a place
    // was taken by something the check before did not see.
    const heldDuring = new Promise<Record<string, number> | string>((resolve) => {
      setTimeout(() => { c.sync().then(resolve, (err: unknown) => { resolve((err as Error).message) }) }, FUZZ_PAUSE.maxHoldMs / 2)
    })
    const answers = await Promise.all(Array.from({ length: n }, async () => {
      try {
        const r = await within(opts.boundMs, 'GET http://paused.test/', get(c.port, 'paused.test', '/'))
        return { status: r.status, code: String(r.headers['x-proxyctl-error']), retryAfter: r.headers['retry-after'], ms: Date.now() - started }
      } catch (err) {
        return { status: 0, code: (err as Error).message, retryAfter: undefined, ms: Date.now() - started }
      }
    }))
    const failures: PolicyFailure[] = []
    for (const a of answers) {
      state.burst.set(a.code, (state.burst.get(a.code) ?? 0) + 1)
      if (a.status !== 503 || !/^\d+$/.test(String(a.retryAfter)) || a.ms > HOLD_BOUND_MS) {
        failures.push({ kind: 'paused host not answered within max hold', message: `a burst of ${n} GETs on paused.test (max hold ${FUZZ_PAUSE.maxHoldMs} ms, max queued ${FUZZ_PAUSE.maxQueued} per process): one got ${a.status} ${a.code} (Retry-After ${String(a.retryAfter)}) after ${a.ms} ms (bound ${HOLD_BOUND_MS} ms)` })
      }
    }
    // Nothing was held before the burst (checked just before). A pause's max queued is a total over
    // the worker processes (worker-limits.ts: each worker its share, at least 1, the shares adding up
    // to max(maxQueued, workers)); the kernel spreads the burst's connections over the workers
    // unevenly, so between 1 (all on a worker whose share is 1) and that total are held until the
    // max hold, and the rest refused at once. One process: exactly max queued.
    const full = answers.filter((a) => a.code === 'PROXY_ERR_PAUSE_QUEUE_FULL')
    const expired = answers.filter((a) => a.code === 'PROXY_ERR_PAUSE_TIMEOUT')
    const during = await heldDuring
    const say = `a burst of ${n} GETs on paused.test (max queued ${FUZZ_PAUSE.maxQueued} in total over ${c.workers} process(es), max hold ${FUZZ_PAUSE.maxHoldMs} ms): ${expired.length} held until the max hold, ${full.length} refused as over the bound; held ${FUZZ_PAUSE.maxHoldMs / 2} ms in: ${JSON.stringify(during)}; answers: ${JSON.stringify(answers)}`
    const most = Math.max(FUZZ_PAUSE.maxQueued, c.workers)
    const least = c.workers === 1 ? FUZZ_PAUSE.maxQueued : 1
    if (expired.length < least || expired.length > most || full.length + expired.length !== n) {
      failures.push({ kind: 'pause queue bound not applied', message: say })
    }
    if (expired.some((a) => a.ms < FUZZ_PAUSE.maxHoldMs - 20)) failures.push({ kind: 'held less than max hold', message: say })
    return failures
  }

  /** Every client of the batch is gone: within the max hold nothing may be held any more. */
  async function nothingHeld (c: FuzzChild): Promise<PolicyFailure[]> {
    const deadline = Date.now() + HOLD_BOUND_MS
    let held: Record<string, number> = {}
    for (;;) {
      if (c.exited !== undefined) return []
      try {
        held = await c.sync()
      } catch (err) {
        return [{ kind: 'child unresponsive', message: (err as Error).message }]
      }
      if (Object.values(held).every((n) => n === 0)) return []
      if (Date.now() > deadline) break
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    return [{ kind: 'held requests left behind', message: `${HOLD_BOUND_MS} ms after every client of the batch was gone, requests are still held: ${JSON.stringify(held)}` }]
  }

  return state
}
