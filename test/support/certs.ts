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
