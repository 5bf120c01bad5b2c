import { createHash } from "node:crypto";
// The page is one string: no build step, no external requests. The script
// polls ./status, ./history and ./events (relative to .../replicas/dashboard)
// every 3 s and puts server strings into the DOM only through textContent and
// attributes. It avoids the literal SVG namespace URL (the page holds no
// URL at all) by reading it from a parsed <svg>.

const CSS = String.raw`
:root{--fg:#1a1d21;--muted:#56606b;--line:#d8dde3;--bg:#f4f6f8;--card:#fff;--ok:#0f6b2f;--okb:#dcf3e3;--warn:#7a4a00;--warnb:#fdefc8;--bad:#a11d1d;--badb:#fde2e2;--mute:#3f4752;--muteb:#e6e9ed}
*{box-sizing:border-box}
[hidden]{display:none!important}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;color:var(--fg);background:var(--bg)}
.top{display:flex;flex-wrap:wrap;align-items:center;gap:6px 10px;padding:12px 16px;background:var(--card);border-bottom:1px solid var(--line)}
h1{font-size:18px;margin:0 6px 0 0}
h2{font-size:15px;margin:0 0 8px}
h3{font-size:14px;margin:8px 0 2px}
.pill{padding:1px 8px;border:1px solid var(--line);border-radius:999px;overflow-wrap:anywhere;max-width:100%}
.muted,.sub,figcaption,th{color:var(--muted)}
#contact-lost{position:sticky;top:0;z-index:1;margin:0;padding:10px 16px;background:var(--bad);color:#fff;font-weight:600}
#login{display:grid;gap:8px;max-width:360px;margin:16px;padding:16px;background:var(--card);border:1px solid var(--line);border-radius:8px}
input,button{font:inherit;padding:6px 10px;border-radius:6px;border:1px solid #7c8591}
button{background:#1f4fa8;border-color:#1f4fa8;color:#fff;cursor:pointer}
#login-error{margin:0;color:var(--bad);font-weight:600}
.fallback{margin:12px 16px 0;padding:8px 12px;border-left:4px solid #b7791f;background:var(--warnb);color:var(--warn);font-weight:600}
.fallback::before{content:"⚠ "}
main{display:grid;grid-template-columns:minmax(0,1fr);gap:16px;padding:16px}
@media (min-width:1000px){main{grid-template-columns:minmax(0,2fr) minmax(0,1fr)}#charts{grid-row:span 2}}
.panel{min-width:0;padding:12px;background:var(--card);border:1px solid var(--line);border-radius:8px}
.data{transition:opacity .2s}
body.stale .data{opacity:.45;filter:grayscale(1)}
.scroll{overflow-x:auto}
table{width:100%;border-collapse:collapse;font-variant-numeric:tabular-nums}
th,td{padding:6px 8px;text-align:left;vertical-align:top;white-space:nowrap;border-bottom:1px solid var(--line)}
th{font-size:12px;font-weight:600}
td.node{white-space:normal;min-width:9em}
.sub{display:block;font-size:12px;overflow-wrap:anywhere}
.sub.err{color:var(--bad)}
.num{text-align:right}
.badge{display:inline-block;padding:0 8px;border-radius:999px;font-size:12px;font-weight:600;white-space:nowrap}
.ok{background:var(--okb);color:var(--ok)}
.warn{background:var(--warnb);color:var(--warn)}
.bad{background:var(--badb);color:var(--bad)}
.mute{background:var(--muteb);color:var(--mute)}
td.hot{background:var(--warnb);color:var(--warn);font-weight:700}
#lag-charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(180px,100%),1fr));gap:8px;margin-bottom:12px}
figure{margin:0;min-width:0}
figcaption{font-size:12px}
svg{display:block;width:100%;height:auto}
.axis{stroke:#7c8591;stroke-width:1}
.line{fill:none;stroke-width:1.8;stroke-linecap:round;stroke-linejoin:round}
svg text{font-size:11px;fill:var(--muted)}
.legend{display:flex;flex-wrap:wrap;gap:4px 12px;margin:4px 0 0;padding:0;list-style:none;font-size:12px}
.legend svg{display:inline-block;width:20px;height:8px;margin-right:4px;vertical-align:middle}
#events{margin:0;padding:0;list-style:none;max-height:480px;overflow-y:auto}
.ev{display:flex;flex-wrap:wrap;align-items:baseline;gap:2px 8px;padding:6px 8px;border-left:4px solid transparent;border-bottom:1px solid var(--line)}
.ev-warn{border-left-color:#b7791f;background:#fffaeb}
.ev time{color:var(--muted);font-variant-numeric:tabular-nums}
.kind{padding:0 4px;border:1px solid var(--line);border-radius:4px;font-size:11px;text-transform:uppercase;letter-spacing:.04em}
.enode{font-weight:600}
.msg{flex:1 1 16em;min-width:0;overflow-wrap:anywhere}
`;

const SCRIPT = String.raw`
"use strict";
(() => {
const POLL_MS = 3000, TIMEOUT_MS = 10000;
const body = document.body, $ = (id) => document.getElementById(id);
const probe = document.createElement("div");
probe.innerHTML = "<svg></svg>";
const SVG_NS = probe.firstChild.namespaceURI;
const COLORS = ["#1f5fbf", "#c2410c", "#15803d", "#7c3aed", "#b91c1c", "#0e7490", "#a16207", "#be185d"];
const DASHES = ["", "6 3", "2 3", "8 3 2 3"];
const STATE_TONE = { healthy: "ok", lagging: "warn", unhealthy: "bad", circuit_open: "bad", not_a_replica: "mute", disabled: "mute" };
const CIRCUIT_TONE = { closed: "ok", half_open: "warn", open: "bad" };
const PL = 42, PR = 8, PT = 8, PB = 18;
let timer = 0, busy = false, lostSince = null;

const url = (p) => new URL(p, location.href);
const p2 = (n) => (n < 10 ? "0" : "") + n;
const hms = (d) => p2(d.getHours()) + ":" + p2(d.getMinutes()) + ":" + p2(d.getSeconds());
const words = (s) => String(s).split("_").join(" ");
const num = (v) => String(Number(v.toPrecision(3)));

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = String(text);
  return e;
}
function svgEl(tag, attrs, text) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const k in attrs) e.setAttribute(k, String(attrs[k]));
  if (text != null) e.textContent = String(text);
  return e;
}
function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : String(n)) + " " + units[i];
}
const badge = (value, tones) => el("span", "badge " + (tones[value] || "mute"), words(value));

function get(path) {
  const opts = { credentials: "same-origin", cache: "no-store" };
  if (window.AbortSignal && AbortSignal.timeout) opts.signal = AbortSignal.timeout(TIMEOUT_MS);
  return fetch(url(path), opts).then((r) => {
    if (r.status === 401) throw { auth: true };
    if (!r.ok) throw new Error(path + ": status " + r.status);
    return r.json();
  });
}

function poll() {
  busy = true;
  Promise.allSettled([get("./status"), get("./history"), get("./events")]).then((rs) => {
    busy = false;
    const failed = rs.filter((r) => r.status === "rejected");
    if (failed.some((r) => r.reason && r.reason.auth)) return needLogin();
    if (failed.length) lost();
    else {
      contact();
      try { render(rs[0].value, rs[1].value, rs[2].value); } catch (e) { console.error(e); }
    }
    clearTimeout(timer);
    timer = setTimeout(poll, POLL_MS);
  });
}

function contact() {
  lostSince = null;
  body.dataset.contact = "ok";
  body.classList.remove("stale");
  $("contact-lost").hidden = true;
  $("updated").textContent = "updated " + hms(new Date());
}
function lost() {
  if (!lostSince) lostSince = new Date();
  body.dataset.contact = "lost";
  body.classList.add("stale");
  const banner = $("contact-lost");
  banner.textContent = "Lost contact with the service since " + hms(lostSince) + " — retrying";
  banner.hidden = false;
}
function needLogin() {
  // The service answered, so contact is fine; the data is not current.
  lostSince = null;
  $("contact-lost").hidden = true;
  if (body.dataset.contact === "lost") body.dataset.contact = "ok";
  body.classList.add("stale");
  body.dataset.auth = "required";
  $("login").hidden = false;
  $("token").focus();
}

$("login").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const input = $("token"), msg = $("login-error"), button = ev.target.querySelector("button");
  button.disabled = true;
  msg.textContent = "";
  fetch(url("./dashboard/login"), {
    method: "POST", credentials: "same-origin", cache: "no-store",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ token: input.value }),
  }).then((r) => {
    if (r.ok) {
      input.value = "";
      $("login").hidden = true;
      delete body.dataset.auth;
      clearTimeout(timer);
      if (!busy) poll();
    } else if (r.status === 401) {
      msg.textContent = "Wrong token";
      input.select();
    } else msg.textContent = "Login failed (status " + r.status + ")";
  }, () => { msg.textContent = "Login failed: no contact with the service"; })
    .finally(() => { button.disabled = false; });
});

function render(st, hist, evs) {
  const id = st.fleet && st.fleet.instanceId;
  $("instance").hidden = !id;
  $("instance").textContent = id ? "instance " + id : "";
  $("strategy").textContent = "strategy " + st.strategy;
  const rd = st.readDefaults || { default: "eventual", endpoints: {} };
  const own = Object.keys(rd.endpoints).length;
  $("default-consistency").textContent = "reads default to " + rd.default + (own > 0 ? " (" + own + " endpoint" + (own > 1 ? "s" : "") + " set apart)" : "");
  $("default-consistency").title = Object.entries(rd.endpoints).map(([e, l]) => e + ": " + l).join("\n");
  $("enabled").textContent = st.enabled ? "replica reads enabled" : "replica reads disabled";
  $("enabled").className = "pill " + (st.enabled ? "ok" : "warn");
  const loop = st.eventLoop || { delayP99Ms: 0 };
  $("loop").textContent = "event loop delay " + loop.delayP99Ms + " ms";
  $("loop").className = "pill " + (loop.delayP99Ms < 100 ? "ok" : "warn");
  const fb = $("fallback");
  fb.hidden = st.fallbackReason == null;
  fb.textContent = st.fallbackReason == null ? "" : "All reads go to the primary: " + st.fallbackReason;
  const clusters = [{ name: "main", primary: st.primary, replicas: st.replicas, summary: st.summary }].concat(st.clusters || []);
  const share = hist.readShareLastMinute || {};
  $("clusters").replaceChildren(...clusters.map((c) => clusterTable(c, share)));
  const samples = hist.samples || [];
  const times = samples.map((s) => Date.parse(s.at));
  const windowMs = hist.windowMs || 900000;
  const pick = (name, field) => samples.map((s) => {
    const n = s.nodes && s.nodes[name];
    return n && n[field] != null ? n[field] : null;
  });
  renderLag(clusters, times, windowMs, pick);
  renderReads(clusters, samples, times, windowMs, hist.intervalMs, pick);
  renderEvents((evs.events || []).slice(0, 50));
}

function clusterTable(c, share) {
  const sec = el("section", "cluster");
  sec.dataset.cluster = c.name;
  const s = c.summary;
  sec.append(el("h3", "", "Cluster " + c.name),
    el("p", "muted", s ? s.total + " nodes · " + s.healthy + " healthy · " + s.serving + " serving reads" : c.serving + " serving reads"));
  const head = el("tr");
  for (const h of ["Node", "Role", "State", "Circuit", "Lag", "Reads last min", "Pool", "Waiting"]) {
    const th = el("th", "", h);
    th.scope = "col";
    head.append(th);
  }
  const thead = el("thead"), tbody = el("tbody"), table = el("table"), wrap = el("div", "scroll");
  thead.append(head);
  for (const n of [c.primary].concat(c.replicas || [])) if (n) tbody.append(nodeRow(n, share));
  table.append(thead, tbody);
  wrap.append(table);
  sec.append(wrap);
  return sec;
}

function nodeRow(n, share) {
  const tr = el("tr");
  tr.dataset.node = n.name;
  tr.dataset.state = n.state;
  const node = el("td", "node"), state = el("td", "state"), circuit = el("td", "circuit");
  node.append(el("strong", "", n.name));
  if (n.address != null) node.append(el("span", "sub", n.address));
  if (n.zone != null) node.append(el("span", "sub", "zone " + n.zone));
  if (n.lastError) node.append(el("span", "sub err", n.lastError));
  state.append(badge(n.state, STATE_TONE));
  circuit.append(badge(n.circuit, CIRCUIT_TONE));
  const lag = n.lagSeconds == null && n.lagBytes == null ? "—"
    : (n.lagSeconds == null ? "—" : n.lagSeconds.toFixed(1) + " s") + " · " + (n.lagBytes == null ? "—" : bytes(n.lagBytes));
  const sh = share[n.name];
  const p = n.pool || { total: 0, idle: 0, waiting: 0, max: 0 };
  tr.append(node, el("td", "role", n.role), state, circuit, el("td", "num lag", lag),
    el("td", "num reads", typeof sh === "number" ? Math.round(sh * 100) + "%" : "—"),
    el("td", "num pool", p.total - p.idle + "/" + p.max),
    el("td", "num waiting" + (p.waiting > 0 ? " hot" : ""), p.waiting));
  return tr;
}

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v))), m = v / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

/** Line chart over the history window; null values break the line. */
function chart(label, series, times, windowMs, unit, W, H) {
  const s = svgEl("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": label });
  // The window shown: up to the history's, from the oldest sample held (a
  // fresh process has only a few minutes: they fill the width).
  const end = times.length ? times[times.length - 1] : Date.now();
  const span = Math.max(60000, Math.min(windowMs, times.length ? end - times[0] : windowMs));
  const start = end - span;
  let max = 0;
  for (const se of series) for (const v of se.values) if (v != null && v > max) max = v;
  max = niceMax(max);
  const x = (t) => PL + (W - PL - PR) * Math.min(1, Math.max(0, (t - start) / span));
  const y = (v) => PT + (H - PT - PB) * (1 - v / max);
  s.append(svgEl("line", { x1: PL, y1: H - PB, x2: W - PR, y2: H - PB, class: "axis" }),
    svgEl("line", { x1: PL, y1: PT, x2: PL, y2: H - PB, class: "axis" }),
    svgEl("text", { x: PL - 4, y: PT + 8, "text-anchor": "end" }, num(max) + unit),
    svgEl("text", { x: PL - 4, y: H - PB, "text-anchor": "end" }, "0"),
    svgEl("text", { x: PL, y: H - 4 }, "-" + Math.round(span / 60000) + " min"),
    svgEl("text", { x: W - PR, y: H - 4, "text-anchor": "end" }, "now"));
  for (const se of series) {
    let d = "", pen = false;
    se.values.forEach((v, i) => {
      if (v == null || !(times[i] >= start)) { pen = false; return; }
      // "h0" gives a lone point a visible round cap.
      d += (pen ? "L" : "M") + x(times[i]).toFixed(1) + " " + y(v).toFixed(1) + (pen ? "" : "h0");
      pen = true;
    });
    if (d) s.append(svgEl("path", { d, class: "line", stroke: se.color, "stroke-dasharray": se.dash || "none" }));
  }
  return s;
}

function renderLag(clusters, times, windowMs, pick) {
  const figs = [];
  for (const c of clusters) for (const n of c.replicas || []) {
    const fig = el("figure");
    fig.dataset.chart = "lag";
    fig.dataset.node = n.name;
    fig.append(chart(n.name + " replication lag in seconds", [{ values: pick(n.name, "lagSeconds"), color: COLORS[0] }], times, windowMs, " s", 220, 100),
      el("figcaption", "", n.name + " lag (s)"));
    figs.push(fig);
  }
  if (!figs.length) figs.push(el("p", "muted", "No replicas configured."));
  $("lag-charts").replaceChildren(...figs);
}

function renderReads(clusters, samples, times, windowMs, intervalMs, pick) {
  const names = [];
  const add = (name) => { if (names.indexOf(name) < 0) names.push(name); };
  for (const c of clusters) for (const n of [c.primary].concat(c.replicas || [])) if (n) add(n.name);
  for (const s of samples) Object.keys(s.nodes || {}).forEach(add);
  const series = names.map((name, i) => ({ name, values: pick(name, "reads"), color: COLORS[i % COLORS.length], dash: DASHES[i % DASHES.length] }));
  const fig = el("figure"), legend = el("ul", "legend");
  fig.dataset.chart = "reads";
  for (const se of series) {
    const li = el("li"), sw = svgEl("svg", { viewBox: "0 0 20 8", "aria-hidden": "true" });
    sw.append(svgEl("path", { d: "M1 4H19", class: "line", stroke: se.color, "stroke-dasharray": se.dash || "none" }));
    li.dataset.node = se.name;
    li.append(sw, document.createTextNode(se.name));
    legend.append(li);
  }
  const per = intervalMs ? " per " + num(intervalMs / 1000) + " s" : "";
  fig.append(el("figcaption", "", "Reads per node" + per), chart("Reads per node" + per, series, times, windowMs, "", 320, 140), legend);
  $("reads-chart").replaceChildren(fig);
}

function renderEvents(list) {
  $("events").replaceChildren(...list.map((e) => {
    const li = el("li", "ev" + (e.level === "warn" ? " ev-warn" : ""));
    li.dataset.level = e.level;
    li.dataset.kind = e.kind;
    const d = new Date(e.at), t = el("time", "", isNaN(d.getTime()) ? e.at : hms(d));
    t.dateTime = String(e.at);
    li.append(t, el("span", "kind", e.kind));
    if (e.level === "warn") li.append(el("span", "badge warn", "warn"));
    if (e.node) li.append(el("span", "enode", e.node));
    li.append(el("span", "msg", e.message));
    return li;
  }));
  $("no-events").hidden = list.length > 0;
}

poll();
})();
`;

const HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Replica router</title>
<style>${CSS}</style>
</head>
<body data-contact="loading">
<header class="top">
<h1>Replica router</h1>
<span id="instance" class="pill" hidden></span>
<span id="strategy" class="pill"></span>
<span id="default-consistency" class="pill" title=""></span>
<span id="enabled" class="pill"></span>
<span id="loop" class="pill" title="How late this process's event loop ran over the last second (p99): high means the service itself is overloaded"></span>
<span id="updated" class="muted">loading…</span>
</header>
<div id="contact-lost" role="alert" hidden></div>
<form id="login" hidden>
<label for="token">Monitoring token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
<p id="login-error" role="alert"></p>
</form>
<p id="fallback" class="fallback data" hidden></p>
<main>
<section id="nodes" class="panel data"><h2>Nodes</h2><div id="clusters"><p class="muted">Loading…</p></div></section>
<section id="charts" class="panel data"><h2>Replication lag</h2><div id="lag-charts"></div><h2>Reads</h2><div id="reads-chart"></div></section>
<section id="activity" class="panel data"><h2>Events</h2><ol id="events"></ol><p id="no-events" class="muted" hidden>No events yet.</p></section>
</main>
<script>${SCRIPT}</script>
</body>
</html>
`;

/**
 * The CSP source that allows exactly the page's one inline script (its
 * SHA-256), so no other inline script could run even if one were injected.
 */
export const SCRIPT_SOURCE = `'sha256-${createHash("sha256").update(SCRIPT, "utf8").digest("base64")}'`;

/** The dashboard page: one self-contained HTML document (inline CSS and JS, no external requests). */
export function dashboardHtml(): string {
  return HTML;
}
