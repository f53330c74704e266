import t from 'tap'
import { parseCommand } from '../../src/cli/args.ts'
import { resolveServeOptions } from '../../src/config/env.ts'
import { DEFAULT_WORKERS } from '../../src/config/options.ts'

t.test('--workers N and WORKERS: a positive integer, the flag over the environment', async (t) => {
  t.same(parseCommand(['serve', '--workers', '2']), { kind: 'serve', flags: { workers: 2 } })
  for (const bad of ['0', '-1', 'two', '1.5', '']) {
    t.throws(() => parseCommand(['serve', '--workers', bad]), { code: 'PROXY_ERR_INVALID_OPTION' }, `--workers ${bad}`)
    t.throws(() => resolveServeOptions({ WORKERS: bad === '' ? 'x' : bad }, {}), { code: 'PROXY_ERR_INVALID_OPTION' }, `WORKERS=${bad}`)
  }
  t.equal(resolveServeOptions({}, {}).workers, DEFAULT_WORKERS)
  t.equal(resolveServeOptions({ WORKERS: '3' }, {}).workers, 3)
  t.equal(resolveServeOptions({ WORKERS: '3' }, { workers: 1 }).workers, 1)
})
