import t from 'tap'
import { serveOptionsFromEnv } from '../../src/config/env.ts'
import { DEFAULT_SERVE_OPTIONS, parseAcmeChallengeLocation } from '../../src/config/options.ts'
import type { ContainerInfo } from '../../src/docker/container-info.ts'
import { parseContainer } from '../../src/docker/virtual-host.ts'

// nginx-proxy reads ACME_HTTP_CHALLENGE_LOCATION as "legacy" or Go's ParseBool (nginx.tmpl,
// `parseBool $acme_http_challenge`), default "true"; ACME_HTTP_CHALLENGE_ACCEPT_UNKNOWN_HOST
// default "false".

t.test('ACME_HTTP_CHALLENGE_LOCATION values', async (t) => {
  const cases: Array<{ value: string, want: boolean | 'legacy' }> = [
    { value: 'true', want: true }, { value: 'True', want: true }, { value: 'TRUE', want: true }, { value: 't', want: true }, { value: '1', want: true },
    { value: 'false', want: false }, { value: 'F', want: false }, { value: '0', want: false }, { value: ' false ', want: false },
    { value: 'legacy', want: 'legacy' }
  ]
  for (const { value, want } of cases) t.equal(parseAcmeChallengeLocation(value, 'X'), want, JSON.stringify(value))
  t.throws(() => parseAcmeChallengeLocation('sometimes', 'ACME_HTTP_CHALLENGE_LOCATION'), { code: 'PROXY_ERR_INVALID_OPTION' })
})

t.test('proxy env: defaults true / false, both read', async (t) => {
  t.equal(DEFAULT_SERVE_OPTIONS.acmeChallenge, true)
  t.equal(DEFAULT_SERVE_OPTIONS.acmeAcceptUnknownHost, false)
  t.same(serveOptionsFromEnv({}), {})
  t.same(serveOptionsFromEnv({ ACME_HTTP_CHALLENGE_LOCATION: 'legacy', ACME_HTTP_CHALLENGE_ACCEPT_UNKNOWN_HOST: 'true' }), { acmeChallenge: 'legacy', acmeAcceptUnknownHost: true })
  t.same(serveOptionsFromEnv({ ACME_HTTP_CHALLENGE_LOCATION: 'false' }), { acmeChallenge: false })
  t.throws(() => serveOptionsFromEnv({ ACME_HTTP_CHALLENGE_LOCATION: 'maybe' }), { code: 'PROXY_ERR_INVALID_OPTION' })
})

t.test('app container ACME_HTTP_CHALLENGE_LOCATION: carried with the host\'s settings; invalid is a warning', async (t) => {
  const c = (env: Record<string, string>): ContainerInfo => ({ id: 'c', name: 'c', running: true, env: { VIRTUAL_HOST: 'a.com', ...env }, labels: {}, exposedPorts: [], networks: [], networkMode: 'bridge', health: 'none' })
  const cases: Array<{ desc: string, env: Record<string, string>, acme: boolean | 'legacy' | undefined, warnings: number }> = [
    { desc: 'unset: the proxy\'s', env: {}, acme: undefined, warnings: 0 },
    { desc: 'empty: the proxy\'s', env: { ACME_HTTP_CHALLENGE_LOCATION: '' }, acme: undefined, warnings: 0 },
    { desc: 'false', env: { ACME_HTTP_CHALLENGE_LOCATION: 'false' }, acme: false, warnings: 0 },
    { desc: 'true', env: { ACME_HTTP_CHALLENGE_LOCATION: 'true' }, acme: true, warnings: 0 },
    { desc: 'legacy', env: { ACME_HTTP_CHALLENGE_LOCATION: 'legacy' }, acme: 'legacy', warnings: 0 },
    { desc: 'invalid: routed, warned, the proxy\'s', env: { ACME_HTTP_CHALLENGE_LOCATION: 'yes please' }, acme: undefined, warnings: 1 }
  ]
  for (const { desc, env, acme, warnings } of cases) {
    const r = parseContainer(c(env))
    if (r.kind !== 'ok') { t.fail(`${desc}: ${r.kind}`); continue }
    t.equal(r.routes.tls.acmeChallenge, acme, desc)
    t.equal('acmeChallenge' in r.routes.tls, acme !== undefined, `${desc}: key present only when set`)
    t.equal(r.routes.warnings.filter((w) => w.includes('ACME_HTTP_CHALLENGE_LOCATION')).length, warnings, `${desc}: warnings`)
  }
})
