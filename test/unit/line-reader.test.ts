import t from 'tap'
import { lineReader } from '../../src/line-reader.ts'

t.test('lines split anywhere, a UTF-8 character split between chunks, strings and Buffers', async (t) => {
  const lines: string[] = []
  const feed = lineReader((l) => { lines.push(l) })
  const bytes = Buffer.from('{"name":"é€"}\nsecond\n\nthird', 'utf8')
  // Cut inside the two-byte é and the three-byte €.
  feed(bytes.subarray(0, 11)); feed(bytes.subarray(11, 13)); feed(bytes.subarray(13))
  t.same(lines, ['{"name":"é€"}', 'second', ''], 'the unfinished last line waits')
  feed('\n')
  t.same(lines.at(-1), 'third')
})

t.test('a buffer past maxLength is dropped whole and reported; lines after it still come', async (t) => {
  const lines: string[] = []
  let overflows = 0
  const feed = lineReader((l) => { lines.push(l) }, { maxLength: 8, onOverflow: () => { overflows++ } })
  feed('0123456789')
  t.equal(overflows, 1)
  feed('ok\n')
  t.same(lines, ['ok'])
})
