import type { Readable } from 'node:stream'

// Worker processes write their logs (the access log among them) to a pipe the primary reads, and
// the primary hands them to its own log destination in chunks of whole lines. A single writer on
// the real stdout is what keeps every line whole: two processes writing more than PIPE_BUF (4 KiB)
// at once to one pipe can interleave inside a line, and the access log writes batches of up to 64 KiB.

/** A partial line longer than this is passed on as a line of its own rather than held. */
export const MAX_PARTIAL_LINE_BYTES = 1024 * 1024

/** Splits a byte stream into chunks that end at a line end. Pure. */
export class LineSplitter {
  #rest: Buffer[] = []
  #restBytes = 0

  /** The whole lines completed by `chunk` (with any held partial line before them), or undefined. */
  push (chunk: Buffer): string | undefined {
    const nl = chunk.lastIndexOf(10)
    if (nl < 0) {
      this.#rest.push(chunk)
      this.#restBytes += chunk.length
      return this.#restBytes > MAX_PARTIAL_LINE_BYTES ? this.end() : undefined
    }
    const head = this.#rest.length === 0 ? chunk.subarray(0, nl + 1) : Buffer.concat([...this.#rest, chunk.subarray(0, nl + 1)])
    this.#rest = nl + 1 < chunk.length ? [chunk.subarray(nl + 1)] : []
    this.#restBytes = chunk.length - nl - 1
    return head.toString('utf8')
  }

  /** What is held, ended with a line end (the stream ended mid-line). */
  end (): string | undefined {
    if (this.#restBytes === 0) return undefined
    const text = `${Buffer.concat(this.#rest).toString('utf8')}\n`
    this.#rest = []
    this.#restBytes = 0
    return text
  }
}

/** Where whole lines go: the primary's pino destination (sonic-boom), whose writes keep their order. */
export interface LineSink {
  write: (text: string) => boolean
  once?: (event: 'drain', listener: () => void) => unknown
}

/** Relays `from` into `to` line-whole, pausing while `to` is over its high-water mark; resolves at the end. */
export async function relayLines (from: Readable, to: LineSink): Promise<void> {
  const lines = new LineSplitter()
  await new Promise<void>((resolve) => {
    from.on('data', (chunk: Buffer) => {
      const text = lines.push(chunk)
      if (text === undefined || to.write(text) || to.once === undefined) return
      from.pause()
      // A destination that never says 'drain' must not hold the worker's logs (and the worker) forever.
      const timer = setTimeout(() => { from.resume() }, 1_000)
      to.once('drain', () => { clearTimeout(timer); from.resume() })
    })
    from.once('close', () => {
      const text = lines.end()
      if (text !== undefined) to.write(text)
      resolve()
    })
  })
}
