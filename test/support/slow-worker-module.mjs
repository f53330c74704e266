// Preloaded (NODE_OPTIONS=--import) into proxyctl and its worker processes: in a worker process
// (PROXYCTL_WORKER set) it lets the event loop turn for PROXYCTL_TEST_PRELOAD_WAIT_MS before the
// worker's own module runs, as any asynchronous preload (an APM agent, a tracer) does. Messages the
// primary sends in that window find no 'message' listener yet.
if (process.env.PROXYCTL_WORKER !== undefined) {
  await new Promise((resolve) => { setTimeout(resolve, Number(process.env.PROXYCTL_TEST_PRELOAD_WAIT_MS ?? 300)) })
}
