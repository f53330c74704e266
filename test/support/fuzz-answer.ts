import type { ClientHttp2Session, ClientHttp2Stream } from 'node:http2'
import type { Answer } from './fuzz-send.ts'

// What the fuzz senders (fuzz-send.ts, fuzz-policy.ts) share: one answer per case, and an HTTP/2
// stream whose fate (refused, reset, closed, a response head) becomes that answer.

type Finish = (a: Omit<Answer, 'ms'>) => void

/**
 * One answer per case: the first finish() wins and closes the connection; if none comes within
 * boundMs, the timeout's answer does.
 */
export function answerOnce (started: number, boundMs: number, close: () => void, resolve: (a: Answer) => void, timeout: () => Omit<Answer, 'ms'>):
{ finish: Finish, settled: () => boolean } {
  let done = false
  const finish: Finish = (a) => {
    if (done) return
    done = true
    clearTimeout(timer)
    close()
    resolve({ ...a, ms: Date.now() - started })
  }
  const timer = setTimeout(() => { finish(timeout()) }, boundMs)
  return { finish, settled: () => done }
}

/** HTTP/2 headers from field lines in order; a repeated name becomes a list, as Node's client sends it. */
export function h2Headers (lines: Iterable<readonly [string, string]>, into: Record<string, string | string[]> = {}): Record<string, string | string[]> {
  for (const [n, v] of lines) {
    const prev = into[n]
    into[n] = prev === undefined ? v : [...(Array.isArray(prev) ? prev : [prev]), v]
  }
  return into
}

/**
 * A request on `session`, its outcome to `finish`: refused by the client (undefined is returned),
 * reset, closed, or the response head (flattened), after `onResponse` has had the stream.
 */
export function fuzzStream (session: ClientHttp2Session, headers: Record<string, string | string[]>, endStream: boolean, finish: Finish, onResponse?: (stream: ClientHttp2Stream) => void): ClientHttp2Stream | undefined {
  let stream: ClientHttp2Stream
  try {
    stream = session.request(headers, { endStream })
  } catch (err) {
    finish({ outcome: 'refused-by-client', detail: (err as NodeJS.ErrnoException).code ?? (err as Error).message })
    return undefined
  }
  stream.on('error', (err: NodeJS.ErrnoException) => { finish({ outcome: 'reset', detail: err.code ?? err.message }) })
  stream.on('close', () => { finish({ outcome: stream.rstCode === 0 ? 'closed' : 'reset', detail: `stream closed, code ${stream.rstCode}` }) })
  stream.on('response', (h) => {
    const flat: Record<string, string> = {}
    for (const [k, v] of Object.entries(h)) flat[k] = Array.isArray(v) ? v.join(', ') : String(v)
    onResponse?.(stream)
    finish({ outcome: 'response', status: Number(h[':status']), headers: flat })
  })
  stream.resume()
  return stream
}
