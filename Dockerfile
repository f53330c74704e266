# proxyctl edge image: a drop-in for jwilder/nginx-proxy.
#   docker build -t proxyctl .
# Behind a TLS-re-signing corporate proxy, give npm your CA: put it in ./extra-ca.pem, or
#   docker build --build-arg EXTRA_CA_CERT="$(cat my-ca.pem)" -t proxyctl .
ARG BASE_IMAGE=node:24-bookworm-slim

FROM ${BASE_IMAGE} AS build
ARG EXTRA_CA_CERT=""
WORKDIR /app
# extra-ca*.pem is optional: the wildcard lets the COPY succeed without it.
COPY package.json package-lock.json extra-ca*.pem ./
RUN set -e; \
    if [ -n "$EXTRA_CA_CERT" ]; then printf '%s\n' "$EXTRA_CA_CERT" >> /app/extra-ca.pem; fi; \
    if [ -s /app/extra-ca.pem ]; then \
      if [ -n "$NODE_EXTRA_CA_CERTS" ] && [ -f "$NODE_EXTRA_CA_CERTS" ]; then cat "$NODE_EXTRA_CA_CERTS" >> /app/extra-ca.pem; fi; \
      export NODE_EXTRA_CA_CERTS=/app/extra-ca.pem; \
    fi; \
    npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev --no-audit --no-fund && rm -f /app/extra-ca.pem

FROM ${BASE_IMAGE}
# An init as PID 1 reaps zombies and forwards SIGTERM, so `docker stop` drains instead of killing.
RUN command -v tini >/dev/null 2>&1 || { apt-get update && apt-get install -y --no-install-recommends tini && rm -rf /var/lib/apt/lists/*; }
WORKDIR /app
ENV NODE_ENV=production
# Less memory under load (issue 12, item 4): V8's young generation at most 4 MB per semi-space
# (Node 24 lets it grow to 32), one malloc arena, a fixed malloc trim threshold. Under load, peak
# RSS about half for about +5 % CPU per request (bench/memory-settings.ts, two runs: 115-117 MB
# instead of 219-239, 49.3-50.3 us instead of 46.9-47.3; bench/results/f1c5e1e/ and
# fd51fea/memory-settings.json); the workers `serve` forks get the same (src/workers/worker-memory.ts).
# A NODE_OPTIONS of your own replaces this one.
ENV NODE_OPTIONS=--max-semi-space-size=4 MALLOC_ARENA_MAX=1 MALLOC_TRIM_THRESHOLD_=131072
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The admin socket's directory, and /data for HISTORY_FILE (a named volume there starts owned by node).
RUN chmod +x /app/dist/cli/main.js && ln -sf /app/dist/cli/main.js /usr/local/bin/proxyctl \
 && mkdir -p /run/proxyctl /data && chown node:node /run/proxyctl /data
# Unprivileged: `proxyctl serve` starts as root only to learn the Docker socket's group, keeps
# that group and becomes node (1000:1000) before it reads a file, opens a port or sees a request
# (src/privileges.ts), so an nginx-proxy compose file works without group_add. Docker >= 20.10
# sets net.ipv4.ip_unprivileged_port_start=0 in the container, so node binds 80 and 443.
# `--user 1000:1000 --group-add <socket gid>` runs it without root at all (README, "Security model").
ENV PROXYCTL_RUN_AS=1000:1000
# `proxyctl deploy` and `proxyctl status` find the running proxy by this label.
# acme-companion finds the proxy container by nginx-proxy's label, as it finds nginx-proxy.
LABEL com.proxyctl.role="edge" \
      com.github.nginx-proxy.nginx="" \
      com.github.jrcs.letsencrypt_nginx_proxy_companion.nginx_proxy="" \
      org.opencontainers.image.title="proxyctl" \
      org.opencontainers.image.description="Edge reverse proxy for Docker hosts with zero-downtime rollouts"
EXPOSE 80 443
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 CMD ["proxyctl", "health"]
ENTRYPOINT ["tini", "--"]
CMD ["proxyctl", "serve"]
