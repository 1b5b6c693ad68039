// The dashboard page: one self-contained HTML document (inline CSS and JS, no external URLs) that reads
// `/events` (SSE: `full`, then `delta` messages from cli/dashboard/http.ts) and draws (1) the peer machine's
// statechart as SVG from the chart description (cli/dashboard/chart.ts) with a live count of peer actors in each
// state and the drops by DiscReason, (2) when the nodes run eth, the eth-peer machine's statechart with a live count
// of eth-peer actors in each state, (3) the supervisors (their statechart with node counts, and a table of every
// node), (4) the selected node's peers, (5) the recent transitions and peer events. Every string that comes from
// a remote (client names, caps) is escaped before it reaches the DOM.
//
// API
//   renderPage({ peer, server, eth? }) → the HTML text, with the chart descriptions embedded (drawn before the
//   first SSE message arrives; the SVGs' accessible labels name every state)
import type { ChartJson, ChartState } from './chart.ts'

const STYLE = `
:root { --bg:#0f1419; --panel:#171e26; --line:#2a3440; --text:#d8dee6; --dim:#8592a0; --accent:#5fb3f9;
  --run:#3fb950; --hs:#d29922; --pend:#6e8bb3; --drop:#f85149; --font: system-ui, -apple-system, 'Segoe UI', sans-serif; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--text); font:13px/1.4 var(--font); }
header { display:flex; gap:18px; align-items:baseline; padding:10px 16px; border-bottom:1px solid var(--line); flex-wrap:wrap; }
header h1 { font-size:16px; margin:0; font-weight:600; }
header .stat b { color:var(--accent); font-weight:600; }
#conn { font-size:12px; color:var(--dim); } #conn.ok::before { content:'● '; color:var(--run); } #conn.bad::before { content:'● '; color:var(--drop); }
main { display:grid; grid-template-columns: minmax(0,3fr) minmax(280px,1fr); gap:12px; padding:12px 16px; }
section { background:var(--panel); border:1px solid var(--line); border-radius:6px; padding:10px 12px; min-width:0; }
section h2 { font-size:13px; margin:0 0 8px; color:var(--dim); font-weight:600; text-transform:uppercase; letter-spacing:.04em; }
.wide { grid-column: 1 / -1; }
svg { width:100%; height:auto; display:block; }
svg text { font-family:var(--font); fill:var(--text); }
svg .box { fill:#1d2631; stroke:#3a4654; stroke-width:1.2; }
svg .box.on { fill:#1f3a2a; stroke:var(--run); }
svg .box.final { fill:#2a1d20; stroke:#6b3035; } svg .box.final.on { stroke:var(--drop); }
svg .region { fill:#19212b; stroke:#34404d; stroke-dasharray:4 3; }
svg .name { font-size:13px; font-weight:600; } svg .small { font-size:11px; fill:var(--dim); }
svg .count { font-size:22px; font-weight:700; fill:var(--dim); } svg .count.on { fill:#fff; }
svg .edge { stroke:#5a6878; stroke-width:1.3; fill:none; } svg .elabel { font-size:11px; fill:#9fb0c2; }
table { border-collapse:collapse; width:100%; font-size:12px; }
th { text-align:left; color:var(--dim); font-weight:500; border-bottom:1px solid var(--line); padding:3px 6px; position:sticky; top:0; background:var(--panel); }
td { padding:3px 6px; border-bottom:1px solid #1f2731; white-space:nowrap; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; }
.mono { font-family: ui-monospace, 'SF Mono', Menlo, Consolas, monospace; font-size:11.5px; }
tr.sel td { background:#1d3047; } #nodes tbody tr { cursor:pointer; } #nodes tbody tr:hover td { background:#1b2836; }
.scroll { max-height:420px; overflow:auto; }
.badge { display:inline-block; padding:0 6px; border-radius:8px; font-size:11px; background:#2a3440; }
.s-running { background:#1f4d2c; color:#9be9a8; } .s-dropped, .s-stopped { background:#4d1f22; color:#ffa198; }
.s-pendingHandshake, .s-idle { background:#253850; color:#a8c7f0; }
.s-encHandshakeChecks, .s-protoHandshake, .s-protoHandshakeChecks, .s-starting, .s-stopping { background:#4a3a12; color:#f2cc60; }
tr.gone td { opacity:.45; }
.bars div { display:flex; align-items:center; gap:8px; margin:3px 0; }
.bars .lbl { width:150px; color:var(--dim); } .bars .bar { height:10px; background:var(--drop); border-radius:2px; min-width:2px; }
#log { font-size:12px; max-height:420px; overflow:auto; }
#log div { padding:1px 0 1px 2.2em; text-indent:-2.2em; overflow-wrap:anywhere; }
#log .t { color:var(--dim); } #log .add { color:var(--run); } #log .drop { color:var(--drop); } #log .srv { color:var(--accent); }
.muted { color:var(--dim); }
@media (max-width: 900px) { main { grid-template-columns: 1fr; } }
`

const SCRIPT = `
'use strict'
window.onerror = function (msg, src, line) {
  var c = document.getElementById('conn'); c.className = 'bad'; c.textContent = 'page error: ' + msg + ' (line ' + line + ')'
}
var S = { chart: null, nodes: [], peers: new Map(), counts: {}, serverCounts: {}, ethCounts: {}, drops: {}, totals: {}, log: [],
  sel: 0, seq: 0, t0: 0 }
var LOG_MAX = 300
var PEER_OPTS = { box: 176, gap: 120, h: 70, finalNote: '— peers stay here 5 s after ending' }
var SERVER_OPTS = { box: 100, gap: 84, h: 58 }
var ETH_OPTS = { box: 130, gap: 110, h: 58, finalNote: '— eth peers stay here 5 s after ending' }
var $ = function (id) { return document.getElementById(id) }
function esc(v) { return String(v).replace(/[&<>"']/g, function (c) {
  return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c] }) }
function fmtT(ms) { var s = Math.max(0, Math.floor(ms / 1000)); var m = Math.floor(s / 60); s = s % 60;
  return m > 0 ? m + 'm' + (s < 10 ? '0' : '') + s + 's' : s + 's' }
function now() { return performance.now() - S.t0 }

// ---- statechart drawing (generic over the chart description: top-level chain, regions, a final bar) ----
function topOf(path) { var i = path.indexOf('.'); return i < 0 ? path : path.slice(0, i) }
function drawChart(svgId, chart, opts) {
  var W = opts.box, GAP = opts.gap, H = opts.h, Y = 34
  var main = chart.states.filter(function (s) { return s.type !== 'final' })
  var finals = chart.states.filter(function (s) { return s.type === 'final' })
  var pos = {}, x = 10, rowH = H
  main.forEach(function (s) {
    var regions = s.states.length
    var w = regions > 0 ? Math.max(W, regions * 128 + 16) : W
    var h = regions > 0 ? H + 64 : H
    pos[s.path] = { x: x, y: Y, w: w, h: h, s: s }
    rowH = Math.max(rowH, h)
    x += w + GAP
  })
  var width = x - GAP + 10
  var fy = Y + rowH + 72
  var out = []
  out.push('<defs><marker id="' + svgId + 'a" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#5a6878"/></marker></defs>')
  var mk = ' marker-end="url(#' + svgId + 'a)"'
  // edges between top-level states (nested sources count as their top-level state)
  var pair = {}, toFinal = {}, rootLabels = [], loops = {}
  chart.edges.forEach(function (e) {
    if (e.from === '') { rootLabels.push(e.label); return }
    var a = topOf(e.from), b = topOf(e.to)
    if (e.from === e.to || (a === b && e.from !== a)) { (loops[e.from] = loops[e.from] || []).push(e.label); return }
    if (finals.some(function (f) { return f.path === b })) { (toFinal[a] = toFinal[a] || []).push(e.label); return }
    if (a === b) return
    var k = a + '>' + b; (pair[k] = pair[k] || []).push(e.label)
  })
  Object.keys(pair).forEach(function (k) {
    var ab = k.split('>'), p = pos[ab[0]], q = pos[ab[1]]
    if (!p || !q) return
    var lbl = esc(pair[k].join(' / '))
    if (q.x === p.x + p.w + GAP) {
      var y = Y + 46
      out.push('<line class="edge" x1="' + (p.x + p.w) + '" y1="' + y + '" x2="' + (q.x - 2) + '" y2="' + y + '"' + mk + '/>')
      out.push('<text class="elabel" text-anchor="middle" x="' + (p.x + p.w + GAP / 2) + '" y="' + (y - 6) + '">' + lbl + '</text>')
    } else {
      var x1 = p.x + p.w / 2, x2 = q.x + q.w / 2, up = Y - 4
      out.push('<path class="edge" d="M' + x1 + ',' + Y + ' C' + x1 + ',' + (up - 26) + ' ' + x2 + ',' + (up - 26) + ' ' + x2 + ',' + (Y - 2) + '"' + mk + '/>')
      out.push('<text class="elabel" text-anchor="middle" x="' + (x1 + x2) / 2 + '" y="' + (up - 18) + '">' + lbl + '</text>')
    }
  })
  main.forEach(function (s) {
    var p = pos[s.path]
    if (toFinal[s.path]) {
      var cx = p.x + p.w / 2
      out.push('<g><title>' + esc(s.key + ' → ' + finals.map(function (f) { return f.key }).join(',') + ': ' + toFinal[s.path].join(', ')) + '</title>')
      out.push('<line class="edge" x1="' + cx + '" y1="' + (p.y + p.h) + '" x2="' + cx + '" y2="' + (fy - 2) + '"' + mk + '/>')
      toFinal[s.path].forEach(function (l, j) {
        out.push('<text class="elabel" x="' + (cx + 5) + '" y="' + (p.y + p.h + 16 + j * 13) + '">' + esc(l) + '</text>')
      })
      out.push('</g>')
    }
    out.push('<rect class="box" data-p="' + esc(s.path) + '" x="' + p.x + '" y="' + p.y + '" width="' + p.w + '" height="' + p.h + '" rx="8"/>')
    out.push('<text class="name" x="' + (p.x + 10) + '" y="' + (p.y + 18) + '">' + esc(s.key) + (s.type === 'parallel' ? ' <tspan class="small">(parallel)</tspan>' : '') + '</text>')
    out.push('<text class="count" data-c="' + esc(s.path) + '" x="' + (p.x + p.w - 10) + '" y="' + (p.y + 44) + '" text-anchor="end">0</text>')
    s.states.forEach(function (r, i) {
      var rx = p.x + 8 + i * 128, ry = p.y + 52, rw = 120, rh = p.h - 60
      out.push('<rect class="region" x="' + rx + '" y="' + ry + '" width="' + rw + '" height="' + rh + '" rx="6"/>')
      out.push('<text class="small" x="' + (rx + 6) + '" y="' + (ry + 14) + '">' + esc(r.key) + '</text>')
      var leaves = r.states.length ? r.states : [r]
      leaves.forEach(function (l, j) {
        var ly = ry + 32 + j * 18
        out.push('<text x="' + (rx + 10) + '" y="' + ly + '" font-size="12">' + esc(l.key) + (loops[l.path] ? ' <tspan class="small">↻</tspan>' : '') + '</text>')
        out.push('<text class="small" data-c="' + esc(l.path) + '" x="' + (rx + rw - 8) + '" y="' + ly + '" text-anchor="end">0</text>')
        if (loops[l.path]) out.push('<title>' + esc(l.key + ' ↻ ' + loops[l.path].join(', ')) + '</title>')
      })
    })
  })
  finals.forEach(function (f, i) {
    var fw = (width - 20) / finals.length, fx = 10 + i * fw
    out.push('<rect class="box final" data-p="' + esc(f.path) + '" x="' + fx + '" y="' + fy + '" width="' + (fw - 4) + '" height="40" rx="8"/>')
    out.push('<text class="name" x="' + (fx + 10) + '" y="' + (fy + 25) + '">' + esc(f.key) + ' <tspan class="small">(final)' + (opts.finalNote ? ' ' + esc(opts.finalNote) : '') + '</tspan></text>')
    out.push('<text class="count" data-c="' + esc(f.path) + '" x="' + (fx + fw - 14) + '" y="' + (fy + 28) + '" text-anchor="end">0</text>')
  })
  if (rootLabels.length) out.push('<text class="small" x="10" y="' + (fy + 58) + '">from any state → ' + esc(finals.map(function (f) { return f.key }).join(',')) + ': ' + esc(rootLabels.join(', ')) + '</text>')
  var svg = $(svgId)
  svg.setAttribute('viewBox', '0 0 ' + width + ' ' + (fy + (rootLabels.length ? 66 : 48)))
  svg.style.maxWidth = width + 'px'
  svg.innerHTML = out.join('')
}
function paintCounts(svgId, counts) {
  var svg = $(svgId)
  svg.querySelectorAll('[data-c]').forEach(function (el) {
    var n = counts[el.getAttribute('data-c')] || 0
    el.textContent = n
    el.classList.toggle('on', n > 0)
  })
  svg.querySelectorAll('[data-p]').forEach(function (el) { el.classList.toggle('on', (counts[el.getAttribute('data-p')] || 0) > 0) })
}

// ---- tables, bars, log ----
function badge(s) { return '<span class="badge s-' + esc(s) + '">' + esc(s) + '</span>' }
function renderNodes() {
  var rows = S.nodes.map(function (n) {
    return '<tr data-n="' + n.node + '"' + (n.node === S.sel ? ' class="sel"' : '') + '><td class="num">' + n.node +
      '</td><td class="mono">' + esc(n.id) + '</td><td>' + badge(n.state) + '</td><td class="num">' + n.peers +
      '</td><td class="num">' + n.eth + '</td><td class="num">' + n.inbound + '</td><td class="num">' + n.outbound + '</td><td class="num">' + n.handshaking +
      '</td><td class="num">' + n.connections + '</td><td class="num">' + n.table + '</td><td class="num">' + n.txpool + '</td></tr>'
  })
  $('nodes').tBodies[0].innerHTML = rows.join('')
}
function renderPeers() {
  var t = now(), list = []
  S.peers.forEach(function (p) { if (p.node === S.sel) list.push(p) })
  list.sort(function (a, b) { return (a.state === 'dropped') - (b.state === 'dropped') || (a.id || a.actor).localeCompare(b.id || b.actor) })
  var n = S.nodes[S.sel]
  $('peersTitle').textContent = 'Peers of node ' + S.sel + (n ? ' (' + n.peers + ' peers, ' + n.inbound + ' in / ' + n.outbound + ' out, ' + n.handshaking + ' handshaking)' : '')
  $('peers').tBodies[0].innerHTML = list.length ? list.map(function (p) {
    return '<tr' + (p.state === 'dropped' ? ' class="gone"' : '') + '><td class="mono">' + esc(p.id || '—') + '</td><td class="mono muted">' + esc(p.actor.length > 24 ? p.actor.slice(0, 22) + '…' : p.actor) +
      '</td><td>' + (p.inbound ? 'in' : 'out') + '</td><td>' + badge(p.state) + (p.reason ? ' <span class="muted">' + esc(p.reason) + (p.remoteReq ? ' (remote)' : '') + '</span>' : '') +
      '</td><td class="muted">' + esc(p.sub.join(' · ')) + '</td><td>' + esc(p.name) + '</td><td class="mono">' + esc(p.caps.join(' ')) +
      '</td><td class="mono">' + esc(p.remote) + '</td><td class="num">' + fmtT(t - p.since) + '</td></tr>'
  }).join('') : '<tr><td colspan="9" class="muted">no peers</td></tr>'
}
function renderDrops() {
  var keys = Object.keys(S.drops).sort(function (a, b) { return S.drops[b] - S.drops[a] })
  var max = keys.reduce(function (m, k) { return Math.max(m, S.drops[k]) }, 1)
  $('drops').innerHTML = keys.length ? keys.map(function (k) {
    return '<div><span class="lbl">' + esc(k) + '</span><span class="bar" style="width:' + Math.round(160 * S.drops[k] / max) + 'px"></span><b>' + S.drops[k] + '</b></div>'
  }).join('') : '<span class="muted">no drops yet</span>'
}
function renderLog() {
  $('log').innerHTML = S.log.slice().reverse().map(function (e) {
    return '<div class="' + e.c + '"><span class="t">' + fmtT(e.t) + '</span> node' + e.n + ' <span class="mono">' + esc(e.p.slice(0, 10)) + '</span> ' + esc(e.m) + '</div>'
  }).join('')
}
function renderHeader() {
  var tot = S.totals, peers = S.nodes.reduce(function (a, n) { return a + n.peers }, 0)
  $('stats').innerHTML = '<span class="stat">uptime <b>' + fmtT(now()) + '</b></span> <span class="stat">nodes <b>' + S.nodes.length +
    '</b></span> <span class="stat">peer links <b>' + peers / 2 + '</b></span> <span class="stat">machines started <b>' + (tot.connections || 0) +
    '</b></span> <span class="stat">peer events <b>+' + (tot.added || 0) + ' / −' + (tot.removed || 0) + '</b></span>'
}
var dirty = false
function schedule() { if (!dirty) { dirty = true; requestAnimationFrame(render) } }
function render() {
  dirty = false
  if (!S.chart) return
  paintCounts('peerChart', S.counts); paintCounts('serverChart', S.serverCounts)
  if (S.chart.eth) paintCounts('ethChart', S.ethCounts)
  renderHeader(); renderNodes(); renderPeers(); renderDrops(); renderLog()
}
function apply(d, full) {
  S.t0 = performance.now() - d.t
  if (full) {
    S.chart = d.chart; S.peers = new Map(); S.log = []; S.seq = 0
    drawChart('peerChart', d.chart.peer, PEER_OPTS)
    drawChart('serverChart', d.chart.server, SERVER_OPTS)
    if (d.chart.eth) drawChart('ethChart', d.chart.eth, ETH_OPTS)
  }
  if (full) S.nodes = d.nodes
  else d.nodes.forEach(function (n) { S.nodes[n.node] = n })
  d.peers.forEach(function (p) { S.peers.set(p.k, p) })
  ;(d.gone || []).forEach(function (k) { S.peers.delete(k) })
  S.counts = d.counts; S.serverCounts = d.serverCounts; S.ethCounts = d.ethCounts || {}; S.drops = d.drops; S.totals = d.totals
  d.log.forEach(function (e) { if (e.s > S.seq) { S.log.push(e); S.seq = e.s } })
  if (S.log.length > LOG_MAX) S.log.splice(0, S.log.length - LOG_MAX)
  if (S.sel >= S.nodes.length) S.sel = 0
  schedule()
}
$('nodes').addEventListener('click', function (ev) {
  var tr = ev.target.closest('tr[data-n]')
  if (tr) { S.sel = Number(tr.getAttribute('data-n')); schedule() }
})
var embedded = JSON.parse($('charts').textContent)
drawChart('peerChart', embedded.peer, PEER_OPTS); drawChart('serverChart', embedded.server, SERVER_OPTS)
if (embedded.eth) drawChart('ethChart', embedded.eth, ETH_OPTS)
var es = new EventSource('events')
es.addEventListener('full', function (m) { apply(JSON.parse(m.data), true); $('conn').className = 'ok'; $('conn').textContent = 'live' })
es.addEventListener('delta', function (m) { apply(JSON.parse(m.data), false) })
es.onerror = function () { $('conn').className = 'bad'; $('conn').textContent = es.readyState === 2 ? 'closed' : 'reconnecting…' }
setInterval(function () { if (S.chart && $('conn').className === 'ok') { renderHeader(); renderPeers() } }, 1000)
`

/** 'a, b, running (ping: waiting; protocols: active), c' */
function stateList(states: ChartState[]): string {
  return states
    .map((s) =>
      s.states.length
        ? `${s.key} (${s.states.map((r) => `${r.key}: ${stateList(r.states)}`).join('; ')})`
        : s.key,
    )
    .join(', ')
}

const attr = (v: string) => v.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;')

export function renderPage(charts: { peer: ChartJson; server: ChartJson; eth?: ChartJson }): string {
  const eth = charts.eth
    ? `<section class="wide"><h2>eth-peer machine (machines/eth-peer.machine.ts) — eth peers in each state, all nodes</h2>
<svg id="ethChart" role="img" aria-label="eth-peer statechart: ${attr(stateList(charts.eth.states))}"></svg>
</section>
`
    : ''
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>devp2p-actors devnet</title>
<style>${STYLE}</style>
</head>
<body>
<header><h1>devp2p-actors devnet</h1><span id="conn">connecting…</span><span id="stats"></span></header>
<main>
<section class="wide"><h2>Peer machine (machines/peer.machine.ts) — peer actors in each state, all nodes</h2>
<svg id="peerChart" role="img" aria-label="peer statechart: ${attr(stateList(charts.peer.states))}"></svg>
</section>
${eth}<section><h2>Server supervisors (machines/server.machine.ts) — nodes in each state</h2>
<svg id="serverChart" role="img" aria-label="server statechart: ${attr(stateList(charts.server.states))}"></svg>
<div class="scroll"><table id="nodes"><thead><tr><th class="num">node</th><th>id</th><th>supervisor</th><th class="num">peers</th>
<th class="num">eth</th><th class="num">in</th><th class="num">out</th><th class="num">handshaking</th><th class="num">conns</th><th class="num">table</th><th class="num">txpool</th></tr></thead><tbody></tbody></table></div>
</section>
<section><h2>Drops by DiscReason</h2><div id="drops" class="bars"></div>
<h2 style="margin-top:14px">Recent transitions and peer events</h2><div id="log"></div></section>
<section class="wide"><h2 id="peersTitle">Peers</h2>
<div class="scroll"><table id="peers"><thead><tr><th>remote id</th><th>actor</th><th>dir</th><th>state</th><th>substates</th><th>client</th>
<th>caps</th><th>remote</th><th class="num">in state</th></tr></thead><tbody></tbody></table></div>
</section>
</main>
<script id="charts" type="application/json">${JSON.stringify(charts).replace(/</g, '\\u003c')}</script>
<script>${SCRIPT}</script>
</body>
</html>
`
}
