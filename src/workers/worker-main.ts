import { createLogger } from '../logger.js'
import { ProxyServer } from '../proxy/proxy-server.js'
import { loadProxyFiles, proxyServerOptions, reconcilerOptions } from '../proxy/proxy-setup.js'
import { currentRequestId } from '../proxy/request-context.js'
import { RouteTableStore } from '../routing/route-table-store.js'
import { PolicyStore } from '../traffic/policy.js'
import { OutcomeBatcher, ProcessSampler } from './figures.js'
import type { FromWorker, ToWorker } from './messages.js'
import { RoutingReplica } from './routing-replica.js'
import { workerAuthOptions, workerPolicy, workerServeOptions } from './worker-limits.js'

// A worker process (node:cluster): accepts connections and proxies them, with a table built from
// the primary's snapshots. It loads the data plane only: no Docker client, no health checks, no
// admin API, no Prometheus registry (its request outcomes go to the primary's).

/** sysexits' EX_SOFTWARE, as the single process exits on an uncaught exception. */
const EXIT_INTERNAL_ERROR = 70

const log = createLogger()
const send = (m: FromWorker): void => { if (process.connected) process.send?.(m) }

process.on('unhandledRejection', (err) => { log.error({ err, requestId: currentRequestId() }, 'Unhandled rejection') })
process.on('uncaughtException', (err) => {
  log.fatal({ err, requestId: currentRequestId() }, 'Uncaught exception: worker exiting, the primary starts another')
  setTimeout(() => process.exit(EXIT_INTERNAL_ERROR), 500).unref()
  log.flush(() => process.exit(EXIT_INTERNAL_ERROR))
})
// The primary decides when workers stop (SIGTERM drains every worker); a terminal's Ctrl-C reaches
// the whole process group, and the primary's stop message follows it.
process.on('SIGINT', () => {})
process.on('SIGTERM', () => {})
// Reloads come from the primary (it forwards its SIGHUP as a message); a hangup sent to the whole
// process group must not kill a worker (SIGHUP's default action).
process.on('SIGHUP', () => {})

// Messages that arrive while the worker is still starting are handled, in order, once it can.
const early: ToWorker[] = []
let handle = (m: ToWorker): void => { early.push(m) }
process.on('message', (m: ToWorker) => { handle(m) })
send({ type: 'ready' })
const init = await new Promise<Extract<ToWorker, { type: 'init' }>>((resolve) => {
  handle = (m) => { if (m.type === 'init') { handle = (next) => { early.push(next) }; resolve(m) } }
})
// The pool sets the slot; limits documented per proxy are split by it (worker-limits.ts).
const slot = Number(process.env.PROXYCTL_WORKER ?? 0)
const options = workerServeOptions(init.options, slot)
const files = await loadProxyFiles(options, log, workerAuthOptions(options))
const store = new RouteTableStore()
const policy = new PolicyStore()
const replica = new RoutingReplica(store, reconcilerOptions(options), log.child({ component: 'routing' }))
let proxy: ProxyServer | undefined
const outcomes = new OutcomeBatcher((batch) => { send({ type: 'requests', outcomes: batch, inflight: proxy?.inflight ?? 0 }) })
proxy = new ProxyServer(store, {
  ...proxyServerOptions(options, files, outcomes, policy),
  listenFlags: init.accept === 'reuseport' ? { reusePort: true, exclusive: true } : { reusePort: false, exclusive: false },
  ticketKeys: Buffer.from(init.ticketKeys)
}, log.child({ component: 'proxy' }))
const server = proxy
const sampler = new ProcessSampler()
policy.replace(workerPolicy(init.snapshot.policy, options.workers, slot))
replica.apply(init.snapshot)

let stopping: Promise<void> | undefined
const stop = async (): Promise<void> => {
  stopping ??= (async () => {
    await server.stop()
    outcomes.flush()
    await files.stop()
    await replica.stop()
    sampler.stop()
    log.flush(() => { process.disconnect?.(); process.exit(0) })
  })()
  await stopping
}

handle = (m: ToWorker): void => {
  switch (m.type) {
    case 'routing':
      policy.replace(workerPolicy(m.snapshot.policy, options.workers, slot))
      replica.apply(m.snapshot)
      return
    case 'drain':
      void replica.drain(m.groupId, m.timeoutMs, m.graceMs).then((results) => { send({ type: 'drained', id: m.id, results }) })
      return
    case 'load': {
      outcomes.flush()
      const held: Record<string, number> = {}
      for (const host of Object.keys(policy.current.hosts)) held[host] = server.held(host)
      send({ type: 'load', id: m.id, inflight: server.inflight, targets: replica.load(), held, process: sampler.sample() })
      return
    }
    case 'reload':
      files.reload().then(() => { send({ type: 'done', id: m.id }) }, (err: unknown) => {
        log.error({ err }, 'Reload failed')
        send({ type: 'done', id: m.id })
      })
      return
    case 'stop':
      void stop()
  }
}
for (const m of early.splice(0)) handle(m)
// The primary is gone (killed): nobody routes for this worker any more.
process.on('disconnect', () => { void stop() })

// Its start-up lines (certificate and vhost.d warnings) written out before the primary says it listens.
server.listen().then(({ port, httpsPort }) => { log.flush(() => { send({ type: 'listening', port, httpsPort }) }) }, (err: unknown) => {
  send({ type: 'failed', message: (err as Error).message })
  process.exitCode = 1
  process.disconnect?.()
})
