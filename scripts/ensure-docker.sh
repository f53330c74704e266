#!/usr/bin/env bash
# ensure-docker.sh — make sure a Docker engine is answering on this machine.
#
# Idempotent: exits 0 at once when `docker info` already works. Otherwise it
# installs Debian's docker.io (plus iptables, docker-compose and
# busybox-static, which the image scripts need) when dockerd is missing,
# starts dockerd in the background and waits (bounded) for it to answer.
# --live-restore: containers keep running while dockerd restarts (the resync test relies on it).
#
# Env:
#   DOCKERD_LOG            dockerd's log file (default /tmp/proxyctl-dockerd.log)
#   DOCKER_START_TIMEOUT   seconds to wait for `docker info` (default 60)
set -euo pipefail

DOCKERD_LOG="${DOCKERD_LOG:-/tmp/proxyctl-dockerd.log}"
DOCKER_START_TIMEOUT="${DOCKER_START_TIMEOUT:-60}"

log() { echo "[ensure-docker] $*" >&2; }

docker_ok() { docker info >/dev/null 2>&1; }

if command -v docker >/dev/null 2>&1 && docker_ok; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    log "not root and no sudo: cannot install or start dockerd"; exit 1
  fi
fi

if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
  log "dockerd not found; installing docker.io from Debian"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    docker.io iptables docker-compose busybox-static >/dev/null
fi

if docker_ok; then
  # The package's postinst may have started it (systemd hosts).
  exit 0
fi

if pgrep -x dockerd >/dev/null 2>&1; then
  log "dockerd is already running but not answering yet; waiting for it"
else
  log "starting dockerd (log: $DOCKERD_LOG)"
  # setsid+nohup: keep dockerd alive after this script (and its session) exits.
  $SUDO sh -c "nohup setsid dockerd --live-restore >>'$DOCKERD_LOG' 2>&1 </dev/null &"
fi

deadline=$(( $(date +%s) + DOCKER_START_TIMEOUT ))
while ! docker_ok; do
  if [ "$(date +%s)" -ge "$deadline" ]; then
    log "ERROR: docker did not answer within ${DOCKER_START_TIMEOUT}s"
    if [ -f "$DOCKERD_LOG" ]; then
      log "last lines of $DOCKERD_LOG:"
      tail -n 40 "$DOCKERD_LOG" >&2 || true
    fi
    exit 1
  fi
  sleep 1
done

log "docker is up: $(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?')"
