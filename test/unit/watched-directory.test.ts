import t from 'tap'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { WatchedDirectory } from '../../src/config/watched-directory.ts'

// A load() asked for while a rebuild runs must see what changed after that rebuild began (a test
// wrote ca.crt, then loaded, while a watcher-started rebuild had already listed the directory).
t.test('a load during a rebuild gets a rebuild of its own after it; concurrent ones share it', async (t) => {
  let rebuilds = 0
  let release: (() => void) | undefined
  const dir = new WatchedDirectory(mkdtempSync(join(tmpdir(), 'wd-')), 'test directory', pino({ level: 'silent' }), async () => {
    rebuilds++
    if (rebuilds === 1) await new Promise<void>((resolve) => { release = resolve })
  })
  const first = dir.load()
  t.equal(rebuilds, 1)
  const second = dir.load()
  const third = dir.load()
  t.equal(rebuilds, 1, 'nothing runs beside the rebuild under way')
  release!()
  await Promise.all([first, second, third])
  t.equal(rebuilds, 2, 'one more rebuild after it, shared by both later calls')
  await dir.load()
  t.equal(rebuilds, 3, 'an idle load runs at once')
})
