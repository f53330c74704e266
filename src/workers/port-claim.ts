import cluster from 'node:cluster'
import { createServer } from 'node:net'

// Claiming a port before listening on it with SO_REUSEPORT. Any process of the same user may bind
// a port already bound that way, so a second proxyctl (or anything with SO_REUSEPORT) would share
// this one's traffic instead of failing. A plain bind first, released at once, fails as it should
// when anything holds the port, our own workers included: so for a port several workers open (a
// host's EXTERNAL_HTTP_PORT, opened by every worker from the same table), the primary claims it
// once and hands it to each worker that asks, for as long as any of them still holds it.

/** A plain bind of `port`, closed at once; rejects with the bind's error when anything holds it. */
export async function probeBind (host: string, port: number): Promise<void> {
  const probe = createServer()
  await new Promise<void>((resolve, reject) => {
    probe.once('error', reject)
    probe.listen({ port, host, exclusive: true }, () => { probe.close(() => { resolve() }) })
  })
}

/** undefined when a plain bind of `port` succeeds (and is closed again), else why it failed (EADDRINUSE). */
async function bindRefusal (host: string, port: number): Promise<string | undefined> {
  return await probeBind(host, port).then(() => undefined, (err: NodeJS.ErrnoException) => err.code ?? err.message)
}

/** Worker -> primary. */
export type PortClaimRequest =
  | { type: 'claim-port', id: number, port: number }
  | { type: 'port-released', port: number }

/** Primary -> worker: `refused` says why the port is not this worker's to open. */
export interface PortClaimAnswer { type: 'port-claim', id: number, refused?: string | undefined }

/** A primary that does not answer (it is going away) is a refusal, not a hang. */
const ANSWER_TIMEOUT_MS = 5_000

let nextId = 1
const waiting = new Map<number, (refused: string | undefined) => void>()
let listening = false

/**
 * Before a SO_REUSEPORT bind of `port` on `host`: undefined when the port is this process's (and
 * its sibling workers') to open, else why not (EADDRINUSE). In a worker the primary decides;
 * elsewhere a plain bind here does.
 */
export async function claimPort (host: string, port: number): Promise<string | undefined> {
  if (!cluster.isWorker || process.send === undefined) {
    return await bindRefusal(host, port)
  }
  if (!listening) {
    listening = true
    process.on('message', (m: { type?: unknown, id?: unknown, refused?: string }) => {
      if (m?.type !== 'port-claim' || typeof m.id !== 'number') return
      waiting.get(m.id)?.(m.refused)
    })
  }
  const id = nextId++
  return await new Promise<string | undefined>((resolve) => {
    const timer = setTimeout(() => { done('no answer from the primary process') }, ANSWER_TIMEOUT_MS)
    const done = (refused: string | undefined): void => { clearTimeout(timer); waiting.delete(id); resolve(refused) }
    waiting.set(id, done)
    const request: PortClaimRequest = { type: 'claim-port', id, port }
    if (process.connected) process.send!(request)
    else done('the primary process is gone')
  })
}

/** After closing (or failing to open) a port claimPort granted: the primary may hand it out again only by claiming it anew. */
export function releasePort (port: number): void {
  if (!cluster.isWorker || !process.connected) return
  const message: PortClaimRequest = { type: 'port-released', port }
  process.send!(message)
}

/** The primary's side: which worker slots hold which shared port it claimed. */
export class PortClaims {
  readonly #host: string
  readonly #holders = new Map<number, Set<number>>()
  readonly #claiming = new Map<number, Promise<string | undefined>>()

  constructor (host: string) {
    this.#host = host
  }

  /** Undefined: `slot` may open `port` (claimed now, or already held by a sibling); else why not. */
  async claim (slot: number, port: number): Promise<string | undefined> {
    for (;;) {
      const holders = this.#holders.get(port)
      if (holders !== undefined) { holders.add(slot); return undefined }
      const pending = this.#claiming.get(port)
      if (pending === undefined) break
      // Another worker's claim of the same port: share its result (refused: try again, ours).
      await pending
    }
    const claim = bindRefusal(this.#host, port)
    this.#claiming.set(port, claim)
    const refused = await claim
    this.#claiming.delete(port)
    if (refused === undefined) this.#holders.set(port, new Set([slot]))
    return refused
  }

  release (slot: number, port: number): void {
    const holders = this.#holders.get(port)
    holders?.delete(slot)
    if (holders?.size === 0) this.#holders.delete(port)
  }

  /** A worker exited: whatever it held it holds no more. */
  releaseAll (slot: number): void {
    for (const port of [...this.#holders.keys()]) this.release(slot, port)
  }
}
