// How the primary starts its worker processes so that each holds less memory under load (issue 12,
// item 4), without a flag the user must know about. Throughput bench, 2 workers, 50 connections,
// 10 paired rounds twice: a worker's peak RSS 108-114 MB with both settings below, 133-219 MB with
// Node's defaults; CPU per request +2 to +3 %, on a machine at load 5-7. bench/memory-settings.ts
// (two processes per setting, 12 rotating rounds, bench/results/f1c5e1e and fd51fea): +5 to +6 %
// CPU per request for a peak of 115-117 MB instead of 219-239. The semi-space halves the peak (the
// malloc variables alone: 219-228 MB) and the malloc variables take 8-9 MB more off it; 8 or 16 MB
// semi-spaces cost no less CPU within the spread (48.9, 50.9 us vs 49.3) and peak at 122 and 138-141.
//  - V8's young generation: Node 24 lets each semi-space grow to 32 MB, and under load it does
//    (new space 64 MB while 15 MB of the heap is live). 4 MB keeps it small; 8 MB peaks 10 MB
//    higher; 2 MB saves 2 MB more for +17 % CPU (twice the scavenges); 1 MB promotes in-flight
//    requests to the old space and peaks higher than 2 MB.
//  - glibc's malloc: one arena instead of one per thread (V8's compiler and GC threads each kept
//    their own: 12 MB at 2 MB semi-spaces), and a fixed trim threshold so freed memory goes back
//    to the kernel (by default glibc raises its thresholds to the size of each large block freed
//    and keeps them: 7 MB at 2 MB semi-spaces, 1-2 MB at 4).
// A setting the user gave (NODE_OPTIONS, node's own flags, the environment) wins over these.
// The image sets the same for a single process (Dockerfile).

/** MB per semi-space (--max-semi-space-size). */
export const WORKER_SEMI_SPACE_MB = 4

// NODE_OPTIONS may quote its arguments ("--flag=value"), as tools that add their own do.
const SEMI_SPACE_FLAG = /(^|[\s"])--max[-_]semi[-_]space[-_]size([=\s"]|$)/

/** The node flags a worker starts with: the primary's, plus the young generation's cap unless one was given. */
export function workerExecArgv (execArgv: readonly string[], nodeOptions: string | undefined): string[] {
  const given = execArgv.some((a) => SEMI_SPACE_FLAG.test(a)) || SEMI_SPACE_FLAG.test(nodeOptions ?? '')
  return given ? [...execArgv] : [...execArgv, `--max-semi-space-size=${WORKER_SEMI_SPACE_MB}`]
}

/** glibc's malloc settings a worker starts with (read once, at its start), where the environment has none. */
export function workerMallocEnv (env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {}
  if (env.MALLOC_ARENA_MAX === undefined) out.MALLOC_ARENA_MAX = '1'
  // 128 KiB is glibc's initial value: setting it turns off that growth.
  if (env.MALLOC_TRIM_THRESHOLD_ === undefined) out.MALLOC_TRIM_THRESHOLD_ = '131072'
  return out
}
