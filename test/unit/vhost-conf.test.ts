import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import type { Logger } from '../../src/logger.ts'
import t from 'tap'
import { parseNginxConf } from '../../src/vhost/nginx-conf.ts'
import { addedHeadersFor, parseNginxTimeMs, readVhostFile } from '../../src/vhost/vhost-directives.ts'
import { MAX_VHOST_FILE_BYTES, mergeVhost, vhostFileNames, VhostStore } from '../../src/vhost/vhost-store.ts'

// Issue 15, item 8: nginx-proxy's vhost.d files, read by a small nginx tokenizer.

t.test('nginx syntax: statements, comments, quotes, blocks and broken input', async (t) => {
  const cases: Array<{ desc: string, text: string, statements: Array<[string, string[], number, boolean]>, errors: Array<[number, RegExp]> }> = [
    { desc: 'plain directives', text: 'client_max_body_size 100m;\nproxy_read_timeout 300;\n', statements: [['client_max_body_size', ['100m'], 1, false], ['proxy_read_timeout', ['300'], 2, false]], errors: [] },
    { desc: 'comments and blank lines', text: '# a comment; with { braces }\n\n  proxy_buffering off; # trailing\n', statements: [['proxy_buffering', ['off'], 3, false]], errors: [] },
    { desc: 'CRLF line ends', text: 'a 1;\r\nb 2;\r\n', statements: [['a', ['1'], 1, false], ['b', ['2'], 2, false]], errors: [] },
    { desc: 'quoted values keep spaces, semicolons and escaped quotes', text: 'add_header X-A "a; b \\"c\\"" always;', statements: [['add_header', ['X-A', 'a; b "c"', 'always'], 1, false]], errors: [] },
    { desc: 'single quotes', text: "add_header X-B 'x y';", statements: [['add_header', ['X-B', 'x y'], 1, false]], errors: [] },
    { desc: 'several directives on a line, none of its own', text: 'a 1; b 2;c 3;', statements: [['a', ['1'], 1, false], ['b', ['2'], 1, false], ['c', ['3'], 1, false]], errors: [] },
    { desc: 'a block is one statement; its inside is skipped', text: 'location /x {\n  proxy_pass http://a;\n  if ($x) { return 403; }\n}\nproxy_read_timeout 5s;', statements: [['location', ['/x'], 1, true], ['proxy_read_timeout', ['5s'], 5, false]], errors: [] },
    { desc: '${var} in a word', text: 'set $a ${b}c;', statements: [['set', ['$a', '${b}c'], 1, false]], errors: [] },
    { desc: 'unterminated double quote', text: 'a 1;\nadd_header X "oops;\nb 2;', statements: [['a', ['1'], 1, false]], errors: [[2, /unterminated double quote/]] },
    { desc: 'unterminated single quote', text: "add_header X 'oops", statements: [], errors: [[1, /unterminated single quote/]] },
    { desc: 'missing final semicolon', text: 'a 1;\nb 2', statements: [['a', ['1'], 1, false]], errors: [[2, /expecting ";"/]] },
    { desc: 'unclosed block', text: 'location / {\n a 1;', statements: [], errors: [[1, /expecting "}"/]] },
    { desc: 'stray closing brace', text: 'a 1;\n}\nb 2;', statements: [['a', ['1'], 1, false]], errors: [[2, /unexpected "}"/]] },
    { desc: 'stray semicolon', text: ';', statements: [], errors: [[1, /unexpected ";"/]] },
    { desc: 'empty file', text: '', statements: [], errors: [] }
  ]
  for (const c of cases) {
    const r = parseNginxConf(c.text)
    t.same(r.statements.map((s) => [s.name, s.args, s.line, s.block]), c.statements, c.desc)
    t.equal(r.errors.length, c.errors.length, `${c.desc}: error count`)
    c.errors.forEach(([line, re], i) => { t.equal(r.errors[i]?.line, line, `${c.desc}: error line`); t.match(r.errors[i]?.message, re, c.desc) })
  }
})

t.test('nginx time and size values', async (t) => {
  for (const [text, ms] of [['60', 60_000], ['60s', 60_000], ['500ms', 500], ['1m30s', 90_000], ['2h', 7_200_000], ['1d', 86_400_000], ['', undefined], ['5x', undefined], ['-1', undefined], ['1.5s', undefined], ['s', undefined]] as const) {
    t.equal(parseNginxTimeMs(text), ms, JSON.stringify(text))
  }
})

t.test('honoured directives become settings; every other one is a warning with its line', async (t) => {
  const r = readVhostFile([
    'client_max_body_size 10m;', // 1
    'proxy_read_timeout 2s;', // 2
    'proxy_send_timeout 3;', // 3
    'proxy_connect_timeout 500ms;', // 4
    'proxy_buffering off;', // 5
    'add_header X-Frame-Options DENY;', // 6
    'add_header X-Always "yes" always;', // 7
    'gzip on;', // 8
    'location /admin { deny all; }', // 9
    'include /etc/nginx/other.conf;', // 10
    'proxy_read_timeout 9s;', // 11 duplicate
    'add_header Bad\\x0d "v";', // 12 invalid name
    'add_header X-Var $host;', // 13 variable
    'add_header Content-Length 5;', // 14 reserved
    'client_max_body_size lots;', // 15 duplicate (first kept)
    'proxy_buffering on;' // 16 duplicate
  ].join('\n'))
  t.same(r.directives, {
    maxBodyBytes: 10 * 1024 * 1024,
    readTimeoutMs: 2_000,
    sendTimeoutMs: 3_000,
    connectTimeoutMs: 500,
    addHeaders: [{ name: 'X-Frame-Options', value: 'DENY', always: false }, { name: 'X-Always', value: 'yes', always: true }]
  })
  t.same(r.warnings.map((w) => [w.line, w.directive]), [[8, 'gzip'], [9, 'location'], [10, 'include'], [11, 'proxy_read_timeout'], [12, 'add_header'], [13, 'add_header'], [14, 'add_header'], [15, 'client_max_body_size'], [16, 'proxy_buffering']])
  t.match(r.warnings[0]!.message, /"gzip" is not supported/)
  t.match(r.warnings[1]!.message, /block is not supported/)
})

t.test('header values a response cannot carry are refused, and odd bytes are named printably', async (t) => {
  const r = readVhostFile('add_header X-A "a\\nb";\nadd_header X-B "caf\u00e9";\nadd_header X-C;\nwei\u0001rd 1;')
  t.same(r.directives, {})
  t.same(r.warnings.map((w) => w.line), [1, 2, 3, 4])
  t.equal(r.warnings[3]!.directive, 'wei?rd')
  t.same(readVhostFile('client_max_body_size 0;').directives, { maxBodyBytes: null }, '0 is an explicit "no limit"')
})

t.test('add_header without always applies to nginx\'s success and redirect statuses only', async (t) => {
  const hs = [{ name: 'X-A', value: '1', always: false }, { name: 'X-B', value: '2', always: true }]
  t.same(addedHeadersFor(200, hs), ['X-A', '1', 'X-B', '2'])
  t.same(addedHeadersFor(308, hs), ['X-A', '1', 'X-B', '2'])
  t.same(addedHeadersFor(404, hs), ['X-B', '2'])
  t.same(addedHeadersFor(502, hs), ['X-B', '2'])
})

t.test('file names as nginx-proxy includes them; inner level wins, add_header lists replace', async (t) => {
  t.same(vhostFileNames('app.test', '/api/'), {
    server: ['app.test', 'default'],
    // sha1('/api/')
    location: ['app.test_357322ae39f93f572e23cd9edd3307e2ac5a321f_location', 'app.test_location', 'default_location']
  })
  // A regex host's files are named by the SHA-1 of the regex, ~ included (nginx.tmpl $vhostFileName).
  t.match(vhostFileNames('~^a\\.test$', '/').server[0], /^[0-9a-f]{40}$/)
  t.same(mergeVhost({ maxBodyBytes: 10, readTimeoutMs: 1, addHeaders: [{ name: 'A', value: '1', always: false }] }, { maxBodyBytes: null, sendTimeoutMs: 2 }), {
    maxBodyBytes: null, readTimeoutMs: 1, sendTimeoutMs: 2, connectTimeoutMs: undefined, addHeaders: [{ name: 'A', value: '1', always: false }]
  })
  t.same(mergeVhost({ addHeaders: [{ name: 'A', value: '1', always: false }] }, { addHeaders: [{ name: 'B', value: '2', always: true }] })?.addHeaders, [{ name: 'B', value: '2', always: true }])
  t.equal(mergeVhost(undefined, undefined), undefined)
})

function captureLog (): { log: Logger, lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = []
  const sink = new Writable({ write (chunk: Buffer, _enc, cb) { for (const l of chunk.toString().split('\n')) if (l !== '') lines.push(JSON.parse(l) as Record<string, unknown>); cb() } })
  return { log: pino<never>({ level: 'info' }, sink), lines }
}

t.test('store: precedence between files, caps, non-UTF-8, overrides, warnings once per file version', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pxt-vhost-'))
  const { log, lines } = captureLog()
  const store = new VhostStore(dir, log)
  await store.load()
  t.equal(store.settingsFor('app.test', '/'), undefined, 'no files: nothing')
  writeFileSync(join(dir, 'default'), 'client_max_body_size 1k;\nadd_header X-Default d;\n')
  writeFileSync(join(dir, 'app.test'), 'client_max_body_size 2k;\r\nproxy_read_timeout 7s;\r\nserver_tokens off;\r\n')
  writeFileSync(join(dir, 'app.test_location'), 'client_max_body_size 3k;\n')
  writeFileSync(join(dir, `app.test_${'9c67d8a8a4bb24b3dc2a6e0dcfc0a2f0d7fb10c1'}_location`), 'x 1;\n') // a path nobody uses
  writeFileSync(join(dir, 'app.test_location_override'), 'location / { proxy_pass http://x; }\n')
  writeFileSync(join(dir, 'huge.test'), Buffer.alloc(MAX_VHOST_FILE_BYTES + 1, 0x61))
  writeFileSync(join(dir, 'latin.test'), Buffer.concat([Buffer.from('# caf'), Buffer.from([0xe9, 0xff]), Buffer.from('\nproxy_send_timeout 4s;\n')]))
  await store.load()
  t.same(store.settingsFor('app.test', '/'), { maxBodyBytes: 3072, readTimeoutMs: 7_000, sendTimeoutMs: undefined, connectTimeoutMs: undefined, addHeaders: [] }, 'host file replaces default; _location wins over the server level')
  t.same(store.settingsFor('other.test', '/'), { maxBodyBytes: 1024, readTimeoutMs: undefined, sendTimeoutMs: undefined, connectTimeoutMs: undefined, addHeaders: [{ name: 'X-Default', value: 'd', always: false }] }, 'default applies to hosts without a file')
  t.equal(store.settingsFor('latin.test', '/')?.sendTimeoutMs, 4_000, 'a non-UTF-8 comment does not stop the file')
  t.equal(store.settingsFor('huge.test', '/')?.maxBodyBytes, 1024, 'an oversize file is not read (default applies)')
  const warned = (): string[] => lines.filter((l) => l.level === 40).map((l) => String(l.msg))
  t.ok(warned().some((m) => m.endsWith(`app.test:3: "server_tokens" is not supported by proxyctl and is ignored`)), 'unknown directive warned with file and line')
  t.ok(warned().some((m) => /location override ignored/.test(m)))
  t.ok(warned().some((m) => /vhost.d file ignored: over 65536 bytes/.test(m)))
  const before = warned().length
  await store.load()
  t.equal(warned().length, before, 'an unchanged directory is not warned about again')
  writeFileSync(join(dir, 'app.test'), 'server_tokens off;\ngzip on;\n')
  await store.load()
  t.same(warned().slice(before).map((m) => m.replace(dir, '')), ['/app.test:1: "server_tokens" is not supported by proxyctl and is ignored', '/app.test:2: "gzip" is not supported by proxyctl and is ignored'], 'a changed file is warned about again, alone')
})
