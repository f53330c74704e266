import { ProxyError } from '../errors.js'

/** Documented in README.md ("Exit codes"). */
export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  deployNotReady: 3,
  deployInProgress: 4,
  proxyUnreachable: 5,
  dockerUnavailable: 6
} as const

export function exitCodeFor (err: unknown): number {
  if (!(err instanceof ProxyError)) return EXIT.failure
  switch (err.code) {
    case 'PROXY_ERR_INVALID_OPTION': return EXIT.usage
    case 'PROXY_ERR_DEPLOY_TIMEOUT':
    case 'PROXY_ERR_VERIFY_FAILED': return EXIT.deployNotReady
    case 'PROXY_ERR_DEPLOY_IN_PROGRESS': return EXIT.deployInProgress
    case 'PROXY_ERR_PROXY_NOT_FOUND':
    case 'PROXY_ERR_ADMIN': return EXIT.proxyUnreachable
    case 'PROXY_ERR_DOCKER_UNAVAILABLE': return EXIT.dockerUnavailable
    default: return EXIT.failure
  }
}
