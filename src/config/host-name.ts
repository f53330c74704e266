// Host-name syntax shared by the proxy's settings (DEFAULT_HOST) and the containers' VIRTUAL_HOST.

/** One DNS label as nginx-proxy's hosts use them: letters, digits, `_` and `-`, no `-` at either end. */
const LABEL = '[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?'

/** A plain host name, lower case, with an optional trailing dot. */
export const PLAIN_HOST_RE = new RegExp(`^${LABEL}(\\.${LABEL})*\\.?$`)

/** VIRTUAL_HOST's names: a plain host name, also with `*.` in front or `.*` at the end. */
export const WILDCARD_HOST_RE = new RegExp(`^(\\*\\.)?(${LABEL})(\\.${LABEL})*(\\.\\*)?\\.?$`)
