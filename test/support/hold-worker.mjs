// Preloaded (NODE_OPTIONS=--import) into a proxyctl process and its worker processes: the worker
// whose PROXYCTL_WORKER is PROXYCTL_TEST_HOLD_WORKER writes `<PROXYCTL_TEST_HOLD_FILE>.held` and
// does not start until the test creates PROXYCTL_TEST_HOLD_FILE (at most a minute). Every other
// process goes on at once. With --workers 2, holding worker 1 keeps the primary's start waiting
// while worker 0 already answers: the window a signal during the start falls into.
//
// The wait is synchronous: the worker's start stays held without its event loop turning. (An
// asynchronous wait works too since the primary sends init on the worker's 'ready', once its
// 'message' listener is in place: test/integration/workers-start.test.ts.)
import { existsSync, writeFileSync } from 'node:fs'

const held = process.env.PROXYCTL_TEST_HOLD_WORKER
const file = process.env.PROXYCTL_TEST_HOLD_FILE
if (held !== undefined && file !== undefined && process.env.PROXYCTL_WORKER === held) {
  writeFileSync(`${file}.held`, String(process.pid))
  const pause = new Int32Array(new SharedArrayBuffer(4))
  const deadline = Date.now() + 60_000
  while (!existsSync(file) && Date.now() < deadline) Atomics.wait(pause, 0, 0, 20)
}
