import { deserialize, serialize } from 'node:v8'
import t from 'tap'
import { PassThrough } from 'node:stream'
import { LineSplitter, MAX_PARTIAL_LINE_BYTES, relayLines } from '../../src/workers/line-relay.ts'
import { OutcomeBatcher, replayOutcomes, sumTargetLoads } from '../../src/workers/figures.ts'
import type { OutcomeBatch } from '../../src/workers/messages.ts'

// The pure parts of what workers report: outcome batches, in-flight sums, whole-line relaying.

type Outcome = [string, number, string | undefined, number]

t.test('every outcome a worker saw is replayed once, in order, across batches', async (t) => {
  const sent: OutcomeBatch[] = []
  const batcher = new OutcomeBatcher((b) => { sent.push(deserialize(serialize(b)) as OutcomeBatch) }, { maxOutcomes: 3, batchMs: 10_000 })
  const seen: Outcome[] = []
  for (let i = 0; i < 10; i++) batcher.requestCompleted(`h${i % 2}.test`, i % 3 === 0 ? 502 : 200, i % 4 === 0 ? undefined : `app-${i}`, i + 0.5)
  t.equal(sent.length, 3, 'full batches go at once')
  batcher.flush()
  t.equal(sent.length, 4, 'the rest on flush')
  batcher.flush()
  t.same(sent[4], [], 'an empty flush still reports (the in-flight count rides on it)')
  let replayed = 0
  for (const b of sent) replayed += replayOutcomes(b, { requestCompleted: (h, s, u, d) => { seen.push([h, s, u, d]) } })
  t.equal(replayed, 10)
  t.same(seen, Array.from({ length: 10 }, (_, i): Outcome => [`h${i % 2}.test`, i % 3 === 0 ? 502 : 200, i % 4 === 0 ? undefined : `app-${i}`, i + 0.5]))
})

t.test('a batch is sent after batchMs when it is not full', async (t) => {
  const sent: OutcomeBatch[] = []
  const batcher = new OutcomeBatcher((b) => { sent.push(b) }, { batchMs: 5 })
  batcher.requestCompleted('a.test', 200, 'app', 1)
  t.equal(sent.length, 0)
  await new Promise((resolve) => setTimeout(resolve, 30))
  t.same(sent, [['a.test', 200, 'app', 1]])
})

t.test('a malformed batch is replayed up to its first bad entry', async (t) => {
  const seen: string[] = []
  const n = replayOutcomes(['a.test', 200, '', 1, 'b.test', '200', '', 1, 'c.test', 200, '', 1], { requestCompleted: (h) => { seen.push(h) } })
  t.equal(n, 1)
  t.same(seen, ['a.test'])
  t.equal(replayOutcomes(['a.test', 200, ''], { requestCompleted: () => { t.fail('a truncated entry') } }), 0)
})

t.test('in-flight counts and long-lived connections are summed per target over the workers', async (t) => {
  const sums = sumTargetLoads([
    [{ key: 'a', inflight: 2, longLived: 1 }, { key: 'b', inflight: 0, longLived: 0 }],
    [{ key: 'a', inflight: 3, longLived: 0 }, { key: 'c', inflight: 1, longLived: 2 }],
    []
  ])
  t.same(Object.fromEntries(sums), { a: { inflight: 5, longLived: 1 }, b: { inflight: 0, longLived: 0 }, c: { inflight: 1, longLived: 2 } })
})

t.test('lines split anywhere across chunks come out whole, in order', async (t) => {
  const text = Array.from({ length: 200 }, (_, i) => `{"n":${i},"s":"${'é'.repeat(i % 7)}"}\n`).join('')
  const bytes = Buffer.from(text)
  for (const size of [1, 3, 7, 64, 4096]) {
    const lines = new LineSplitter()
    let out = ''
    for (let i = 0; i < bytes.length; i += size) {
      const chunk = lines.push(bytes.subarray(i, i + size))
      if (chunk !== undefined) {
        t.ok(chunk.endsWith('\n'), 'each relayed chunk ends at a line end')
        out += chunk
      }
    }
    t.equal(lines.end(), undefined)
    t.equal(out, text, `chunks of ${size} bytes`)
  }
})

t.test('a partial line at the end, or longer than the bound, is passed on as a line', async (t) => {
  const lines = new LineSplitter()
  t.equal(lines.push(Buffer.from('{"a":1}\n{"b"')), '{"a":1}\n')
  t.equal(lines.end(), '{"b"\n')
  const big = new LineSplitter()
  t.equal(big.push(Buffer.alloc(MAX_PARTIAL_LINE_BYTES, 'x')), undefined)
  t.equal(big.push(Buffer.from('x'))?.length, MAX_PARTIAL_LINE_BYTES + 2)
})

t.test('two workers\' streams relayed into one destination at once: every line whole', async (t) => {
  // What the primary's stdout sees: writes from both relays, in whatever order their chunks come.
  let out = ''
  const sink = { write: (text: string) => { out += text; return true } }
  const streams = [new PassThrough(), new PassThrough()]
  const relays = streams.map(async (s) => { await relayLines(s, sink) })
  const expected = new Set<string>()
  for (let round = 0; round < 50; round++) {
    const parts = streams.map((_, w) => {
      const text = Array.from({ length: 5 }, (_, i) => `{"worker":${w},"round":${round},"i":${i},"pad":"${'x'.repeat((round * 37 + i * 11) % 300)}"}\n`).join('')
      for (const line of text.split('\n').filter(Boolean)) expected.add(line)
      // Cut anywhere, as a pipe read can: mid-line, mid-batch.
      const cut = (round * 53 + w * 17) % text.length
      return [text.slice(0, cut), text.slice(cut)]
    })
    // Both workers' first parts, then both second parts: their bytes reach the primary interleaved.
    for (const [w, s] of streams.entries()) s.write(parts[w]![0])
    await new Promise((resolve) => setImmediate(resolve))
    for (const [w, s] of streams.entries()) s.write(parts[w]![1])
    await new Promise((resolve) => setImmediate(resolve))
  }
  for (const s of streams) s.end()
  await Promise.all(relays)
  const lines = out.split('\n').filter(Boolean)
  t.equal(lines.length, expected.size)
  t.same(lines.filter((l) => !expected.has(l)), [], 'no line cut or mixed with another')
})
