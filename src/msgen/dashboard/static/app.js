// The dashboard's page: plain DOM, data set with textContent only (never parsed as HTML).
const GUARD = { "X-Msgen-Dashboard": "1" };
const $ = (sel, root = document) => root.querySelector(sel);

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null) node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

async function getJSON(url) {
  const answer = await fetch(url);
  if (!answer.ok) throw new Error(`${url}: ${answer.status}`);
  return answer.json();
}

function link(text, hash) {
  return el("a", { href: hash }, text);
}

function logsHash(params) {
  return "#/logs?" + new URLSearchParams(params).toString();
}

function fmtTime(seconds) {
  return new Date(seconds * 1000).toLocaleTimeString([], { hour12: false }) + "." +
    String(Math.floor((seconds % 1) * 1000)).padStart(3, "0");
}

function shortTime(iso) {
  return iso ? fmtTime(Date.parse(iso) / 1000) : "";
}

function num(value, digits = 1) {
  return value === null || value === undefined ? "–" : Number(value).toFixed(digits);
}

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
}

// -- services --------------------------------------------------------------------------------
let chart = null;
let processNames = [];

async function services() {
  const data = await getJSON("/api/services");
  $("#system").textContent = `msgen up — ${data.system}`;
  $("#gateway").textContent = data.gateway ? `gateway ${data.gateway}` : "";
  processNames = data.services.map((s) => s.name);
  const select = $("#log-filters select[name=process]");
  if (select.options.length === 1) {
    for (const name of processNames) select.append(el("option", { value: name }, name));
  }
  const yesno = (v) => el("span", { class: v ? "yes" : "no" }, v === null || v === undefined ? "?" : v ? "yes" : "no");
  fill($("#services-table tbody"), data.services.map((s) => el("tr", { dataset: { service: s.name } },
    el("td", {}, link(s.name, logsHash({ process: s.name }))),
    el("td", {}, s.url || ""), el("td", {}, s.pid ?? (s.exited !== null ? `exited ${s.exited}` : "")),
    el("td", {}, s.restarts), el("td", {}, yesno(s.live)), el("td", { class: "ready" }, yesno(s.ready)),
    el("td", {}, num(s.red?.rate, 2)), el("td", {}, num(s.red?.errors, 2)),
    el("td", {}, num(s.red?.p50_ms)), el("td", {}, num(s.red?.p95_ms)),
  )));
  drawChart(data.services.filter((s) => s.series.length));
}

function drawChart(withSeries) {
  if (!window.uPlot || !withSeries.length) return;
  const times = withSeries[0].series.map((p) => p.t);
  const columns = [times, ...withSeries.map((s) => times.map((_, i) => s.series[i]?.rate ?? null))];
  const colours = ["#3b6fd8", "#d8693b", "#2f9e44", "#9c36b5", "#c92a2a", "#1098ad", "#e67700", "#5c940d"];
  const key = withSeries.map((s) => s.name).join(",");
  if (!chart || chart._key !== key) {
    chart?.destroy();
    chart = new uPlot({
      width: Math.min(1000, document.body.clientWidth - 40), height: 220,
      series: [{}, ...withSeries.map((s, i) => ({ label: s.name, stroke: colours[i % colours.length] }))],
      axes: [{}, { label: "req/s" }],
    }, columns, $("#rate-chart"));
    chart._key = key;
  } else {
    chart.setData(columns);
  }
}

// -- logs ------------------------------------------------------------------------------------
function logFilters() {
  const form = $("#log-filters");
  return Object.fromEntries([...new FormData(form)].filter(([, v]) => v));
}

async function logs() {
  const params = new URLSearchParams({ ...logFilters(), limit: 500 });
  const rows = await getJSON("/api/logs?" + params);
  $("#log-count").textContent = `${rows.length} lines`;
  fill($("#logs-table tbody"), rows.map((r) => el("tr", { class: `level-${r.level}`, dataset: { process: r.process } },
    el("td", {}, fmtTime(r.at)), el("td", { class: "process" }, r.process), el("td", {}, r.level),
    el("td", {}, r.correlation_id ? link(r.correlation_id, logsHash({ cid: r.correlation_id })) : ""),
    el("td", {}, r.trace_id ? link("trace", `#/traces?id=${r.trace_id}`) : ""),
    el("td", {}, r.text),
  )));
}

function applyLogParams(params) {
  const form = $("#log-filters");
  for (const name of ["process", "level", "q", "cid", "trace"]) {
    if (form.elements[name].tagName === "SELECT" && params.get(name) &&
        ![...form.elements[name].options].some((o) => o.value === params.get(name))) {
      form.elements[name].append(el("option", { value: params.get(name) }, params.get(name)));
    }
    form.elements[name].value = params.get(name) || "";
  }
}

// -- traces ----------------------------------------------------------------------------------
async function traces(params) {
  const list = await getJSON("/api/traces");
  fill($("#traces-table tbody"), list.map((t) => el("tr", {
    class: "clickable", dataset: { trace: t.trace_id }, onclick: () => { location.hash = `#/traces?id=${t.trace_id}`; },
  },
    el("td", {}, fmtTime(t.start_ns / 1e9)), el("td", {}, t.name), el("td", {}, t.services),
    el("td", {}, t.spans), el("td", {}, `${num((t.end_ns - t.start_ns) / 1e6)} ms`), el("td", {}, t.errors),
  )));
  const id = params.get("id");
  if (id) await waterfall(id); else $("#trace-view").replaceChildren();
}

async function waterfall(id) {
  const data = await getJSON(`/api/traces/${encodeURIComponent(id)}`);
  const spans = data.spans;
  const start = Math.min(...spans.map((s) => s.start_ns));
  const end = Math.max(...spans.map((s) => s.end_ns));
  const total = Math.max(end - start, 1);
  const byId = new Map(spans.map((s) => [s.span_id, s]));
  const children = new Map();
  for (const s of spans) {
    const parent = byId.has(s.parent_id) ? s.parent_id : null;
    if (!children.has(parent)) children.set(parent, []);
    children.get(parent).push(s);
  }
  const ordered = [];
  const walk = (parent, depth) => {
    for (const s of (children.get(parent) || []).sort((a, b) => a.start_ns - b.start_ns)) {
      ordered.push([s, depth]);
      walk(s.span_id, depth + 1);
    }
  };
  walk(null, 0);
  const services = [...new Set(spans.map((s) => s.service))];
  const rows = ordered.map(([s, depth]) => el("div", { class: "span-row", dataset: { service: s.service, kind: s.kind } },
    el("div", { class: "span-name", title: `${s.service} ${s.name}`, style: `padding-left:${depth}em` }, `${s.service}: ${s.name}`),
    el("div", { class: "span-track" }, el("div", {
      class: `span-bar kind-${s.kind}${s.error ? " error" : ""}`,
      style: `left:${((s.start_ns - start) / total) * 100}%;width:${((s.end_ns - s.start_ns) / total) * 100}%`,
    })),
    el("div", {}, `${num((s.end_ns - s.start_ns) / 1e6, 2)} ms`),
  ));
  $("#trace-view").replaceChildren(el("div", { class: "waterfall", id: "waterfall", dataset: { trace: id } },
    el("h3", {}, `trace ${id}`),
    el("p", {}, `${spans.length} spans across ${services.join(", ")} — `,
      data.correlation_id
        ? link(`logs of correlation id ${data.correlation_id}`, logsHash({ cid: data.correlation_id }))
        : link("logs of this trace", logsHash({ trace: id }))),
    rows,
  ));
}

// -- sagas -----------------------------------------------------------------------------------
async function sagas() {
  const list = await getJSON("/api/sagas");
  fill($("#sagas-table tbody"), list.map((s) => el("tr", { dataset: { key: s.key, status: s.status } },
    el("td", {}, s.saga), el("td", { class: "key" }, s.key),
    el("td", { class: `status status-${s.timeline.at(-1)?.status || s.status}` }, s.timeline.at(-1)?.status || s.status),
    el("td", { class: "steps" },
      el("ol", { class: "timeline" }, s.steps.map((name, i) => el("li", {},
        `${name}: ${s.done.includes(i) ? "done" : s.status !== "COMPLETED" && name === s.step ? s.status.toLowerCase() : "–"}`))),
      s.reason ? `reason: ${s.reason}` : null),
    el("td", {}, shortTime(s.updated_at)),
    el("td", {}, el("ol", { class: "timeline statuses" }, s.timeline.map((t) => el("li", {}, `${shortTime(t.at)} ${t.status} ← ${t.cause}`)))),
    el("td", {},
      s.trace_id ? link("trace", `#/traces?id=${s.trace_id}`) : "", " ",
      s.correlation_id ? link("logs", logsHash({ cid: s.correlation_id })) : link("logs", logsHash({ q: s.key }))),
  )));
}

// -- messaging -------------------------------------------------------------------------------
async function messaging() {
  const data = await getJSON("/api/messaging");
  fill($("#messaging-table tbody"), data.services.map((s) => el("tr", { dataset: { service: s.name } },
    el("td", {}, s.name), el("td", { class: "outbox" }, s.outbox_pending ?? "–"),
    el("td", {}, Object.entries(s.lag || {}).map(([topic, lag]) => `${topic}: ${lag}`).join(", ") || "–"),
    el("td", {}, s.dead_lettered ?? "–"),
  )));
  fill($("#dead-letters-table tbody"), data.dead_letters.map((d) => el("tr", { dataset: { message: d.message_id, service: d.service } },
    el("td", {}, d.service), el("td", {}, d.topic), el("td", {}, d.message_id), el("td", {}, d.error),
    el("td", {}, d.attempts), el("td", {}, d.created_at),
    el("td", {}, el("button", { class: "replay", onclick: () => replay(d) }, "Replay")),
  )));
}

async function replay(letter) {
  const answer = await fetch(`/api/dead-letters/${letter.service}/${letter.id}/replay`, { method: "POST", headers: GUARD });
  const data = await answer.json();
  $("#replay-outcome").textContent = answer.ok
    ? `replayed ${letter.message_id} (${letter.service}): ${data.outcome}`
    : `replay of ${letter.message_id} (${letter.service}) failed: ${data.detail || answer.status}`;
  await messaging();
}

// -- API explorer ----------------------------------------------------------------------------
let routes = [];
let chosen = null;

async function api() {
  if (!routes.length) routes = await getJSON("/api/routes");
  fill($("#routes-table tbody"), routes.map((r) => el("tr", {
    class: "clickable", dataset: { method: r.method, path: r.path }, onclick: () => choose(r),
  }, el("td", {}, r.method), el("td", {}, r.path), el("td", {}, r.scopes.join(" ")))));
}

async function choose(route) {
  chosen = route;
  const form = $("#try-form");
  form.hidden = false;
  $("#try-result").hidden = true;
  $("#try-title").textContent = `${route.method} ${route.path} (${route.service})`;
  $("#try-scopes").textContent = route.scopes.length
    ? `a dev token is minted for: ${route.scopes.join(", ")}` : "no scope needed";
  form.elements.path.value = route.path;
  form.elements.body.value = route.body ? JSON.stringify(route.body, null, 2) : "";
  form.elements.body.disabled = route.body === null;
  if (route.refs) {
    form.dataset.loading = "1";
    const answer = await fetch(`/api/routes/${route.index}/example`, { method: "POST", headers: GUARD });
    if (answer.ok && chosen === route) form.elements.body.value = JSON.stringify(await answer.json(), null, 2);
    delete form.dataset.loading;
  }
}

async function send(event) {
  event.preventDefault();
  const form = $("#try-form");
  let body = null;
  try {
    body = form.elements.body.value.trim() ? JSON.parse(form.elements.body.value) : null;
  } catch (error) {
    $("#try-status").textContent = `the body is not JSON: ${error.message}`;
    $("#try-result").hidden = false;
    return;
  }
  const answer = await fetch("/api/try", {
    method: "POST", headers: { ...GUARD, "Content-Type": "application/json" },
    body: JSON.stringify({ index: chosen.index, path: form.elements.path.value, body }),
  });
  const data = await answer.json();
  $("#try-result").hidden = false;
  $("#try-status").textContent = data.status ? `HTTP ${data.status}` : `error: ${data.detail}`;
  $("#try-ms").textContent = data.ms ?? "–";
  $("#try-cid").textContent = data.correlation_id || "";
  $("#try-logs").href = logsHash({ cid: data.correlation_id || "" });
  $("#try-body").textContent = JSON.stringify(data.body ?? data, null, 2);
  $("#try-result").dataset.status = data.status || "";
}

// -- graph -----------------------------------------------------------------------------------
let graphDrawn = false;

async function graph() {
  if (graphDrawn || !window.mermaid) return;
  const source = await (await fetch("/api/graph")).text();
  window.mermaid.initialize({ startOnLoad: false, securityLevel: "strict" });
  const { svg } = await window.mermaid.render("service-graph", source);
  const doc = new DOMParser().parseFromString(svg, "image/svg+xml");
  $("#graph").replaceChildren(document.importNode(doc.documentElement, true));
  graphDrawn = true;
}

// -- routing ---------------------------------------------------------------------------------
const TABS = { services, logs, traces, sagas, messaging, api, graph };
const LIVE = new Set(["services", "logs", "sagas", "messaging"]); // refreshed every 2 s while shown
let current = "services";
let params = new URLSearchParams();

async function show() {
  const [path, query] = location.hash.replace(/^#\/?/, "").split("?");
  current = TABS[path] ? path : "services";
  params = new URLSearchParams(query || "");
  for (const name of Object.keys(TABS)) {
    $(`#tab-${name}`).hidden = name !== current;
    $(`a[data-tab=${name}]`).classList.toggle("active", name === current);
  }
  if (current === "logs") applyLogParams(params);
  await refresh();
}

async function refresh() {
  try {
    await TABS[current](params);
    document.body.dataset.loaded = current;
  } catch (error) {
    console.error(error);
  }
}

window.addEventListener("hashchange", show);
$("#log-filters").addEventListener("submit", (event) => {
  event.preventDefault();
  location.hash = logsHash(logFilters());
});
$("#log-clear").addEventListener("click", () => { location.hash = "#/logs"; });
$("#try-form").addEventListener("submit", send);
setInterval(() => { if (LIVE.has(current) && !document.hidden) refresh(); }, 2000);
window.addEventListener("load", show);
