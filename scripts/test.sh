#!/usr/bin/env bash
# README.md's test command: the whole suite on a fresh machine. Node >= 22.12 first on PATH
# (Node 24 fetched when the host's is older), then `npm ci` and `npm test`, whose before-hook
# brings up Docker and the base images.
set -euo pipefail
cd "$(dirname "$0")/.."
PATH="$(bash scripts/ensure-node.sh):$PATH"
export PATH
echo "[test] node $(node --version), npm $(npm --version)"
npm ci --no-audit --no-fund
npm test
