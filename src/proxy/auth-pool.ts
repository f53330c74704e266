import { availableParallelism } from 'node:os'
import { Piscina } from 'piscina'
import { verifyHtpasswd } from './htpasswd.js'

// htpasswd verification off the event loop. bcrypt is slow on purpose (~75 ms at cost 10 in
// bcryptjs, and apr1's 1000 MD5 rounds ~0.8 ms), so on the main thread a client sending wrong
// passwords stalls every host; nginx has the same flaw, blocking a worker per check.
// piscina is the worker pool from the Node.js core team's orbit (nodejs/piscina, maintained by
// core collaborators); it owns thread start-up, idle exit and task hand-off.

// Leave a core to the event loop where there is one to spare: hashing threads compete with it for CPU.
export const DEFAULT_AUTH_THREADS = Math.max(1, Math.min(2, availableParallelism() - 1))
/**
 * Verifications waiting for a thread; beyond this `verify` answers 'busy' at once. 16 per thread
 * keeps the longest wait near 1.2 s at bcrypt cost 10 (~75 ms each).
 */
export const DEFAULT_AUTH_QUEUE = 16 * DEFAULT_AUTH_THREADS

export interface HashPoolOptions {
  threads: number
  maxQueue: number
  /** Bench only: verify on the main thread, as before the pool (to measure the difference). */
  inline?: boolean
}

export type VerifyResult = boolean | 'busy'

export class HashPool {
  readonly #options: HashPoolOptions
  #pool: Piscina | undefined
  #pending = 0
  #tasks = 0

  constructor (options: HashPoolOptions) { this.#options = options }

  /** Verifications started (inline or in a worker); tests use it to see that a hash was paid. */
  get tasks (): number { return this.#tasks }
  get pending (): number { return this.#pending }

  async verify (password: string, hash: string): Promise<VerifyResult> {
    if (this.#pending >= this.#options.threads + this.#options.maxQueue) return 'busy'
    this.#tasks++
    if (this.#options.inline === true) return verifyHtpasswd(password, hash)
    this.#pending++
    try {
      return await this.#start().run({ password, hash }) === true
    } finally {
      this.#pending--
    }
  }

  async stop (): Promise<void> {
    const pool = this.#pool
    this.#pool = undefined
    await pool?.destroy()
  }

  // Private

  // Started on first use: hosts without bcrypt files, and tests, never pay for threads.
  #start (): Piscina {
    this.#pool ??= new Piscina({
      filename: workerFile(),
      minThreads: 0,
      maxThreads: this.#options.threads,
      maxQueue: this.#options.maxQueue,
      idleTimeout: 30_000
    })
    return this.#pool
  }
}

// From dist/ the worker is the compiled .js beside this file. Under tap's TypeScript loader this
// module is the .ts source, and worker threads inherit the parent's execArgv, hence its loader.
function workerFile (): string {
  return new URL(import.meta.url.endsWith('.ts') ? './auth-worker.ts' : './auth-worker.js', import.meta.url).href
}
