import type { HostRoutes } from '../routing/route-table.js'
import type { HostTls } from '../tls/host-tls.js'

// nginx-proxy's /nginx-proxy-debug location (nginx.tmpl "debug_location", 1.6+): a JSON
// description of the global settings, the request and the virtual host, with nginx-proxy's field
// names where proxyctl has the value. Built from the route table per request (pure): settings,
// names and addresses only, never certificate or key material, never htpasswd contents.

export const DEBUG_PATH = '/nginx-proxy-debug'
/** nginx-proxy strips `vhost.paths` (and says so) when the JSON would exceed this (nginx's line limit). */
export const MAX_DEBUG_JSON = 4000
export const PATHS_STRIPPED_WARNING = 'Virtual paths configuration for this hostname is too large and has been stripped from response.'
export const REGEX_HOSTNAME = 'Hostname is a regexp and unsafe to include in the debug response.'

/** The proxy's settings under nginx-proxy's `global` names (daemon.ts builds it from the options). */
export type DebugGlobals = Readonly<Record<string, string | number | boolean | null>>

export interface DebugRequest {
  host: string
  https: boolean
  http2: boolean
  sslCipher: string | undefined
  sslProtocol: string | undefined
}

export interface DebugHost {
  routes: HostRoutes
  tls: HostTls | undefined
  /** DEFAULT_HOST names this host. */
  isDefault: boolean
  /** The host's ACME_HTTP_CHALLENGE_LOCATION (container, else the proxy's). */
  acme: boolean | 'legacy'
  /** The host's effective EXTERNAL_HTTP(S)_PORT. */
  ports: { http: number, https: number | undefined }
}

export function debugResponse (global: DebugGlobals, request: DebugRequest, host: DebugHost): string {
  const { routes, tls } = host
  const isRegexp = routes.host.startsWith('~')
  const paths: Record<string, unknown> = {}
  for (const loc of [...routes.locations].sort((a, b) => a.path.localeCompare(b.path))) {
    const ports: Record<string, Array<{ Name: string, address: string, state: string }>> = {}
    let proto = 'http'
    for (const t of loc.balancer.targets) {
      proto = t.spec.protocol
      ;(ports[String(t.spec.port)] ??= []).push({ Name: t.name, address: t.spec.address, state: t.state })
    }
    paths[loc.path] = {
      dest: loc.dest,
      network_tag: loc.internalOnly ? 'internal' : 'external',
      ports,
      proto,
      keepalive: loc.balancer.targets.some((t) => t.spec.keepAlive === false) ? 'disabled' : 'auto',
      ...(loc.maxBodyBytes !== undefined ? { max_body_bytes: loc.maxBodyBytes } : {})
    }
  }
  const vhost: Record<string, unknown> = {
    acme_http_challenge_enabled: host.acme === true,
    acme_http_challenge_legacy: host.acme === 'legacy',
    cert: tls?.cert?.name ?? '',
    cert_ok: tls?.cert !== undefined,
    default: host.isDefault,
    enable_debug_endpoint: true,
    external_http_port: String(host.ports.http),
    external_https_port: host.ports.https === undefined ? null : String(host.ports.https),
    hostname: isRegexp ? REGEX_HOSTNAME : routes.host,
    hsts: routes.tls.hsts ?? global.hsts ?? null,
    http2_enabled: tls?.http2 ?? false,
    http3_enabled: false,
    https_method: tls?.httpsMethod ?? 'noredirect',
    is_regexp: isRegexp,
    non_get_redirect: String(tls?.nonGetRedirect ?? 301),
    paths
  }
  const response: Record<string, unknown> = {
    global,
    request: {
      host: request.host,
      https: request.https ? 'on' : '',
      http2: request.http2 ? 'h2' : '',
      http3: '',
      ssl_cipher: request.sslCipher ?? '',
      ssl_protocol: request.sslProtocol ?? ''
    },
    vhost
  }
  let json = JSON.stringify(response)
  if (json.length > MAX_DEBUG_JSON) {
    delete vhost.paths
    response.warning = PATHS_STRIPPED_WARNING
    json = JSON.stringify(response)
  }
  return `${json}\n`
}
