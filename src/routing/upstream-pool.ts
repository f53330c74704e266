import { createRequire } from 'node:module'
import type { Pool as UndiciPool } from 'undici'

// undici's Pool class alone. undici's package entry also loads fetch, WebSocket, the cache, mocks
// and proxy agents: +10 MB RSS at import in a worker process that only ever calls pool.dispatch()
// (Node 24, measured with /proc/self/smaps_rollup after a forced GC; scratch notes in issue 12).
// The request()/stream() helpers are added to every dispatcher by the entry: code that calls them
// (health checks, the Docker API client, all in the primary) imports 'undici' itself.
const require = createRequire(import.meta.url)

export const Pool = require('undici/lib/dispatcher/pool.js') as typeof UndiciPool
export type Pool = UndiciPool
