// Stable machine codes for every failure; HTTP mapping happens once, in proxy/error-response.ts.
export type ProxyErrorCode =
  | 'PROXY_ERR_HOST_NOT_FOUND'
  | 'PROXY_ERR_NO_HEALTHY_TARGETS'
  | 'PROXY_ERR_UPSTREAM_CONNECT'
  | 'PROXY_ERR_UPSTREAM_TIMEOUT'
  | 'PROXY_ERR_UPSTREAM_PROTOCOL'
  | 'PROXY_ERR_FORBIDDEN'
  | 'PROXY_ERR_BAD_REQUEST'
  | 'PROXY_ERR_BODY_TOO_LARGE'
  | 'PROXY_ERR_CLIENT_BODY_TIMEOUT'
  | 'PROXY_ERR_INVALID_OPTION'
  | 'PROXY_ERR_DOCKER_UNAVAILABLE'
  | 'PROXY_ERR_DEPLOY_TIMEOUT'
  | 'PROXY_ERR_DEPLOY_FAILED'
  | 'PROXY_ERR_DEPLOY_IN_PROGRESS'
  | 'PROXY_ERR_PROXY_NOT_FOUND'
  | 'PROXY_ERR_ADMIN'
  | 'PROXY_ERR_TARGET_NOT_FOUND'
  | 'PROXY_ERR_VERIFY_FAILED'

export class ProxyError extends Error {
  readonly code: ProxyErrorCode
  readonly statusCode: number | undefined
  constructor (code: ProxyErrorCode, message: string, options?: { cause?: unknown, statusCode?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.name = new.target.name
    this.code = code
    this.statusCode = options?.statusCode
  }
}

export class UpstreamTimeoutError extends ProxyError {
  constructor (message: string, cause?: unknown) { super('PROXY_ERR_UPSTREAM_TIMEOUT', message, { cause, statusCode: 504 }) }
}
export class InvalidOptionError extends ProxyError {
  constructor (message: string) { super('PROXY_ERR_INVALID_OPTION', message) }
}
export class DockerUnavailableError extends ProxyError {
  constructor (message: string, cause?: unknown) { super('PROXY_ERR_DOCKER_UNAVAILABLE', message, { cause }) }
}
export class DeployTimeoutError extends ProxyError {
  constructor (message: string) { super('PROXY_ERR_DEPLOY_TIMEOUT', message) }
}
export class DeployFailedError extends ProxyError {
  constructor (message: string, cause?: unknown) { super('PROXY_ERR_DEPLOY_FAILED', message, { cause }) }
}
export class DeployInProgressError extends ProxyError {
  constructor (message: string) { super('PROXY_ERR_DEPLOY_IN_PROGRESS', message) }
}

/** A verified deploy or canary step judged the new version on live traffic and rolled it back. */
export class VerificationFailedError extends ProxyError {
  constructor (message: string) { super('PROXY_ERR_VERIFY_FAILED', message) }
}

export function errorCode (err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') return err.code
  return undefined
}
