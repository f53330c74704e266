import t from 'tap'
import type { IncomingMessage } from 'node:http'
import { newRequestId, requestIdOf } from '../../src/proxy/request-id.ts'

t.test('fresh IDs: 32 hex digits laid out as a version 4 UUID, all different across pool refills', async (t) => {
  const seen = new Set<string>()
  for (let i = 0; i < 2000; i++) {
    const id = newRequestId()
    if (!/^[0-9a-f]{12}4[0-9a-f]{3}[89ab][0-9a-f]{15}$/.test(id)) { t.fail(`bad id ${id}`); break }
    seen.add(id)
  }
  t.equal(seen.size, 2000)
})

t.test('the client\'s ID when usable, else a fresh one', async (t) => {
  const req = (id: unknown): IncomingMessage => ({ headers: { 'x-request-id': id } }) as unknown as IncomingMessage
  t.equal(requestIdOf(req('abc-123')), 'abc-123')
  for (const bad of [undefined, '', 'a b', 'x'.repeat(201), 'é', ['a', 'b']]) t.match(requestIdOf(req(bad)), /^[0-9a-f]{32}$/, String(bad))
})
