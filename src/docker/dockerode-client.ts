import Docker from 'dockerode'
import { locateDocker, pingOrExplain } from './docker-client.js'

// The CLI's client (deploy creates, connects and removes containers: dockerode's whole API). The
// proxy itself never loads this module; it uses engine-api.ts.

export interface DockerEndpoint {
  docker: Docker
  /** Human description for logs and errors: the socket path or DOCKER_HOST. */
  describe: string
}

export function connectDocker (env: NodeJS.ProcessEnv = process.env): DockerEndpoint {
  const { target, describe } = locateDocker(env)
  return { docker: new Docker(target), describe }
}

export async function pingDocker (endpoint: DockerEndpoint): Promise<void> {
  await pingOrExplain(endpoint.describe, async () => await endpoint.docker.ping())
}
