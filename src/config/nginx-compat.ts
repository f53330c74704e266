import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'

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
  return out
}

/** nginx-proxy settings of the proxy container that proxyctl does not follow: said, never silently. */
export function nginxOnlyEnvWarnings (env: NodeJS.ProcessEnv): Array<{ setting: string, message: string }> {
  const out: Array<{ setting: string, message: string }> = []
  const policy = env.SSL_POLICY?.trim()
  if (policy !== undefined && policy !== '' && policy !== 'Mozilla-Intermediate') {
    out.push({ setting: 'SSL_POLICY', message: `SSL_POLICY=${policy} is not supported: proxyctl uses nginx-proxy's default, Mozilla-Intermediate (TLS 1.2 and 1.3, AEAD suites, the client's order)` })
  }
  return out
}
