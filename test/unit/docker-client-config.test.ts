import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { connectEngine, dockerTlsFiles, parseContainerFilters } from '../../src/docker/docker-client.ts'

t.test('DOCKER_CONTAINER_FILTERS as docker-gen reads it: comma-separated key=value, repeated keys kept', async (t) => {
  t.equal(parseContainerFilters(undefined), undefined)
  t.equal(parseContainerFilters('  '), undefined)
  t.same(parseContainerFilters('label=com.example.proxied=true, network=front ,label=tier'), { label: ['com.example.proxied=true', 'tier'], network: ['front'] })
  t.throws(() => parseContainerFilters('label'), { code: 'PROXY_ERR_INVALID_OPTION' })
})

t.test('DOCKER_TLS_VERIFY and DOCKER_CERT_PATH: ca/cert/key read as undici connect options, missing files named', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'proxyctl-docker-tls-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  writeFileSync(join(dir, 'ca.pem'), 'CA')
  writeFileSync(join(dir, 'cert.pem'), 'CERT')
  const partial = dockerTlsFiles({ DOCKER_CERT_PATH: dir })
  t.same(Object.keys(partial.options).sort(), ['ca', 'cert'])
  t.same(partial.missing, [join(dir, 'key.pem')])
  writeFileSync(join(dir, 'key.pem'), 'KEY')
  const full = dockerTlsFiles({ DOCKER_CERT_PATH: dir })
  t.equal(full.missing, undefined)
  t.equal(full.options.key?.toString(), 'KEY')

  const tcp = connectEngine({ DOCKER_HOST: 'tcp://127.0.0.1:2376', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: dir })
  t.teardown(async () => { await tcp.api.close() })
  t.same(tcp.warnings, [])
  const plain = connectEngine({ DOCKER_HOST: 'tcp://127.0.0.1:2375', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: join(dir, 'nope') })
  t.teardown(async () => { await plain.api.close() })
  t.match(plain.warnings[0], /DOCKER_TLS_VERIFY is set but .*ca\.pem, .*cert\.pem, .*key\.pem are missing/)
})
