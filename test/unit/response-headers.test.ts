import t from 'tap'
import { downstreamResponseHeaders } from '../../src/proxy/forwarded-headers.ts'

// downstreamResponseHeaders recognises field names (and their last values) by their bytes instead
// of decoding every Buffer: whatever the upstream sends, the result must be what decoding each one
// gave (the reference below is the code before that change).

const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade'])

function reference (raw: Buffer[], ours?: string[]): { headers: string[], eventStream: boolean, contentLength: number } {
  let named: Set<string> | undefined
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.toString('latin1').toLowerCase() === 'connection') {
      const tokens = new Set<string>()
      for (const tok of raw[i + 1]!.toString('latin1').split(',')) {
        const n = tok.trim().toLowerCase()
        if (n !== '' && n !== 'close' && n !== 'keep-alive' && n !== 'upgrade') tokens.add(n)
      }
      named = tokens.size > 0 ? tokens : undefined
    }
  }
  const headers: string[] = []
  let eventStream = false
  let contentLength = -1
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toString('latin1')
    const lower = name.toLowerCase()
    if (HOP.has(lower) || named?.has(lower) === true) continue
    const value = raw[i + 1]!.toString('latin1')
    if (lower === 'content-type' && value.startsWith('text/event-stream')) eventStream = true
    else if (lower === 'content-length') contentLength = Number(value)
    headers.push(name, value)
  }
  // What forward-http's onHeaders did with the proxy's own fields.
  if (ours !== undefined && ours.length > 0) {
    for (let i = 0; i < ours.length; i += 2) {
      const name = ours[i]!.toLowerCase()
      for (let j = headers.length - 2; j >= 0; j -= 2) if (headers[j]!.toLowerCase() === name) headers.splice(j, 2)
    }
    headers.push(...ours)
  }
  return { headers, eventStream, contentLength }
}

function random (seed: number): () => number {
  let x = seed
  return () => { x = (x * 1103515245 + 12345) % 2147483648; return x / 2147483648 }
}

/** Field lines as undici hands them over: slices of one receive buffer. */
function slices (fields: string[]): Buffer[] {
  const whole = Buffer.from(fields.join(''), 'latin1')
  let at = 0
  return fields.map((f) => { const b = whole.subarray(at, at + Buffer.byteLength(f, 'latin1')); at += b.length; return b })
}

t.test('same result as decoding every field and replacing the proxy\'s own fields, over many responses (cache full, long and changing values)', async (t) => {
  const rnd = random(3)
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)]!
  const ourFields = [undefined, [], ['X-Request-ID', 'abc'], ['X-Request-ID', 'abc', 'Strict-Transport-Security', 'max-age=1'], ['Content-Length', '7'], ['x-private', 'p', 'ETag', 'e', 'set-cookie', 'c=1']]
  const names = ['Server', 'Date', 'Content-Type', 'content-type', 'Content-Length', 'CONTENT-LENGTH', 'Connection', 'connection', 'Keep-Alive', 'Transfer-Encoding', 'Set-Cookie', 'X-Private', 'x-private', 'ETag', 'Upgrade', 'TE', 'Vary', 'X-Request-ID', 'x-request-id', 'Strict-Transport-Security', 'x'.repeat(70), 'Ä-latin1']
  const values = ['nginx', 'text/plain', 'text/event-stream; charset=utf-8', 'text/event-streaM', '128', '0', ' 12 ', 'abc', '', 'keep-alive', 'close', 'keep-alive, X-Private', 'X-Private, ETag', 'upgrade', 'v'.repeat(65), 'v'.repeat(64), 'v'.repeat(63) + 'w', 'é']
  let mismatches = 0
  for (let r = 0; r < 3000; r++) {
    const fields: string[] = []
    const n = Math.floor(rnd() * 8)
    for (let i = 0; i < n; i++) {
      // From response 1000 on, new names every time: the name cache fills up and stays bounded.
      fields.push(r > 1000 && rnd() < 0.3 ? `X-N${r}-${i}` : pick(names), rnd() < 0.3 ? `Mon, 30 Nov 2026 05:${r % 60} GMT` : pick(values))
    }
    const raw = slices(fields)
    const ours = pick(ourFields)
    const want = reference(raw, ours)
    const got = downstreamResponseHeaders(raw, ours)
    if (JSON.stringify(got) !== JSON.stringify(want)) {
      if (mismatches++ < 3) t.same(got, want, JSON.stringify([fields, ours]))
    }
  }
  t.equal(mismatches, 0)
})

t.test('a Connection header naming a field drops it; the last Connection header decides, as before', async (t) => {
  const raw = slices(['Connection', 'X-A', 'X-A', '1', 'Content-Length', '5', 'Connection', 'close', 'X-B', '2'])
  t.same(downstreamResponseHeaders(raw), reference(raw))
  t.same(downstreamResponseHeaders(raw).headers, ['X-A', '1', 'Content-Length', '5', 'X-B', '2'])
  const named = slices(['Connection', 'close', 'X-A', '1', 'Connection', 'Content-Length, X-A', 'Content-Length', '5'])
  t.same(downstreamResponseHeaders(named), { headers: [], eventStream: false, contentLength: -1 })
})
