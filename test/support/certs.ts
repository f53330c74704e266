import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** A fresh self-signed EC certificate for `cn` (+ SANs), made with openssl. */
export function makeCert (cn: string, sans: string[] = [cn]): { cert: string, key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'pxt-cert-'))
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'), '-days', '2', '-subj', `/CN=${cn}`,
    '-addext', `subjectAltName=${sans.map((s) => `DNS:${s}`).join(',')}`
  ], { stdio: 'ignore' })
  return { cert: readFileSync(join(dir, 'c.pem'), 'utf8'), key: readFileSync(join(dir, 'k.pem'), 'utf8') }
}

/** Writes <name>.crt and <name>.key the way an operator or acme-companion would (replace in place). */
export function installCert (dir: string, name: string, pair: { cert: string, key: string }): void {
  writeFileSync(join(dir, `.${name}.crt.tmp`), pair.cert)
  renameSync(join(dir, `.${name}.crt.tmp`), join(dir, `${name}.crt`))
  writeFileSync(join(dir, `.${name}.key.tmp`), pair.key)
  renameSync(join(dir, `.${name}.key.tmp`), join(dir, `${name}.key`))
}

export interface TestCa { cert: string, key: string, dir: string }

/** A CA (self-signed, CA:TRUE) that signs client certificates and CRLs, made with openssl. */
export function makeCa (cn: string): TestCa {
  const dir = mkdtempSync(join(tmpdir(), 'pxt-ca-'))
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', join(dir, 'ca.key'), '-out', join(dir, 'ca.pem'), '-days', '2', '-subj', `/CN=${cn}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'
  ], { stdio: 'ignore' })
  writeFileSync(join(dir, 'index.txt'), '')
  writeFileSync(join(dir, 'crlnumber'), '01\n')
  writeFileSync(join(dir, 'ca.cnf'), [
    '[ca]', 'default_ca = d', '[d]', `database = ${join(dir, 'index.txt')}`, `crlnumber = ${join(dir, 'crlnumber')}`,
    `certificate = ${join(dir, 'ca.pem')}`, `private_key = ${join(dir, 'ca.key')}`, 'default_md = sha256', 'default_crl_days = 2', ''
  ].join('\n'))
  return { cert: readFileSync(join(dir, 'ca.pem'), 'utf8'), key: readFileSync(join(dir, 'ca.key'), 'utf8'), dir }
}

/** A client certificate (extendedKeyUsage clientAuth) for `cn`, signed by `ca`. */
export function signClientCert (ca: TestCa, cn: string): { cert: string, key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'pxt-client-'))
  execFileSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'r.csr'), '-subj', `/CN=${cn}`], { stdio: 'ignore' })
  writeFileSync(join(dir, 'ext.cnf'), 'extendedKeyUsage = clientAuth\n')
  execFileSync('openssl', [
    'x509', '-req', '-in', join(dir, 'r.csr'), '-CA', join(ca.dir, 'ca.pem'), '-CAkey', join(ca.dir, 'ca.key'), '-set_serial', String(Date.now() * 1000 + Math.floor(Math.random() * 1000)),
    '-days', '2', '-sha256', '-extfile', join(dir, 'ext.cnf'), '-out', join(dir, 'c.pem')
  ], { stdio: 'ignore' })
  return { cert: readFileSync(join(dir, 'c.pem'), 'utf8'), key: readFileSync(join(dir, 'k.pem'), 'utf8') }
}

/** A CRL from `ca` revoking `revoked` (PEM certificates it signed). */
export function makeCrl (ca: TestCa, revoked: string[]): string {
  for (const cert of revoked) {
    const file = join(mkdtempSync(join(tmpdir(), 'pxt-rev-')), 'c.pem')
    writeFileSync(file, cert)
    execFileSync('openssl', ['ca', '-config', join(ca.dir, 'ca.cnf'), '-revoke', file], { stdio: 'ignore' })
  }
  execFileSync('openssl', ['ca', '-config', join(ca.dir, 'ca.cnf'), '-gencrl', '-out', join(ca.dir, 'crl.pem')], { stdio: 'ignore' })
  return readFileSync(join(ca.dir, 'crl.pem'), 'utf8')
}
