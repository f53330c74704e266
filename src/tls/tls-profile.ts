import { createHash } from 'node:crypto'
import { createSecureContext, type SecureContext } from 'node:tls'
import type { CertificateEntry, PemFile } from './certificate-store.js'
import { DEFAULT_SSL_POLICY, policyOptions, type SslPolicy } from './policy.js'

// A host's TLS profile: what its handshakes need beyond its certificate. The policy's protocol
// versions and cipher list, and whether a client certificate is asked for, are fixed when the
// TLS socket is made, before the ClientHello's SNI is read; the CA and CRL are not (they live in the
// SecureContext SNICallback switches to). So a profile has two halves: `serverKey` picks the TLS
// server object (proxy/tls-profile-servers.ts), `contextFor` the per-host SecureContext.

/** nginx's ssl_verify_client values that verify (off: no profile asks for certificates). */
export type ClientVerifyMode = 'on' | 'optional' | 'optional_no_ca'

export interface ClientVerification {
  mode: ClientVerifyMode
  /** ssl_client_certificate: `<host>.ca.crt`, else `ca.crt`. */
  ca: PemFile
  /** ssl_crl: the CRL beside the CA file that applies (`<host>.crl.pem` or `ca.crl.pem`). */
  crl: PemFile | undefined
}

export interface TlsProfile {
  policy: SslPolicy
  clientVerify: ClientVerification | undefined
}

export const DEFAULT_TLS_PROFILE: TlsProfile = { policy: DEFAULT_SSL_POLICY, clientVerify: undefined }

/** The TLS server a profile's handshakes run on: one per policy, and per whether certificates are asked for. */
export function serverKey (profile: TlsProfile): string {
  return profile.clientVerify === undefined ? profile.policy.name : `${profile.policy.name}+client-cert`
}

/**
 * Per-host SecureContexts for profiles other than the certificate store's own (Mozilla-Intermediate,
 * no client CA), cached per certificate pair: a renewed pair is a new entry, so old contexts go
 * with the old entry.
 */
export class ProfileContexts {
  #cache = new WeakMap<CertificateEntry, Map<string, SecureContext>>()

  /** Throws when the CA or CRL file cannot be used (nginx would refuse the configuration). */
  contextFor (entry: CertificateEntry, profile: TlsProfile): SecureContext {
    const v = profile.clientVerify
    if (v === undefined && profile.policy === DEFAULT_SSL_POLICY) return entry.context
    const key = `${profile.policy.name}|${v?.ca.digest ?? ''}|${v?.crl?.digest ?? ''}`
    let byProfile = this.#cache.get(entry)
    if (byProfile === undefined) this.#cache.set(entry, byProfile = new Map())
    let context = byProfile.get(key)
    if (context === undefined) {
      context = createSecureContext({
        ...policyOptions(profile.policy),
        cert: entry.cert,
        key: entry.key,
        ...(v === undefined
          ? {}
          : {
              ca: v.ca.pem,
              ...(v.crl === undefined ? {} : { crl: v.crl.pem }),
              // Sessions never carry one CA's verification to a host with another (nginx's
              // ssl_session_id_context hashes the client CA for the same reason).
              sessionIdContext: createHash('sha256').update(key).digest('hex').slice(0, 32)
            })
      })
      byProfile.set(key, context)
    }
    return context
  }
}

/** What a request's TLS connection says about its client certificate. */
export interface ClientCertFacts {
  /** The SNI the handshake was made for (a host's CA applies only on its own connections). */
  servername: string | undefined
  presented: boolean
  /** Node's code for the verification failure (socket.authorizationError); undefined: verified. */
  verifyError: string | undefined
}

// nginx's ngx_ssl_verify_error_optional: what optional_no_ca lets through (no CA to check against).
const NO_CA_ERRORS = new Set(['DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_UNTRUSTED', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'])

/**
 * nginx's check at the start of every request on a server with ssl_verify_client: a certificate
 * that failed verification is refused for on and optional (optional_no_ca: unless the failure is
 * only a missing issuer), a missing one only for on. nginx answers both with 400.
 */
export function clientCertVerdict (mode: ClientVerifyMode, facts: ClientCertFacts): 'ok' | 'missing' | 'invalid' {
  if (!facts.presented) return mode === 'on' ? 'missing' : 'ok'
  if (facts.verifyError === undefined) return 'ok'
  return mode === 'optional_no_ca' && NO_CA_ERRORS.has(facts.verifyError) ? 'ok' : 'invalid'
}
