import { StringDecoder } from 'node:string_decoder'

// Newline-delimited streams: Docker's event stream, and the `proxyctl admin-request --stdio`
// session (one JSON message a line, both ways).

/**
 * A 'data' listener that calls `onLine` once per complete line (without its "\n"). Buffer chunks
 * are decoded as UTF-8 across chunk boundaries (a character split between two chunks stays whole).
 * With `limit`, a buffer that grows past `maxLength` is dropped whole and `onOverflow` runs.
 */
export function lineReader (onLine: (line: string) => void, limit?: { maxLength: number, onOverflow: () => void }): (chunk: Buffer | string) => void {
  const decoder = new StringDecoder('utf8')
  let buffered = ''
  return (chunk) => {
    buffered += typeof chunk === 'string' ? chunk : decoder.write(chunk)
    if (limit !== undefined && buffered.length > limit.maxLength) {
      buffered = ''
      limit.onOverflow()
      return
    }
    let nl: number
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl)
      buffered = buffered.slice(nl + 1)
      onLine(line)
    }
  }
}
