#!/usr/bin/env bash
# Round-robin vs least-outstanding balancing with one fast and one slow (20 ms) replica.
# Usage: npm run build && bash bench/balancing.sh   (Docker, proxyctl-test-app:dev; bounded: 4 x 6 s of autocannon)
cd /work/main
docker rm -f pxb-lb-fast pxb-lb-slow >/dev/null 2>&1 || true
docker run -d --name pxb-lb-fast --label com.proxyctl.bench=1 -e VIRTUAL_HOST=lb.test proxyctl-test-app:dev >/dev/null
docker run -d --name pxb-lb-slow --label com.proxyctl.bench=1 -e VIRTUAL_HOST=lb.test -e RESPONSE_DELAY_MS=20 proxyctl-test-app:dev >/dev/null
run() {
  node dist/cli/main.js serve --port 18383 --https-port off --host 127.0.0.1 --admin-socket /tmp/lb.sock --no-access-log --balancing $1 > /dev/null 2>&1 &
  pid=$!
  for i in $(seq 1 50); do curl -s -o /dev/null -H 'Host: lb.test' http://127.0.0.1:18383/ && break; sleep 0.2; done
  sleep 1.5
  r=$(npx autocannon -j -c 50 -d 6 -H 'Host: lb.test' http://127.0.0.1:18383/ 2>/dev/null | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);console.log("req/s",j.requests.average,"p50",j.latency.p50,"p99",j.latency.p99,"non2xx",j.non2xx)})')
  echo "$1 $r"
  kill $pid; wait $pid 2>/dev/null || true
}
for round in 1 2; do run round-robin; run least-outstanding; done
docker rm -f pxb-lb-fast pxb-lb-slow >/dev/null
