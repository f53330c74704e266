import type { DeployCommand } from '../args.js'

export async function deploy (_cmd: DeployCommand): Promise<number> {
  process.stderr.write('proxyctl: deploy is not implemented yet\n')
  return 1
}
