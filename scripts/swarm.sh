#!/usr/bin/env bash
# A Docker Swarm for the Swarm tests, in a Docker engine of its own.
#
#   scripts/swarm.sh init [NODE]    start the node, load the test images, `docker swarm init`
#   scripts/swarm.sh join NODE MANAGER   a second node, joined to MANAGER's swarm as a worker
#   scripts/swarm.sh leave [NODE]   `docker swarm leave --force`, remove the node and its data
#   scripts/swarm.sh host [NODE]    print the node's DOCKER_HOST (unix:// socket on this machine)
#
# Why not the machine's own engine: the test engine runs with --live-restore (scripts/ensure-docker.sh;
# the resync test relies on it), and Docker refuses `swarm init` with live-restore on. So the swarm
# runs in a node: a container on the machine's engine running a second dockerd, made from the host's
# own Debian docker.io (the host's /usr mounted read-only; nothing pulled), as
# ../shared/notes/swarm-two-nodes.md found works here (--privileged is refused on this machine; the
# capabilities below are what the nested engine needs). Its socket is shared through a host directory,
# so `DOCKER_HOST=$(scripts/swarm.sh host)` drives it; its port 8080 is published on 127.0.0.1 (the
# published port is printed by `init` as `port=<n>`) for the proxy the tests run inside it.
#
# Leaves nothing behind: `leave` removes the node container, its data volume and its socket
# directory, whatever state `init` stopped in. Idempotent; safe to call on a machine without a node.
set -euo pipefail

cmd=${1:-}
NODE=${2:-pxt-swarm-manager}
IMAGE=proxyctl-swarm-node:local
SOCK_DIR=/tmp/$NODE
LABEL=com.proxyctl.swarm-node
TEST_IMAGES=${PROXYCTL_SWARM_IMAGES:-proxyctl:test proxyctl-test-app:dev}

node_docker () { DOCKER_HOST=unix://$SOCK_DIR/docker.sock docker "$@"; }

build_node_image () {
  docker image inspect "$IMAGE" >/dev/null 2>&1 && return 0
  local ctx
  ctx=$(mktemp -d)
  # An empty root whose bin/lib/sbin point into the host's /usr, mounted at run time.
  ln -s usr/bin "$ctx/bin"; ln -s usr/lib "$ctx/lib"; ln -s usr/lib64 "$ctx/lib64"; ln -s usr/sbin "$ctx/sbin"
  printf 'FROM scratch\nCOPY . /\nENTRYPOINT ["/usr/sbin/dockerd"]\n' > "$ctx/Dockerfile"
  docker build -q -t "$IMAGE" --label "$LABEL=1" "$ctx" >/dev/null
  rm -rf "$ctx"
}

start_node () {
  "$0" leave "$NODE" >/dev/null 2>&1 || true
  build_node_image
  mkdir -p "$SOCK_DIR"
  docker run -d --name "$NODE" --hostname "$NODE" --label "$LABEL=1" \
    --cap-add ALL --cap-drop SYS_RESOURCE \
    --security-opt seccomp=unconfined --security-opt apparmor=unconfined --security-opt systempaths=unconfined \
    -v /usr:/usr:ro -v /etc/alternatives:/etc/alternatives:ro -v /sys/fs/cgroup:/sys/fs/cgroup:rw \
    -v "$NODE-data:/var/lib/docker" -v "$SOCK_DIR:/sock" --tmpfs /run --tmpfs /tmp \
    -e PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    -p 127.0.0.1::8080 \
    "$IMAGE" --cgroup-parent "/$NODE" -H unix:///sock/docker.sock >/dev/null
  for _ in $(seq 1 150); do
    node_docker info >/dev/null 2>&1 && break
    sleep 0.2
  done
  node_docker info >/dev/null || { docker logs --tail 30 "$NODE" >&2; echo "swarm.sh: the node's engine did not start" >&2; exit 1; }
  # shellcheck disable=SC2086
  docker save $TEST_IMAGES | node_docker load -q >/dev/null
  addr=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$NODE")
}

case "$cmd" in
  init)
    start_node
    node_docker swarm init --advertise-addr "$addr" >/dev/null
    echo "host=unix://$SOCK_DIR/docker.sock"
    echo "port=$(docker port "$NODE" 8080/tcp | head -1 | sed 's/.*://')"
    echo "address=$addr"
    ;;
  join)
    # A second node, joined to MANAGER's swarm as a worker (VXLAN between the two over docker0).
    MANAGER=${3:-pxt-swarm-manager}
    manager_host=unix:///tmp/$MANAGER/docker.sock
    token=$(DOCKER_HOST=$manager_host docker swarm join-token -q worker)
    manager_addr=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$MANAGER")
    start_node
    node_docker swarm join --token "$token" --advertise-addr "$addr" "$manager_addr:2377" >/dev/null
    echo "host=unix://$SOCK_DIR/docker.sock"
    echo "hostname=$NODE"
    echo "address=$addr"
    ;;
  leave)
    if [ -S "$SOCK_DIR/docker.sock" ]; then node_docker swarm leave --force >/dev/null 2>&1 || true; fi
    docker rm -f -v "$NODE" >/dev/null 2>&1 || true
    docker volume rm "$NODE-data" >/dev/null 2>&1 || true
    rm -rf "$SOCK_DIR"
    # The nested engine made cgroups under /NODE in the host's hierarchy (cgroup v1): removed once
    # their processes, which died with the node, are gone (an rmdir of a busy cgroup fails; retried).
    for _ in $(seq 1 25); do
      dirs=$(ls -d /sys/fs/cgroup/*/"$NODE" 2>/dev/null || true)
      [ -z "$dirs" ] && break
      # shellcheck disable=SC2086
      find $dirs -depth -type d -exec rmdir {} + 2>/dev/null || sleep 0.2
    done
    ;;
  host)
    echo "unix://$SOCK_DIR/docker.sock"
    ;;
  *)
    echo "usage: $0 init|leave|host [NODE] | join NODE MANAGER" >&2
    exit 2
    ;;
esac
