import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { sslPolicy } from '../tls/policy.js'
import { parseDefaultRoot } from '../proxy/default-root.js'

/**
 * nginx-only files a user of nginx-proxy may still mount: never an error, but say what proxyctl
 * does instead, naming the file.
 */
export function nginxOnlyWarnings (nginxRoot: string): Array<{ file: string, message: string }> {
  const out: Array<{ file: string, message: string }> = []
  const list = (dir: string): string[] => {
    try { return statSync(dir).isDirectory() ? readdirSync(dir) : [] } catch { return [] }
  }
  // vhost.d is read by VhostStore (src/vhost/vhost-store.ts), which warns per directive.
  const proxyConf = join(nginxRoot, 'proxy.conf')
  if (existsSync(proxyConf)) {
    out.push({ file: proxyConf, message: `${proxyConf} is ignored: proxyctl sets nginx-proxy's forwarded headers itself and takes timeouts from its flags (proxyctl serve --help)` })
  }
  for (const f of list(join(nginxRoot, 'conf.d')).filter((n) => n.endsWith('.conf'))) {
    const file = join(nginxRoot, 'conf.d', f)
    out.push({ file, message: `${file} is nginx configuration and is ignored: proxyctl has no nginx; see README "How it differs from nginx-proxy"` })
  }
  for (const f of list(join(nginxRoot, 'toplevel.conf.d')).filter((n) => n.endsWith('.conf'))) {
    const file = join(nginxRoot, 'toplevel.conf.d', f)
    out.push({ file, message: `${file} is ignored: proxyctl has no nginx stream module (TCP/UDP proxying); it proxies HTTP only` })
  }
  const dhparams = [join(nginxRoot, 'dhparam', 'dhparam.pem'), ...list(join(nginxRoot, 'certs')).filter((n) => n.endsWith('.dhparam.pem')).map((n) => join(nginxRoot, 'certs', n))]
  for (const file of dhparams.filter((f) => existsSync(f))) {
    out.push({ file, message: `${file} is not read: proxyctl's TLS (Node/OpenSSL) uses ECDHE and OpenSSL's built-in RFC 7919 groups, no custom Diffie-Hellman parameters` })
  }
  // errors/50x.html is served by ErrorPage (src/proxy/error-page.ts), which warns about a bad file.
  // Client CA and CRL files (certs/*.ca.crt, ca.crt, *.crl.pem) are read by CertificateStore (mutual TLS).
  return out
}

/** nginx-proxy settings of the proxy container that proxyctl does not follow: said, never silently. */
export function nginxOnlyEnvWarnings (env: NodeJS.ProcessEnv): Array<{ setting: string, message: string }> {
  const out: Array<{ setting: string, message: string }> = []
  const http3 = env.ENABLE_HTTP3?.trim().toLowerCase()
  if (http3 !== undefined && ['1', 't', 'true', 'yes', 'on'].includes(http3)) {
    out.push({ setting: 'ENABLE_HTTP3', message: 'ENABLE_HTTP3 is not supported: proxyctl has no HTTP/3 (QUIC) listener; HTTPS is served over HTTP/2 and HTTP/1.1 on TCP' })
  }
  const policy = env.SSL_POLICY?.trim()
  if (policy !== undefined && policy !== '' && sslPolicy(policy) === undefined) {
    out.push({ setting: 'SSL_POLICY', message: `SSL_POLICY=${policy} is not one of nginx-proxy's policies: proxyctl uses the default, Mozilla-Intermediate (TLS 1.2 and 1.3, AEAD suites, the client's order)` })
  }
  const set = (name: string): string | undefined => { const v = env[name]?.trim(); return v === undefined || v === '' ? undefined : v }
  const isTrue = (name: string): boolean => /^(1|t|true|yes|on)$/i.test(set(name) ?? '')
  const warn = (setting: string, message: string): void => { out.push({ setting, message: `${setting}=${set(setting) ?? ''} ${message}` }) }
  for (const name of ['LOG_FORMAT', 'LOG_FORMAT_ESCAPE']) {
    if (set(name) !== undefined) warn(name, 'is not read: proxyctl\'s access log is always one JSON line per request with fixed keys (README "Forwarding"); LOG_JSON needs nothing')
  }
  // DEFAULT_ROOT, DEBUG_ENDPOINT and PREFER_IPV6_NETWORK are followed; a DEFAULT_ROOT nginx would refuse is said here.
  const root = set('DEFAULT_ROOT')
  const parsed = root === undefined ? undefined : parseDefaultRoot(root)
  if (parsed !== undefined && 'error' in parsed) warn('DEFAULT_ROOT', `is not followed (${parsed.error}): a path no VIRTUAL_PATH of a host matches is answered 404`)
  if (set('DHPARAM_BITS') !== undefined || isTrue('DHPARAM_SKIP')) warn(set('DHPARAM_BITS') !== undefined ? 'DHPARAM_BITS' : 'DHPARAM_SKIP', 'has no effect: proxyctl\'s TLS (Node/OpenSSL) uses ECDHE and OpenSSL\'s built-in RFC 7919 groups, no Diffie-Hellman parameter file')
  const notApplicable: Record<string, string> = {
    RESOLVERS: 'is not applicable: upstream addresses come from Docker, proxyctl resolves no names',
    SHA1_UPSTREAM_NAME: 'is not applicable: it names nginx upstream blocks, which proxyctl has none of',
    NGINX_CONTAINER_LABEL: 'is not applicable: it is for docker-gen in a separate-containers setup; proxyctl is one container'
  }
  for (const [name, message] of Object.entries(notApplicable)) if (set(name) !== undefined) warn(name, message)
  return out
}
