import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import type { AcmeChallengeLocation, HttpsMethod } from '../../src/routing/desired-state.ts'
import { DEFAULT_ACME_OPTIONS, type AcmeOptions } from '../../src/proxy/request-router.ts'
import { installCert, makeCert } from '../support/certs.ts'
import { get, type Reply } from '../support/http-client.ts'
import { h2Get, httpsGet } from '../support/https-client.ts'
import { route, startHarness, type Harness } from '../support/proxy-harness.ts'
import { startUpstream } from '../support/upstream.ts'

// Issue 15, items 3 and 6: which server blocks of nginx-proxy's nginx.tmpl (584073da) have the ACME
// location, with nginx-proxy's own test matrix (test/test_acme-http-challenge-location/*).

const TOKEN = '/.well-known/acme-challenge/test-filename'
const CHALLENGE = 'challenge-teststring\n'
const APP = `app ${TOKEN}`

// One certificate for every *.acme.test host (found as the parent domain's), made once.
const pair = makeCert('acme.test', ['acme.test', '*.acme.test'])
const defaultPair = makeCert('default-cert')

interface Setup { h: Harness, up: number }

async function setup (t: Test, opts: { acme?: Partial<AcmeOptions>, defaultCert?: boolean, defaultHost?: string, htpasswd?: Record<string, string> } = {}): Promise<Setup> {
  const htmlDir = mkdtempSync(join(tmpdir(), 'pxt-html-'))
  mkdirSync(join(htmlDir, '.well-known', 'acme-challenge'), { recursive: true })
  writeFileSync(join(htmlDir, TOKEN), CHALLENGE)
  const certsDir = mkdtempSync(join(tmpdir(), 'pxt-certs-'))
  installCert(certsDir, 'acme.test', pair)
  if (opts.defaultCert === true) installCert(certsDir, 'default', defaultPair)
  const htpasswdDir = mkdtempSync(join(tmpdir(), 'pxt-htpasswd-'))
  for (const [name, text] of Object.entries(opts.htpasswd ?? {})) writeFileSync(join(htpasswdDir, name), text)
  const up = await startUpstream((req, res) => { res.end(`app ${req.url ?? ''}`) })
  const h = await startHarness({
    certsDir,
    htpasswdDir,
    proxy: { htmlDir, acme: { ...DEFAULT_ACME_OPTIONS, ...opts.acme } },
    reconciler: { defaultHost: opts.defaultHost }
  })
  t.teardown(async () => {
    await h.stop(); await up.close()
    rmSync(htmlDir, { recursive: true, force: true }); rmSync(certsDir, { recursive: true, force: true })
    rmSync(htpasswdDir, { recursive: true, force: true })
  })
  return { h, up: up.port }
}

function host (name: string, up: number, httpsMethod?: HttpsMethod, acmeChallenge?: AcmeChallengeLocation) {
  return route(name, [up], { tls: { httpsMethod, hsts: undefined, certName: undefined, ...(acmeChallenge !== undefined ? { acmeChallenge } : {}) } })
}

/** nginx-proxy's test hosts: web1 redirect, web2 redirect with a container value, web3 noredirect, web4 noredirect with one. */
async function matrix (s: Setup, containerValue: boolean): Promise<void> {
  s.h.apply([
    host('web1.acme.test', s.up),
    host('web2.acme.test', s.up, undefined, containerValue),
    host('web3.acme.test', s.up, 'noredirect'),
    host('web4.acme.test', s.up, 'noredirect', containerValue)
  ])
  await s.h.waitReady(1)
}

const what = (r: Reply): string => r.body === CHALLENGE ? 'challenge' : r.body === APP ? 'app' : `${r.status}`

t.test('ACME_HTTP_CHALLENGE_LOCATION unset (true): redirecting and noredirect hosts serve challenges, ACME_HTTP_CHALLENGE_LOCATION=false on a container turns it off', async (t) => {
  const s = await setup(t)
  await matrix(s, false)
  const web1 = await get(s.h.port, 'web1.acme.test', TOKEN)
  t.equal(web1.status, 200)
  t.equal(web1.body, CHALLENGE)
  t.equal((await get(s.h.port, 'web1.acme.test', '/')).status, 301, 'the rest of a redirecting host still redirects')
  t.equal((await get(s.h.port, 'web2.acme.test', TOKEN)).status, 301, 'redirect host, container false: redirected like any path')
  t.equal(what(await get(s.h.port, 'web3.acme.test', TOKEN)), 'challenge', 'noredirect host')
  t.equal(what(await get(s.h.port, 'web4.acme.test', TOKEN)), 'app', 'noredirect host, container false: the app answers the path')
  const unknown = await get(s.h.port, 'web-unknown.acme.test', TOKEN)
  t.equal(unknown.status, 503, 'no challenge files for a name no container serves')
  t.not(unknown.body, CHALLENGE)
})

t.test('ACME_HTTP_CHALLENGE_LOCATION=false on the proxy: containers opt in with true', async (t) => {
  const s = await setup(t, { acme: { location: false } })
  await matrix(s, true)
  t.equal((await get(s.h.port, 'web1.acme.test', TOKEN)).status, 301)
  t.equal(what(await get(s.h.port, 'web2.acme.test', TOKEN)), 'challenge')
  t.equal(what(await get(s.h.port, 'web3.acme.test', TOKEN)), 'app')
  t.equal(what(await get(s.h.port, 'web4.acme.test', TOKEN)), 'challenge')
  t.equal((await get(s.h.port, 'web-unknown.acme.test', TOKEN)).status, 503)
})

t.test('ACME_HTTP_CHALLENGE_LOCATION=legacy: only hosts that redirect to HTTPS (so have a certificate)', async (t) => {
  const s = await setup(t, { acme: { location: 'legacy' } })
  s.h.apply([
    host('web1.acme.test', s.up),
    host('web2.acme.test', s.up, 'noredirect'),
    host('nocert.example', s.up) // redirect, but no certificate: served over HTTP as noredirect
  ])
  await s.h.waitReady(1)
  t.equal(what(await get(s.h.port, 'web1.acme.test', TOKEN)), 'challenge')
  t.equal(what(await get(s.h.port, 'web2.acme.test', TOKEN)), 'app')
  t.equal(what(await get(s.h.port, 'nocert.example', TOKEN)), 'app')
  t.equal((await get(s.h.port, 'web-unknown.acme.test', TOKEN)).status, 503)
})

t.test('ACME_HTTP_CHALLENGE_ACCEPT_UNKNOWN_HOST=true: the fallback server serves challenges, over HTTP and HTTPS', async (t) => {
  const s = await setup(t, { acme: { acceptUnknownHost: true }, defaultCert: true })
  await matrix(s, false)
  t.equal(what(await get(s.h.port, 'web-unknown.acme.test', TOKEN)), 'challenge')
  t.equal((await get(s.h.port, 'web-unknown.acme.test', '/')).status, 503, 'other paths of unknown names: 503')
  t.equal((await get(s.h.port, 'web2.acme.test', TOKEN)).status, 301, 'a known host keeps its own setting')
  const tls = await httpsGet(s.h.httpsPort, 'other.example', TOKEN)
  t.equal(tls.body, CHALLENGE, 'over HTTPS too (default certificate), as the fallback server listens on both')
})

t.test('nohttp: nothing over HTTP, the challenge included (nginx-proxy has no HTTP server for the host)', async (t) => {
  const s = await setup(t)
  s.h.apply([host('tlsonly.acme.test', s.up, 'nohttp')])
  await s.h.waitReady(1)
  const r = await get(s.h.port, 'tlsonly.acme.test', TOKEN)
  t.equal(r.status, 503)
  t.not(r.body, CHALLENGE)
  t.equal((await httpsGet(s.h.httpsPort, 'tlsonly.acme.test', TOKEN)).body, APP, 'over HTTPS the path is the app\'s')
})

t.test('nohttp with ACME_HTTP_CHALLENGE_ACCEPT_UNKNOWN_HOST: the fallback server that answers its HTTP requests serves challenges', async (t) => {
  const s = await setup(t, { acme: { acceptUnknownHost: true } })
  s.h.apply([host('tlsonly.acme.test', s.up, 'nohttp')])
  await s.h.waitReady(1)
  t.equal(what(await get(s.h.port, 'tlsonly.acme.test', TOKEN)), 'challenge')
  t.equal((await get(s.h.port, 'tlsonly.acme.test', '/')).status, 503)
})

t.test('nohttps: no ACME location at all: over HTTP the app answers the path, over HTTPS no challenge', async (t) => {
  const s = await setup(t, { defaultCert: true })
  s.h.apply([host('plain.acme.test', s.up, 'nohttps')])
  await s.h.waitReady(1)
  t.equal(what(await get(s.h.port, 'plain.acme.test', TOKEN)), 'app')
  const tls = await httpsGet(s.h.httpsPort, 'plain.acme.test', TOKEN)
  t.equal(tls.status, 503, 'the fallback server answers it over HTTPS')
  t.not(tls.body, CHALLENGE)
})

t.test('over HTTPS: a noredirect host serves the challenge (one server block for both schemes), a redirecting host\'s HTTPS server proxies it', async (t) => {
  const s = await setup(t)
  await matrix(s, false)
  t.equal((await httpsGet(s.h.httpsPort, 'web3.acme.test', TOKEN)).body, CHALLENGE)
  t.equal((await h2Get(s.h.httpsPort, 'web3.acme.test', TOKEN)).body, CHALLENGE, 'HTTP/2 too')
  t.equal((await httpsGet(s.h.httpsPort, 'web1.acme.test', TOKEN)).body, APP)
  t.equal((await httpsGet(s.h.httpsPort, 'web4.acme.test', TOKEN)).body, APP, 'noredirect with false: the app\'s')
})

t.test('DEFAULT_HOST: an unknown name gets the default host\'s server, its ACME location included', async (t) => {
  const s = await setup(t, { defaultHost: 'web1.acme.test' })
  await matrix(s, false)
  t.equal(what(await get(s.h.port, 'web-unknown.acme.test', TOKEN)), 'challenge')
})

t.test('challenges skip the host\'s authentication, as nginx-proxy\'s location (auth_basic off)', async (t) => {
  const s = await setup(t, { htpasswd: { 'web2.acme.test': 'alice:{SHA}qUqP5cyxm6YcTAhz05Hph5gvu9M=\n' } })
  s.h.apply([host('web2.acme.test', s.up)])
  await s.h.waitReady(1)
  t.equal(what(await get(s.h.port, 'web2.acme.test', TOKEN)), 'challenge', 'an htpasswd file')
  t.equal((await httpsGet(s.h.httpsPort, 'web2.acme.test', '/')).status, 401, 'the rest of the host asks for credentials')
})
