import t from 'tap'
import { hostnameOf, normalizePath, parseRequestHead } from '../../src/proxy/request-target.ts'

// Issue 10: request-targets and Host as RFC 9112 says, checked before any route lookup.

t.test('hostnameOf: DNS characters only, at most 253, ports and IPv6 literals checked', async (t) => {
  const cases: Array<[string | undefined, string | undefined]> = [
    ['Example.COM', 'example.com'], ['example.com:8080', 'example.com'], ['example.com.', 'example.com'], ['[::1]:80', '[::1]'],
    [undefined, ''], ['bad host', undefined], ['a.com:x', undefined], ['[::1', undefined], ['[::1]x', undefined], ['[zz]', undefined],
    [`${'a.'.repeat(126)}a`, `${'a.'.repeat(126)}a`], [`${'a.'.repeat(126)}ab`, undefined], ['a'.repeat(300), undefined],
    ['a..b', undefined], ['.a', undefined], ['a.com:999999', undefined], ['ex%41mple.com', undefined], ['a\u0000b', undefined], ['é.com', undefined]
  ]
  for (const [input, want] of cases) t.equal(hostnameOf(input), want, JSON.stringify(input))
})

t.test('parseRequestHead: forms of request-target and Host', async (t) => {
  const ok = (hostname: string, path: string, authority?: string) => ({ kind: 'ok', hostname, authority, path })
  const cases: Array<{ desc: string, method?: string, target: string, hosts: string[], version?: '1.0' | '1.1' | '2', want: unknown }> = [
    { desc: 'origin-form', target: '/a?b=1', hosts: ['App.test:80'], want: ok('app.test', '/a?b=1') },
    { desc: 'absolute-form: target host wins, path origin-form', target: 'http://App.test:8080/x?y', hosts: ['app.test:8080'], want: ok('app.test', '/x?y', 'app.test:8080') },
    { desc: 'absolute-form without path', target: 'http://app.test', hosts: ['app.test'], want: ok('app.test', '/', 'app.test') },
    { desc: 'absolute-form with only a query', target: 'http://app.test?q=1', hosts: ['app.test'], want: ok('app.test', '/?q=1', 'app.test') },
    { desc: 'absolute-form, HTTP/1.0 without Host', target: 'http://app.test/', hosts: [], version: '1.0', want: ok('app.test', '/', 'app.test') },
    { desc: 'the crash of issue 10', target: 'http://[/', hosts: ['app.test'], want: { kind: 'invalid', reason: 'malformed host in request-target' } },
    { desc: 'absolute-form Host disagrees', target: 'http://other.test/', hosts: ['app.test'], want: { kind: 'invalid', reason: 'Host differs from the request-target' } },
    { desc: 'userinfo', target: 'http://user@app.test/', hosts: ['app.test'], want: { kind: 'invalid', reason: 'absolute-form without host, or with userinfo' } },
    { desc: 'other scheme', target: 'ftp://app.test/', hosts: ['app.test'], want: { kind: 'invalid', reason: 'scheme "ftp" is not proxied' } },
    { desc: 'fragment', target: 'http://app.test/#x', hosts: ['app.test'], want: { kind: 'invalid', reason: 'unparseable request-target' } },
    { desc: 'two Host fields', target: '/', hosts: ['a.test', 'b.test'], want: { kind: 'invalid', reason: 'more than one Host' } },
    { desc: 'two equal Host fields over HTTP/1.1', target: '/', hosts: ['a.test', 'a.test'], want: { kind: 'invalid', reason: 'more than one Host' } },
    { desc: 'HTTP/2 :authority and equal Host', target: '/', hosts: ['a.test', 'A.test'], version: '2', want: ok('a.test', '/') },
    { desc: 'HTTP/2 :authority and another Host', target: '/', hosts: ['a.test', 'b.test'], version: '2', want: { kind: 'invalid', reason: 'more than one Host' } },
    { desc: 'HTTP/1.1 without Host', target: '/', hosts: [], want: { kind: 'invalid', reason: 'HTTP/1.1 request without Host' } },
    { desc: 'HTTP/1.0 without Host: the default host', target: '/', hosts: [], version: '1.0', want: ok('', '/') },
    { desc: 'Host over 253 characters', target: '/', hosts: ['a'.repeat(254)], want: { kind: 'invalid', reason: 'malformed Host' } },
    { desc: 'OPTIONS *', method: 'OPTIONS', target: '*', hosts: ['a.test'], want: { kind: 'invalid', reason: 'asterisk-form is not served' } },
    { desc: 'authority-form outside CONNECT', target: 'app.test:443', hosts: ['app.test'], want: { kind: 'invalid', reason: 'unparseable request-target' } },
    { desc: 'HTTP/2 :path in absolute-form', target: 'http://a.test/', hosts: ['a.test'], version: '2', want: { kind: 'invalid', reason: 'HTTP/2 :path not in origin-form' } },
    { desc: 'target over 8 KiB', target: `/${'a'.repeat(8192)}`, hosts: ['a.test'], want: { kind: 'invalid', reason: 'request-target too long', status: 414 } },
    { desc: 'empty target', target: '', hosts: ['app.test'], want: { kind: 'invalid', reason: 'unparseable request-target' } }
  ]
  for (const c of cases) t.same(parseRequestHead(c.method ?? 'GET', c.target, c.hosts, c.version ?? '1.1'), c.want, c.desc)
})

t.test('normalizePath: dot-segments removed (also %2e), climbing above the root and bad escapes refused', async (t) => {
  const bad = (reason: string) => ({ kind: 'invalid', reason })
  const cases: Array<[string, unknown]> = [
    ['/', '/'], ['/a/b?x=../..', '/a/b?x=../..'], ['/a/./b', '/a/b'], ['/a/../b', '/b'], ['/a/b/..', '/a/'], ['/a/b/.', '/a/b/'],
    ['/a/%2e%2E/b', '/b'], ['/a/%2e/b', '/a/b'], ['/a/.../b', '/a/.../b'], ['/a/..b/c', '/a/..b/c'], ['/api/../admin', '/admin'],
    ['/..', bad('path climbs above the root')], ['/../etc/passwd', bad('path climbs above the root')], ['/a/../../b', bad('path climbs above the root')],
    ['/%2e%2e/x', bad('path climbs above the root')], ['/%zz', bad('malformed percent-encoding')], ['/a%2', bad('malformed percent-encoding')],
    ['/a?%', bad('malformed percent-encoding')], ['/a b', bad('control character, space, non-ASCII or # in the request-target')], ['/a\u0000', bad('control character, space, non-ASCII or # in the request-target')],
    ['/\u00c3', bad('control character, space, non-ASCII or # in the request-target')], ['/a#b', bad('control character, space, non-ASCII or # in the request-target')]
  ]
  for (const [input, want] of cases) t.same(normalizePath(input), want, input)
})
