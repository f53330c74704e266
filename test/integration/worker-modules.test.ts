import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import t from 'tap'

// A worker process must not load Node's bundled undici (and with it webstreams, tls, http2, zlib):
// an ESM `import { … } from 'node:http'` anywhere in its module graph does, through node:http's
// WebSocket/CloseEvent/MessageEvent getters, and costs every worker ~14 MB of RSS (2030ea6).
// proxyctl's modules take node:http with process.getBuiltinModule; this imports every module
// worker-main.ts imports, in a fresh process, and reads what Node loaded.

const WORKER_MAIN = fileURLToPath(new URL('../../src/workers/worker-main.ts', import.meta.url))

t.test('the modules a worker imports do not load Node\'s bundled undici', (t) => {
  const specifiers = [...readFileSync(WORKER_MAIN, 'utf8').matchAll(/^import (?!type )[^\n]* from '(\.[^']+)'/gm)].map((m) => m[1]!.replace(/\.js$/, '.ts'))
  t.ok(specifiers.length >= 5, `worker-main.ts imports ${specifiers.length} modules of ours`)
  const urls = specifiers.map((s) => new URL(s, `file://${WORKER_MAIN}`).href)
  const script = `for (const u of ${JSON.stringify(urls)}) await import(u)
process.stdout.write(JSON.stringify(process.moduleLoadList.filter((m) => /deps\\/undici\\/undici|webstreams/.test(m))))`
  const r = spawnSync(process.execPath, ['--import=@tapjs/typescript/import', '--input-type=module', '-e', script], {
    env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1' },
    encoding: 'utf8',
    timeout: 60_000
  })
  t.equal(r.status, 0, `the imports ran (stderr: ${r.stderr.slice(-500)})`)
  t.same(JSON.parse(r.stdout || '"no output"'), [], 'no bundled undici, no webstreams')
  t.end()
})
