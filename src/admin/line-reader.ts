// The framing of `proxyctl admin-request --stdio`: one JSON message a line, both ways.

/**
 * A 'data' listener for string chunks that calls `onLine` once per complete line (without its
 * "\n"). With `limit`, a buffer that grows past `maxLength` is dropped whole and `onOverflow` runs.
 */
export function lineReader (onLine: (line: string) => void, limit?: { maxLength: number, onOverflow: () => void }): (chunk: string) => void {
  let buffered = ''
  return (chunk) => {
    buffered += chunk
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
