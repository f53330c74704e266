import { createHash } from 'node:crypto'
import type { HostTlsSettings, HttpsMethod } from '../routing/desired-state.js'
import type { CertificateEntry, CertificateStore } from './certificate-store.js'
import { DEFAULT_SSL_POLICY, sslPolicy, type SslPolicy } from './policy.js'
import type { ClientVerifyMode, TlsProfile } from './tls-profile.js'

// nginx-proxy 1.7's per-virtual-host TLS decision (nginx.tmpl, the vhost loop): which certificate
// the host's HTTPS server presents, its effective HTTPS_METHOD after the missing-certificate
// switch, its HSTS header and its redirect status for non-GET methods. Pure but for the
// certificate store's current files; the router and the TLS listener both ask it.

export type RedirectStatus = 301 | 307 | 308
export const REDIRECT_STATUSES: readonly RedirectStatus[] = [301, 307, 308]

/** Proxy-wide values (proxy container env); containers override them per host. */
export interface TlsDefaults {
  httpsMethod: HttpsMethod
  /** 'off' disables. */
  hsts: string
  /** TRUST_DEFAULT_CERT: default.crt serves hosts without a certificate of their own. */
  trustDefaultCert: boolean
  /** ENABLE_HTTP_ON_MISSING_CERT: redirect/nohttp hosts without a certificate fall back to noredirect. */
  enableHttpOnMissingCert: boolean
  /** NON_GET_REDIRECT: the redirect status for OPTIONS, POST, PUT, PATCH and DELETE. */
  nonGetRedirect: RedirectStatus
  /** ENABLE_HTTP2: h2 offered by ALPN (default true). */
  http2?: boolean | undefined
  /** SSL_POLICY (default Mozilla-Intermediate). */
  sslPolicy?: SslPolicy | undefined
}

export const DEFAULT_TLS_DEFAULTS: Omit<TlsDefaults, 'httpsMethod' | 'hsts'> = {
  trustDefaultCert: true,
  enableHttpOnMissingCert: true,
  nonGetRedirect: 301
}

export interface HostTls {
  /** After the missing-certificate switch: what the host's HTTP and HTTPS servers do. */
  httpsMethod: HttpsMethod
  /** What a handshake for this host presents; undefined: the handshake is rejected (unrecognized_name). */
  cert: CertificateEntry | undefined
  /** Strict-Transport-Security for HTTPS responses; undefined: none. */
  hsts: string | undefined
  nonGetRedirect: RedirectStatus
  /** ALPN offers h2 for this host (ENABLE_HTTP2, the http2.enable label); else http/1.1 only. */
  http2: boolean
  /** SSL_POLICY and client verification: which TLS server and SecureContext its handshakes get. */
  profile: TlsProfile
}

export function hostTls (vhost: string, settings: HostTlsSettings, certs: CertificateStore, defaults: TlsDefaults): HostTls {
  const trustDefault = settings.trustDefaultCert ?? defaults.trustDefaultCert
  const cert = certs.certificateFor(vhost, settings.certName, trustDefault)
  let httpsMethod = settings.httpsMethod ?? defaults.httpsMethod
  // "When no trusted certs (default and/or vhost) are present we want to ensure that HTTP is
  // enabled; hence switching from 'nohttp' or 'redirect' to 'noredirect'" (nginx.tmpl).
  if ((httpsMethod === 'redirect' || httpsMethod === 'nohttp') && cert === undefined && (settings.enableHttpOnMissingCert ?? defaults.enableHttpOnMissingCert)) {
    httpsMethod = 'noredirect'
  }
  const hsts = (settings.hsts ?? defaults.hsts).trim()
  return {
    httpsMethod,
    cert,
    // add_header Strict-Transport-Security only in a server block with a usable certificate,
    // and neither for noredirect nor HSTS=off (nohttps has no HTTPS server at all).
    hsts: cert === undefined || httpsMethod === 'noredirect' || httpsMethod === 'nohttps' || hsts === 'off' || hsts === '' ? undefined : hsts,
    nonGetRedirect: settings.nonGetRedirect ?? defaults.nonGetRedirect,
    http2: settings.http2 ?? defaults.http2 ?? true,
    profile: {
      // A container's unknown SSL_POLICY is dropped (warned) by virtual-host.ts: nginx.tmpl writes nothing, the proxy's applies.
      policy: (settings.sslPolicy === undefined ? undefined : sslPolicy(settings.sslPolicy)) ?? defaults.sslPolicy ?? DEFAULT_SSL_POLICY,
      clientVerify: clientVerification(vhost, settings.sslVerifyClient, certs)
    }
  }
}

/**
 * nginx.tmpl's "SSL Client Certificate Validation": `<vhost file name>.ca.crt` (a ~regex host: the
 * SHA-1 of the entry) with its `<name>.crl.pem`, else the global `ca.crt` with `ca.crl.pem`, under
 * ssl_verify_client = the label's value, default on. No CA file: nothing is verified, whatever the label.
 * A value nginx would refuse (warned by virtual-host.ts) verifies as `on`: never less than asked.
 */
function clientVerification (vhost: string, label: string | undefined, certs: CertificateStore): TlsProfile['clientVerify'] {
  const mode = label === 'off' ? undefined : label === 'optional' || label === 'optional_no_ca' ? label : 'on' satisfies ClientVerifyMode
  if (mode === undefined) return undefined
  const fileName = vhost.startsWith('~') ? createHash('sha1').update(vhost).digest('hex') : vhost
  const own = certs.clientCa(fileName)
  if (own !== undefined) return { mode, ca: own, crl: certs.crl(fileName) }
  const global = certs.clientCa('ca')
  return global === undefined ? undefined : { mode, ca: global, crl: certs.crl('ca') }
}

/**
 * nginx-proxy's redirect server: `if ($request_method ~ (OPTIONS|POST|PUT|PATCH|DELETE))`, an
 * unanchored case-sensitive regex (so PROPPATCH matches too); every other method gets 301.
 */
export function redirectStatus (method: string, tls: HostTls): RedirectStatus {
  return /OPTIONS|POST|PUT|PATCH|DELETE/.test(method) ? tls.nonGetRedirect : 301
}
