export const HELP: Record<string, string> = {
  main: `proxyctl - edge reverse proxy for Docker hosts, with zero-downtime rollouts

Usage:
  proxyctl serve [options]          run the edge proxy (drop-in for nginx-proxy)
  proxyctl deploy SERVICE [options] roll out a compose service without dropping requests
  proxyctl deploy -f FILE           roll out every changed service with a VIRTUAL_HOST, in depends_on order
  proxyctl deploy --container NAME --image IMAGE
  proxyctl deploy --swarm SERVICE --image IMAGE   a Swarm service's rolling update, gated by the proxy
  proxyctl status [--json]          show hosts, upstreams and their state
  proxyctl history [--json]         the rollouts the proxy has seen
  proxyctl pause HOST|SERVICE       hold new requests (e.g. for a migration); resume releases them
  proxyctl maintenance on|off HOST|SERVICE  503 + a maintenance page, except for --allow CIDRs
  proxyctl dashboard [--port 8090]  the live status page on http://127.0.0.1:PORT/
  proxyctl --version | --help

Run "proxyctl COMMAND --help" for a command's options.
Environment on app containers: VIRTUAL_HOST, VIRTUAL_PORT, VIRTUAL_PATH, VIRTUAL_DEST, VIRTUAL_PROTO,
VIRTUAL_HOST_MULTIPORTS, NETWORK_ACCESS (see README.md).`,
  serve: `Usage: proxyctl serve [options]

  -p, --port N            HTTP port (default 80; env HTTP_PORT)
      --https-port N|off  HTTPS port (default 443; env HTTPS_PORT)
      --https-method M    default HTTPS_METHOD: redirect (default), noredirect, nohttp, nohttps
      --host ADDR         listen address (default 0.0.0.0)
      --admin-socket PATH admin API Unix socket (default /run/proxyctl/admin.sock)
      --default-host HOST route unknown hosts to HOST's app (env DEFAULT_HOST)
      --no-access-log     disable the per-request log line (env ACCESS_LOG=off)
      --balancing S       least-outstanding (default) or round-robin
      --drain-timeout D   bound for draining a removed upstream (default 30s)
      --shutdown-timeout D  bound for in-flight requests on SIGTERM (default 10s)
      --history-file PATH rollout history as JSON lines (env HISTORY_FILE)
      --metrics-listen A  opt-in public /metrics, e.g. 127.0.0.1:9100 (env METRICS_LISTEN)
      --workers N         processes accepting connections (default: the CPUs available; env WORKERS);
                          MAX_CLIENT_CONNECTIONS and a pause's --max-queued are split between them

TLS: certificates from /etc/nginx/certs (<host>.crt/.key, default.crt/.key), reloaded on change and SIGHUP;
basic auth from /etc/nginx/htpasswd/<host>; ACME challenges from /usr/share/nginx/html.
Docker: DOCKER_HOST, else /var/run/docker.sock, else /tmp/docker.sock.
Logs: LOG_LEVEL (default info); JSON lines, pretty on a TTY.`,
  status: `Usage: proxyctl status [--json] [--proxy NAME | --admin-socket PATH]

Shows every host, its upstreams, their state (starting, ready, unhealthy, draining),
in-flight requests and the last health-check result.`,
  pause: `Usage: proxyctl pause HOST|SERVICE [--max-hold 30s] [--max-queued 1000] [-p project] [--json]

New requests for the host (or every host the service's containers serve) are held: not answered,
not failed, their bodies not read; requests in flight finish. "proxyctl resume" releases them in
the order they came. A request held longer than --max-hold (at most 4m), or beyond --max-queued
held per host (over all worker processes), gets 503 with Retry-After. ACME challenges and the proxy's health checks are never
held; WebSocket upgrades and HTTP/2 streams are held like any request. A client that hangs up
leaves the queue. Pauses end with the proxy process (held requests then get 503).`,
  resume: `Usage: proxyctl resume HOST|SERVICE [-p project] [--json]

Ends a pause: held requests are released in the order they came.`,
  maintenance: `Usage: proxyctl maintenance on HOST|SERVICE [--page FILE] [--allow CIDR ...] [-p project] [--json]
       proxyctl maintenance off HOST|SERVICE

"on": the host answers 503 with Retry-After and an HTML page (a built-in one, or FILE, at most
256 KiB), except for clients whose address (the TCP peer, or the PROXY protocol's; never
X-Forwarded-For) is in an --allow range (an address or CIDR; repeat the flag or separate with
commas): they still reach the app. "off" restores routing. Kept across proxy restarts when the
proxy has a HISTORY_FILE (traffic-control.json beside it).`,
  history: `Usage: proxyctl history [--json] [--proxy NAME | --admin-socket PATH]

Each rollout: service, old and new containers, steps with timestamps, outcome, and the failed
requests the proxy saw on the service's hosts while it ran (newest first).`,
  dashboard: `Usage: proxyctl dashboard [--port 8090] [--host 127.0.0.1] [--proxy NAME | --admin-socket PATH]

Serves the proxy's live status page (and /metrics) on a local port, relayed to the admin API the
same way as every other command. It prints a URL with a random token: open that one. The token is
traded for a cookie; other clients send "Authorization: Bearer TOKEN". Requests whose Host header is
not the relay's own address (127.0.0.1, localhost, [::1] or --host, with the port) get 421.
All open pages share one admin request per path per second.`,
  deploy: `Usage: proxyctl deploy SERVICE [-f compose.yml] [-p project] [options]
       proxyctl deploy -f compose.yml [-p project] [options]
       proxyctl deploy --container NAME --image IMAGE [options]
       proxyctl deploy --swarm SERVICE --image IMAGE [options]
       proxyctl deploy --swarm SERVICE -f stack.yml [-p STACK] [--image IMAGE] [options]

Without SERVICE, -f deploys the whole stack: every service with a VIRTUAL_HOST whose config changed
(compose's config hash differs from its running containers' label), one at a time, depends_on first.
Services without VIRTUAL_HOST are left to compose and listed. The first failure stops the sequence;
services deployed before it stay deployed; the exit code is that failure's.

--swarm (on a Swarm manager): docker service update --image IMAGE --update-order start-first
--update-parallelism 1 --update-failure-action pause, one task at a time; each new task must be
admitted by the proxy, the old task of its slot is drained through it before Swarm stops it.
New tasks not ready within --timeout, or a task Swarm gives up on: docker service rollback.
With -f, the service is STACK_SERVICE (-p STACK, else the one stack that has it) and the image the
stack file's, unless --image is given.

--verify D (compose and --container deploys): after the old containers drain they stay running in
standby (not routed) for D while the proxy judges the new version's live figures against the old
version's from before the deploy. Failed: the old containers are back in rotation at once, the new
ones drained and removed, exit 3 with the figures. --canary P: the new containers get P of the
clients (sticky: a cookie the proxy sets, else the client address), each step judged for
--step-time; a failed step goes back to 0 % at once.

  -f, --file FILE         compose file (default compose.yaml / docker-compose.yml in .)
  -p, --project NAME      compose project name (default: compose's own rule)
      --verify D          judge the new version on live traffic for D (1s to 24h), old kept in standby
      --max-error-rate P  5xx and connection failures allowed (default 1%)
      --max-p99 X         p99 latency allowed: 2x (the old version's, default) or a duration (300ms)
      --min-requests N    fewer requests to the new version: "not enough traffic" (default 50)
      --on-low-traffic A  promote (default) or rollback when there is not enough traffic
      --canary P          canary rollout: the new version's first share of clients (10%)
      --steps LIST        shares after it, ending at 100 (default: 100), e.g. 10,50,100
      --step-time D       how long each canary step is judged (default --verify, else 60s)
      --timeout D         how long new containers get to become ready (default 120s)
      --drain-timeout D   how long old containers get to finish in-flight requests (default 30s)
      --json              one JSON object per step on stdout (for CI)
      --proxy NAME        the proxy container, when several run
      --admin-socket PATH talk to a proxy's admin socket directly

Exit codes: 0 deployed, 1 failed, 2 bad usage, 3 new containers not ready or failed verification (rolled back),
4 another deploy of the same service is running, 5 proxy not found, 6 Docker unavailable.`
}
