import t from 'tap'
import { requireDocker, runApp, uniqueName } from '../support/docker.ts'
import { liveRestoreEnabled, restartDockerd } from '../support/dockerd.ts'
import { get } from '../support/http-client.ts'
import { startProxyProcess } from '../support/proxy-process.ts'
import { waitFor } from '../support/wait.ts'

const ci = process.env.CI === 'true' || process.env.CI === '1'

if (requireDocker(t)) {
  t.test('events stream cut by a dockerd restart: routing continues and the table resyncs', async (t) => {
    if (!liveRestoreEnabled()) {
      if (ci) t.fail('dockerd must run with --live-restore (scripts/ensure-docker.sh starts it so)')
      else t.pass('skipped: dockerd runs without --live-restore, restarting it would stop every container', { skip: true })
      return
    }
    const proxy = await startProxyProcess(t)
    const routed = async (host: string): Promise<void> => {
      await waitFor(async () => (await get(proxy.port, host)).status === 200, { timeoutMs: 10_000, what: `${host} routed` })
    }
    await runApp(t, { name: uniqueName('before'), env: { VIRTUAL_HOST: 'before.test' } })
    await routed('before.test')

    let servedWhileDown = 0
    await restartDockerd(async () => {
      await proxy.waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('Docker event stream lost'))
      for (let i = 0; i < 20; i++) if ((await get(proxy.port, 'before.test')).status === 200) servedWhileDown++
    })
    t.equal(servedWhileDown, 20, 'every request served while Docker was down')

    await proxy.waitForLog((l) => l.msg === 'Docker event stream reconnected; table resynced', 30_000)
    await runApp(t, { name: uniqueName('after'), env: { VIRTUAL_HOST: 'after.test' } })
    await routed('after.test')
    t.equal((await get(proxy.port, 'before.test')).status, 200, 'the old app is still routed')
    t.equal(proxy.child.exitCode, null)
  })
}
