// tap `before` hook: runs once per `npm test`. Brings up what the Docker tests need, offline:
// the engine (in CI), the base image (pull, else the local stand-in), the test app and proxy images.
import { execFileSync, spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { BASE_IMAGE, PROXY_IMAGE, TEST_APP_IMAGE, TEST_LABEL } from './images.ts'

const root = fileURLToPath(new URL('../..', import.meta.url))
const ci = process.env.CI === 'true' || process.env.CI === '1'

function run (cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'], env: process.env })
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status ?? r.signal}`)
}

function dockerAnswers (): boolean {
  return spawnSync('docker', ['info'], { stdio: 'ignore', timeout: 20_000 }).status === 0
}

// In CI, or as root on a machine that has (or can install) Docker, start the engine ourselves.
const mayStart = ci || process.env.PROXYCTL_START_DOCKER === '1' || (process.getuid?.() === 0 && process.env.PROXYCTL_START_DOCKER !== '0')
if (!dockerAnswers() && mayStart) run('bash', ['scripts/ensure-docker.sh'])

if (!dockerAnswers()) {
  if (ci) throw new Error('CI=true but no Docker engine answers: Docker tests cannot be skipped in CI')
  console.error('# No Docker engine answers: Docker tests will be skipped (run as root, or set PROXYCTL_START_DOCKER=1, to start one)')
} else {
  const leftovers = execFileSync('docker', ['ps', '-aq', '--filter', `label=${TEST_LABEL}`], { encoding: 'utf8' }).trim()
  if (leftovers !== '') spawnSync('docker', ['rm', '-f', ...leftovers.split('\n')], { stdio: 'ignore' })
  run('bash', ['scripts/ensure-base-image.sh', BASE_IMAGE])
  run('docker', ['build', '-q', '--build-arg', `BASE_IMAGE=${BASE_IMAGE}`, '-t', TEST_APP_IMAGE, 'test/app'])
  run('docker', ['build', '-q', '--build-arg', `BASE_IMAGE=${BASE_IMAGE}`, '-t', PROXY_IMAGE, '.'])
}
