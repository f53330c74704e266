// The live status page: one static document that polls the admin API (relative URLs, so it works
// through `proxyctl dashboard` and on a phone). No framework, no build step.
export const STATUS_PAGE_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>proxyctl status</title>
<style>
 body{font:14px/1.4 system-ui,sans-serif;margin:0;padding:12px;background:#f6f7f9;color:#1d2330}
 h1{font-size:18px;margin:0 0 8px} h2{font-size:15px;margin:18px 0 6px}
 .meta{color:#667;font-size:12px;margin-bottom:8px}
 table{border-collapse:collapse;width:100%;background:#fff;box-shadow:0 1px 2px #0001}
 th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #e6e8ec;vertical-align:top}
 th{font-size:12px;color:#556;background:#fafbfc}
 .state{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600}
 .ready{background:#d9f5e3;color:#11663a}.starting{background:#e3ecff;color:#23449a}
 .draining{background:#fff1d6;color:#8a5a00}.unhealthy{background:#ffe0e0;color:#a11}
 .standby{background:#ecebff;color:#4b3a9a}.new{background:#d9f5e3;color:#11663a}.old{background:#eef0f3;color:#445}
 .paused{background:#e3ecff;color:#23449a}.maintenance{background:#fff1d6;color:#8a5a00}
 .ok{color:#11663a}.fail{color:#a11}.running{color:#23449a}
 .steps{font-size:12px;color:#445;margin:0;padding-left:16px}
 @media (max-width:700px){thead{display:none}tr{display:block;margin-bottom:8px;background:#fff}
  td{display:flex;justify-content:space-between;border:none;padding:3px 8px}
  td::before{content:attr(data-label);font-weight:600;color:#556;margin-right:12px}}
</style></head>
<body>
<h1>proxyctl</h1><div class="meta" id="meta">loading…</div>
<div id="control-section" hidden><h2>Traffic control</h2>
<table><thead><tr><th>Host</th><th>State</th><th>Since</th><th>Details</th></tr></thead>
<tbody id="control"></tbody></table></div>
<div id="canary-section" hidden><h2>Canary</h2>
<table><thead><tr><th>Host</th><th>Version</th><th>Share</th><th>Upstreams</th><th>Requests</th><th>Errors</th><th>p99</th></tr></thead>
<tbody id="canary"></tbody></table></div>
<h2>Routes</h2>
<table><thead><tr><th>Host</th><th>Path</th><th>Upstream</th><th>State</th><th>In flight</th><th>Last check</th><th>Req/s</th><th>Errors</th></tr></thead>
<tbody id="routes"></tbody></table>
<h2>Rollouts</h2>
<table><thead><tr><th>Service</th><th>Started</th><th>Outcome</th><th>Old → new</th><th>Failed requests</th><th>Steps</th></tr></thead>
<tbody id="history"></tbody></table>
<script>
const esc = (s) => String(s ?? '').replace(/[&<>"]/g, (c) => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]))
const td = (label, html) => '<td data-label="' + label + '">' + html + '</td>'
let prev = null
async function refresh () {
  try {
    const [status, history] = await Promise.all([fetch('v1/status').then((r) => r.json()), fetch('v1/history').then((r) => r.json())])
    const now = Date.now()
    const rows = []
    for (const h of status.hosts) {
      const t = status.traffic[h.host] || { requests: 0, errors: 0 }
      const p = prev && prev.traffic[h.host]
      const dt = prev ? (now - prev.at) / 1000 : 0
      const rps = p && dt > 0 ? ((t.requests - p.requests) / dt).toFixed(1) : '–'
      const errRate = p && t.requests > p.requests ? (100 * (t.errors - p.errors) / (t.requests - p.requests)).toFixed(1) + '%' : (t.errors ? t.errors + ' total' : '0')
      for (const l of h.locations) {
        const ups = l.upstreams.length ? l.upstreams : [null]
        for (const u of ups) {
          rows.push('<tr data-container="' + esc(u && u.name) + '" data-state="' + esc(u && u.state) + '">' + td('Host', esc(h.host)) + td('Path', esc(l.path)) +
            td('Upstream', u ? esc(u.name) + '<br><small>' + esc(u.origin) + (u.node ? ' on ' + esc(u.node) : '') + '</small>' : '–') +
            td('State', u ? '<span class="state ' + esc(u.state) + '">' + esc(u.state) + '</span>' : '–') +
            td('In flight', u ? u.inflight : '–') +
            td('Last check', u && u.lastCheck ? '<span class="' + (u.lastCheck.ok ? 'ok' : 'fail') + '">' + esc(u.lastCheck.detail) + '</span>' : '–') +
            td('Req/s', rps) + td('Errors', errRate) + '</tr>')
        }
      }
    }
    document.getElementById('routes').innerHTML = rows.join('') || '<tr><td colspan="8">no hosts routed</td></tr>'
    // Pause and maintenance per host (proxyctl pause / maintenance).
    const control = []
    for (const [host, c] of Object.entries(status.trafficControl || {})) {
      if (c.pause) control.push('<tr data-control="paused" data-host="' + esc(host) + '">' + td('Host', esc(host)) + td('State', '<span class="state paused">paused</span>') +
        td('Since', esc(new Date(c.pause.since).toLocaleTimeString())) + td('Details', esc(c.pause.held + ' held · max hold ' + c.pause.maxHoldMs / 1000 + 's · max queued ' + c.pause.maxQueued)) + '</tr>')
      if (c.maintenance) control.push('<tr data-control="maintenance" data-host="' + esc(host) + '">' + td('Host', esc(host)) + td('State', '<span class="state maintenance">maintenance</span>') +
        td('Since', esc(new Date(c.maintenance.since).toLocaleTimeString())) + td('Details', esc((c.maintenance.customPage ? 'custom page' : 'built-in page') + ' · allowed: ' + (c.maintenance.allow.join(', ') || 'nobody'))) + '</tr>')
    }
    document.getElementById('control').innerHTML = control.join('')
    document.getElementById('control-section').hidden = control.length === 0
    // Canary splits (proxyctl deploy --canary): both versions' figures side by side.
    const canary = []
    for (const [host, c] of Object.entries(status.canary || {})) {
      for (const side of ['new', 'old']) {
        const f = c[side]
        const share = side === 'new' ? c.share : 1 - c.share
        canary.push('<tr data-canary="' + side + '" data-host="' + esc(host) + '">' + td('Host', esc(host)) + td('Version', '<span class="state ' + side + '">' + side + '</span>') +
          td('Share', esc(Math.round(share * 1000) / 10 + '%')) + td('Upstreams', esc(c[side + 'Upstreams'].join(', ') || '–')) + td('Requests', f.requests) +
          td('Errors', esc(f.errors + ' (' + (f.errorRate * 100).toFixed(2) + '%)')) + td('p99', f.p99Ms == null ? '–' : esc(f.p99Ms + ' ms')) + '</tr>')
      }
    }
    document.getElementById('canary').innerHTML = canary.join('')
    document.getElementById('canary-section').hidden = canary.length === 0
    document.getElementById('history').innerHTML = history.map((d) => '<tr data-rollout="' + esc(d.outcome) + '">' + td('Service', esc(d.service)) +
      td('Started', esc(new Date(d.startedAt).toLocaleTimeString())) + td('Outcome', '<span class="' + (d.outcome === 'succeeded' ? 'ok' : d.outcome === 'failed' ? 'fail' : 'running') + '">' + esc(d.outcome) + '</span>' + (d.error ? '<br><small>' + esc(d.error.split('\\n')[0]) + '</small>' : '')) +
      td('Old → new', esc(d.old.join(', ') || '–') + ' → ' + esc(d.new.join(', ') || '–')) + td('Failed requests', d.failedRequests) +
      td('Steps', '<ul class="steps">' + d.steps.map((s) => '<li>' + esc(new Date(s.at).toLocaleTimeString()) + ' ' + esc(s.step) + ': ' + esc(s.message) + '</li>').join('') + '</ul>') + '</tr>').join('') || '<tr><td colspan="6">no rollouts yet</td></tr>'
    document.getElementById('meta').textContent = 'proxyctl ' + status.version + ' · updated ' + new Date().toLocaleTimeString()
    prev = { at: now, traffic: status.traffic }
  } catch (err) {
    document.getElementById('meta').textContent = 'update failed: ' + err.message
  }
}
refresh(); setInterval(refresh, 1000)
</script></body></html>
`
