import t from 'tap'
import { requireDocker, runApp, uniqueName } from '../support/docker.ts'
import { get } from '../support/http-client.ts'
import { startProxyProcess } from '../support/proxy-process.ts'
import { waitFor } from '../support/wait.ts'

// issue 15, item 7: docker-gen's DOCKER_CONTAINER_FILTERS decides which containers the proxy sees.
if (requireDocker(t)) {
  const mark = uniqueName('filter')
  const proxy = await startProxyProcess(t, { env: { DOCKER_CONTAINER_FILTERS: `label=pxt.proxied=${mark}` } })

  t.test('DOCKER_CONTAINER_FILTERS: only containers the filter lists are routed', async (t) => {
    await runApp(t, { name: uniqueName('unlisted'), env: { VIRTUAL_HOST: 'unlisted.filter.test', APP_VERSION: 'unlisted' } })
    await runApp(t, { name: uniqueName('listed'), env: { VIRTUAL_HOST: 'listed.filter.test', APP_VERSION: 'listed' }, labels: { 'pxt.proxied': mark } })
    const listed = await waitFor(async () => { const r = await get(proxy.port, 'listed.filter.test', '/'); return r.status === 200 ? r : undefined }, { timeoutMs: 10_000, what: 'listed.filter.test routed' })
    t.match(listed.body, /"version":"listed"/)
    // The list that admitted the labelled container was taken after the other one started.
    t.equal((await get(proxy.port, 'unlisted.filter.test', '/')).status, 503, 'a container the filter leaves out is not routed')
  })
}
