// A size as nginx writes one (client_max_body_size): used by container labels (src/docker/) and
// vhost.d files (src/vhost/), which worker processes read too. Its own module so that a worker
// does not load the label parser and, through it, the YAML library (7 MB RSS, bench/memory-floor.ts).

/**
 * nginx's client_max_body_size syntax: bytes, or a number with k, m or g (either case, powers of
 * 1024). `0` means no limit, as in nginx. Undefined: no limit.
 */
export function parseSize (text: string): number | undefined | { error: string } {
  const m = /^(\d{1,16})([kKmMgG]?)$/.exec(text.trim())
  if (m === null) return { error: `${JSON.stringify(text)} is not a size (bytes, or a number with k, m or g)` }
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g']
  const bytes = Number(m[1]) * unit
  if (!Number.isSafeInteger(bytes)) return { error: `${JSON.stringify(text)} is too large` }
  return bytes === 0 ? undefined : bytes
}
