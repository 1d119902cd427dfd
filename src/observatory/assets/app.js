// The observatory's pages, filled from Floe's JSON API and refreshed in place.
"use strict";

const app = document.getElementById("app");
const page = app && app.dataset.page;
const parts = location.pathname.split("/").filter(Boolean).map(decodeURIComponent);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children.flat(Infinity)) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

async function api(path, options) {
  const response = await fetch(path, Object.assign({ credentials: "same-origin" }, options));
  if (response.status === 401) { location.href = "/login"; throw new Error("unauthorized"); }
  // Iceberg ids (snapshots) are 64-bit: as numbers they would lose digits,
  // so integers past 2^53 keep their source text (JSON.parse source access).
  const body = JSON.parse(await response.text(), (key, value, context) =>
    typeof value === "number" && !Number.isSafeInteger(value) && context && /^-?\d+$/.test(context.source) ? context.source : value);
  if (!response.ok) throw new Error(body.details || body.error || response.statusText);
  return body;
}

const bytes = (n) => n >= 1 << 30 ? (n / (1 << 30)).toFixed(1) + " GiB" : n >= 1 << 20 ? (n / (1 << 20)).toFixed(1) + " MiB"
  : n >= 1024 ? (n / 1024).toFixed(1) + " KiB" : n + " B";
const ms = (n) => n >= 60000 ? (n / 60000).toFixed(1) + " min" : n >= 1000 ? (n / 1000).toFixed(2) + " s" : n + " ms";
const when = (t) => new Date(t).toLocaleString();
const state = (s) => el("span", { class: "state state-" + s, "data-state": s }, s);

function replace(...nodes) { app.replaceChildren(...nodes.flat(Infinity).filter((n) => n !== null && n !== undefined)); }

// Queries: live, newest first, filterable; running ones have a cancel button.
async function queries() {
  const params = new URLSearchParams(location.search);
  const filter = (name, input) => {
    input.value = params.get(name) || "";
    input.addEventListener("change", () => {
      if (input.value) params.set(name, input.value); else params.delete(name);
      history.replaceState(null, "", "?" + params);
      refresh();
    });
    return el("label", {}, name, input);
  };
  const stateSelect = el("select", { name: "state" }, ["", "queued", "running", "finished", "failed", "cancelled"].map((s) => el("option", { value: s }, s || "any")));
  const protocolSelect = el("select", { name: "protocol" }, ["", "flight", "floe.run", "http"].map((s) => el("option", { value: s }, s || "any")));
  const body = el("tbody");
  replace(el("h1", {}, "Queries"),
    el("div", { class: "filters" }, filter("state", stateSelect), filter("principal", el("input", { name: "principal" })),
      filter("protocol", protocolSelect), filter("table", el("input", { name: "table", placeholder: "ns.table" }))),
    el("table", { id: "queries" }, el("thead", {}, el("tr", {}, ["State", "Kind", "Statement", "Principal", "Client", "Via", "Started", "Elapsed", "Rows", "Bytes", ""].map((h) => el("th", {}, h)))), body));
  async function refresh() {
    const query = new URLSearchParams(params); query.set("limit", "200");
    const answer = await api("/api/v1/queries?" + query);
    body.replaceChildren(...answer.queries.map((q) => el("tr", { "data-query": q.query_id },
      el("td", {}, state(q.state)), el("td", {}, q.kind),
      el("td", { class: "sql", title: q.sql }, el("a", { href: "/queries/" + encodeURIComponent(q.query_id) }, q.sql || "(no text)")),
      el("td", {}, q.principal), el("td", {}, q.client), el("td", {}, q.protocol), el("td", {}, when(q.started_at)),
      el("td", { class: "num" }, ms(q.elapsed_ms)), el("td", { class: "num" }, q.rows.toLocaleString()), el("td", { class: "num" }, bytes(q.bytes)),
      el("td", {}, q.state === "running" || q.state === "queued" ? el("button", { class: "cancel", onclick: () => cancel(q.query_id) }, "Cancel") : ""))));
  }
  async function cancel(id) {
    await api("/api/v1/queries/" + encodeURIComponent(id) + "/cancel", { method: "POST" });
    refresh();
  }
  await refresh();
  setInterval(() => refresh().catch(() => {}), 1000);
}

// A horizontal bar chart: where a query's time went.
function bars(items) {
  const total = items.reduce((sum, [, value]) => sum + value, 0) || 1;
  const width = 600, height = 22 * items.length + 10;
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`); svg.setAttribute("class", "chart bars");
  svg.setAttribute("preserveAspectRatio", "xMinYMin meet"); svg.style.maxWidth = width + "px";
  svg.style.height = height + "px";
  items.forEach(([label, value], i) => {
    const y = 5 + i * 22, w = Math.max(1, (width - 220) * value / total);
    svg.insertAdjacentHTML("beforeend", `<text x="0" y="${y + 14}">${label}</text>` +
      `<rect x="120" y="${y}" width="${w}" height="16" fill="#2f6fde"></rect>` +
      `<text x="${126 + w}" y="${y + 13}">${ms(value)}</text>`);
  });
  return svg;
}

// Where a query's time went: waiting for a slot, planning, until its first
// rows, then streaming the rest (each phase measured by the server).
function phases(q) {
  const at = (v) => (v === null || v === undefined ? null : v);
  const queued = at(q.queued_ms) || 0, planned = at(q.planned_ms), first = at(q.first_rows_ms);
  const items = [];
  if (queued) items.push(["queued", queued]);
  if (planned !== null) items.push(["planning", Math.max(0, planned - queued)]);
  if (first !== null) items.push(["to first rows", Math.max(0, first - (planned === null ? queued : planned))]);
  items.push([first === null ? (planned === null ? "total" : "executing") : "streaming",
    Math.max(0, q.elapsed_ms - (first !== null ? first : planned !== null ? planned : 0))]);
  return items;
}

// Distributed tasks as a timeline: one lane per worker, a bar per attempt.
function timeline(tasks) {
  const workers = [...new Set(tasks.map((t) => t.worker))];
  const t0 = Math.min(...tasks.map((t) => t.started_at));
  const end = (t) => t.started_at + (t.elapsed_ms === null || t.elapsed_ms === undefined ? Date.now() - t.started_at : t.elapsed_ms);
  const span = Math.max(1, Math.max(...tasks.map(end)) - t0);
  const width = 700, left = 170, lane = 26, height = lane * workers.length + 24;
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`); svg.setAttribute("class", "chart timeline");
  svg.style.maxWidth = width + "px"; svg.style.height = height + "px";
  const x = (t) => left + (width - left - 10) * (t - t0) / span;
  const color = { ok: "#2f6fde", running: "#e0a800", failed: "#c0392b", "timed out": "#c0392b" };
  workers.forEach((w, i) => svg.insertAdjacentHTML("beforeend", `<text x="0" y="${i * lane + 17}">${w}</text>`));
  for (const t of tasks) {
    const y = workers.indexOf(t.worker) * lane + 4, w = Math.max(2, x(end(t)) - x(t.started_at));
    const title = `${t.what} ${t.index} (attempt ${t.attempt}): ${t.outcome}, ${ms(t.elapsed_ms || 0)}, ${t.rows} rows`;
    svg.insertAdjacentHTML("beforeend", `<rect class="task" data-what="${t.what}" x="${x(t.started_at).toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="18" ` +
      `fill="${color[t.outcome] || "#888"}" opacity="${t.what === "shuffle map" ? 0.6 : 1}"><title>${title}</title></rect>`);
  }
  svg.insertAdjacentHTML("beforeend", `<text x="${left}" y="${height - 4}">0</text><text x="${width - 70}" y="${height - 4}">${ms(span)}</text>`);
  return svg;
}

// The slowest operators of a profile, as bars of their time.
function profileView(answer) {
  const operators = answer.operators.map((o) => [o.operator, (o.end_us - o.start_us) / 1000]).sort((a, b) => b[1] - a[1]).slice(0, 12);
  return el("div", { id: "profile-result" },
    el("h3", {}, "Slowest operators (Polars' profile)"), bars(operators.map(([name, t]) => [name.length > 18 ? name.slice(0, 17) + "…" : name, Math.round(t * 10) / 10])),
    el("pre", { id: "profile-plan" }, answer.plan.join("\n")));
}

async function query() {
  const id = parts[1];
  const answer = await api("/api/v1/queries/" + encodeURIComponent(id));
  const q = answer.query;
  const scans = q.scans || [];
  const profile = el("div", { id: "profile" });
  const profileButton = el("button", { id: "run-profile", onclick: async () => {
    profile.replaceChildren(el("p", { class: "muted" }, "Running the query again under Polars' profiler…"));
    try { profile.replaceChildren(profileView(await api("/api/v1/queries/" + encodeURIComponent(id) + "/profile", { method: "POST" }))); }
    catch (err) { profile.replaceChildren(el("p", { class: "error" }, err.message)); }
  } }, "Profile (run again at the same snapshots)");
  replace(el("p", { class: "crumbs" }, el("a", { href: "/queries" }, "Queries"), " / ", q.query_id),
    el("h1", {}, q.kind, " ", state(q.state)),
    el("dl", {}, [["Query id (lineage run id)", q.query_id], ["Principal", q.principal], ["Client", q.client || "—"], ["Via", q.protocol],
      ["Tables", q.tables.join(", ") || "—"], ["Started", when(q.started_at)], ["Elapsed", ms(q.elapsed_ms)],
      ["Rows", q.rows.toLocaleString()], ["Bytes", bytes(q.bytes)], ["Trace id", q.trace_id || "—"],
      ["Plan", q.plan_reused ? "reused from an earlier run of the same ticket" : "—"],
      ["Committed snapshot", q.committed_snapshot ?? "—"],
      ["Error", q.error ? `${q.code}: ${q.error}` : "—"]].map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])),
    el("h2", {}, "Statement"), el("pre", { id: "sql" }, q.sql),
    el("h2", {}, "Where the time went"), bars(phases(q)),
    el("h2", {}, "Snapshots read"),
    scans.length ? el("table", { id: "scans" }, el("thead", {}, el("tr", {}, ["Table", "Snapshot", "Files selected", "Files total", "Bytes planned", "Reader"].map((h) => el("th", {}, h)))),
      el("tbody", {}, scans.map((s) => el("tr", {}, el("td", {}, s.table), el("td", {}, s.snapshot_id ?? "empty"),
        el("td", { class: "num" }, s.files_selected), el("td", { class: "num" }, s.files_total), el("td", { class: "num" }, bytes(s.bytes_planned)), el("td", {}, s.reader)))))
      : el("p", { class: "muted" }, "No Iceberg scans recorded (a write, a script, or a distributed query whose scans ran on workers)."),
    answer.tasks.length ? [el("h2", {}, "Partitions per worker"), timeline(answer.tasks)] : null,
    el("h2", {}, "Plan (EXPLAIN at those snapshots: pruning, Polars' optimized plan)"),
    el("pre", { id: "plan" }, answer.plan || "No plan: only queries that still plan have one."),
    answer.plan ? [el("h2", {}, "Profile"), el("p", {}, profileButton), profile] : null);
  if (q.state === "running" || q.state === "queued") setTimeout(() => query().catch(() => {}), 1000);
}

async function lake() {
  const answer = await api("/api/v1/catalogs?counts=true");
  const link = (t) => el("a", { href: `/lake/${encodeURIComponent(t.catalog)}/${encodeURIComponent(t.namespace)}/${encodeURIComponent(t.table)}` }, t.table);
  const section = (c) => {
    const namespaces = {};
    for (const t of answer.catalogs.filter((t) => t.catalog === c.name)) (namespaces[t.namespace] ||= []).push(t);
    const rows = Object.entries(namespaces).map(([namespace, tables]) =>
      el("tr", {}, el("td", {}, namespace), el("td", {}, tables.map((t) => [link(t), " "]))));
    return el("section", {}, el("h2", {}, c.name, " ", el("span", { class: "muted" }, `(${c.type})`)),
      el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "Namespace"), el("th", {}, "Tables"))), el("tbody", {}, rows)));
  };
  replace(el("h1", {}, "Lake"), ...answer.registeredCatalogs.map(section));
}

async function table() {
  const [, catalog, namespace, name] = parts;
  const answer = await api(`/api/v1/catalogs/${encodeURIComponent(catalog)}/namespaces/${encodeURIComponent(namespace)}/tables/${encodeURIComponent(name)}`);
  const meta = answer.table;
  const schema = (meta.schemas || []).find((s) => s["schema-id"] === meta["current-schema-id"]) || { fields: [] };
  const spec = (meta["partition-specs"] || []).find((s) => s["spec-id"] === meta["default-spec-id"]) || { fields: [] };
  const snapshots = (meta.snapshots || []).slice().sort((a, b) => b["timestamp-ms"] - a["timestamp-ms"]);
  const sql = `SELECT * FROM ${namespace}.${name} LIMIT 100`;
  replace(el("p", { class: "crumbs" }, el("a", { href: "/lake" }, "Lake"), ` / ${catalog} / ${namespace} / ${name}`),
    el("h1", {}, `${namespace}.${name}`),
    el("p", {}, el("a", { id: "query-table", href: "/console?sql=" + encodeURIComponent(sql) }, "Query this table")),
    el("dl", {}, [["Location", meta.location], ["Format version", meta["format-version"]], ["Current snapshot", meta["current-snapshot-id"] ?? "none"]]
      .map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])),
    el("h2", {}, "Schema"),
    el("table", { id: "schema" }, el("thead", {}, el("tr", {}, ["Id", "Column", "Type", "Required", "Doc"].map((h) => el("th", {}, h)))),
      el("tbody", {}, schema.fields.map((f) => el("tr", {}, el("td", {}, f.id), el("td", {}, f.name),
        el("td", {}, typeof f.type === "string" ? f.type : JSON.stringify(f.type)), el("td", {}, f.required ? "yes" : "no"), el("td", {}, f.doc || ""))))),
    el("h2", {}, "Partition spec"),
    el("p", {}, spec.fields.length ? spec.fields.map((f) => `${f.transform}(${f.name})`).join(", ") : "unpartitioned"),
    el("h2", {}, "Snapshots"),
    el("table", { id: "snapshots" }, el("thead", {}, el("tr", {}, ["Snapshot", "Committed", "Operation", "Added rows", "Total rows", "Added files", "Total files", "Total size"].map((h) => el("th", {}, h)))),
      el("tbody", {}, snapshots.map((s) => { const m = s.summary || {}; return el("tr", {},
        el("td", {}, s["snapshot-id"]), el("td", {}, when(s["timestamp-ms"])), el("td", {}, m.operation || ""),
        el("td", { class: "num" }, m["added-records"] || 0), el("td", { class: "num" }, m["total-records"] || 0),
        el("td", { class: "num" }, m["added-data-files"] || 0), el("td", { class: "num" }, m["total-data-files"] || 0),
        el("td", { class: "num" }, bytes(Number(m["total-files-size"] || 0)))); }))));
}

async function console_() {
  const params = new URLSearchParams(location.search);
  const text = el("textarea", { id: "sql" }); text.value = params.get("sql") || "SELECT 1";
  const out = el("div", { id: "result" });
  async function run() {
    out.replaceChildren(el("p", { class: "muted" }, "Running…"));
    try {
      const answer = await api("/api/v1/warehouse/query", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query: text.value }) });
      const r = answer.results;
      out.replaceChildren(el("p", { class: "muted" }, `${answer.row_count} rows in ${answer.execution_time}`),
        el("table", {}, el("thead", {}, el("tr", {}, r.columns.map((c) => el("th", {}, c)))),
          el("tbody", {}, r.rows.map((row) => el("tr", {}, row.map((v) => el("td", {}, v === null ? "NULL" : typeof v === "object" ? JSON.stringify(v) : v)))))));
    } catch (err) { out.replaceChildren(el("p", { class: "error" }, err.message)); }
  }
  replace(el("h1", {}, "Console"), text, el("p", {}, el("button", { id: "run", onclick: run }, "Run")), out);
  if (params.get("sql")) run();
}

// A line chart of one series over time, in SVG.
function lineChart(samples, value, label, max) {
  const width = 600, height = 140, left = 40, bottom = 18;
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`); svg.setAttribute("class", "chart"); svg.setAttribute("data-series", label);
  if (!samples.length) { svg.insertAdjacentHTML("beforeend", `<text x="${left}" y="60">no samples yet</text>`); return svg; }
  const t0 = samples[0].at, t1 = Math.max(samples[samples.length - 1].at, t0 + 1);
  const top = max || Math.max(...samples.map(value), 1);
  const x = (t) => left + (width - left - 5) * (t - t0) / (t1 - t0);
  const y = (v) => height - bottom - (height - bottom - 8) * v / top;
  const points = samples.map((s) => `${x(s.at).toFixed(1)},${y(value(s)).toFixed(1)}`).join(" ");
  svg.insertAdjacentHTML("beforeend",
    `<line x1="${left}" y1="${height - bottom}" x2="${width}" y2="${height - bottom}" stroke="#c8cdda"/>` +
    `<line x1="${left}" y1="8" x2="${left}" y2="${height - bottom}" stroke="#c8cdda"/>` +
    `<text x="0" y="14">${label === "cpu" ? "100%" : bytes(top)}</text><text x="0" y="${height - bottom}">0</text>` +
    `<text x="${left}" y="${height - 4}">${new Date(t0).toLocaleTimeString()}</text>` +
    `<text x="${width - 60}" y="${height - 4}">${new Date(t1).toLocaleTimeString()}</text>` +
    `<polyline fill="none" stroke="#2f6fde" stroke-width="1.5" points="${points}"/>` +
    samples.map((s) => `<circle cx="${x(s.at).toFixed(1)}" cy="${y(value(s)).toFixed(1)}" r="2" fill="#2f6fde"/>`).join(""));
  return svg;
}

function nodeCard(title, detail, samples) {
  const last = samples[samples.length - 1];
  const memoryTotal = last ? last.memory_total_bytes : 1;
  return el("div", { class: "card node" }, el("h3", {}, title), el("p", { class: "muted" }, detail),
    el("p", {}, last ? `CPU ${last.cpu_percent.toFixed(0)}% · memory ${bytes(last.memory_used_bytes)} of ${bytes(memoryTotal)} · Floe RSS ${bytes(last.process_rss_bytes)}` : "no samples yet"),
    el("p", { class: "muted" }, "CPU, last hour"), lineChart(samples, (s) => s.cpu_percent, "cpu", 100),
    el("p", { class: "muted" }, "Memory used, last hour"), lineChart(samples, (s) => s.memory_used_bytes, "memory", memoryTotal));
}

async function cluster() {
  const answer = await api("/api/v1/cluster");
  replace(el("h1", {}, "Cluster"),
    el("p", {}, `This node is ${answer.role === "single" ? "a single node (no workers)" : "the " + answer.role}; ${answer.workers.length} live worker(s).`),
    el("div", { class: "cards" }, nodeCard("This node (" + answer.role + ")", location.host, answer.host),
      ...answer.workers.map((w) => nodeCard("Worker " + w.address,
        `heartbeat ${ms(w.last_heartbeat_ms)} ago · ${w.worker_id} · tasks running ${w.tasks.tasks_running}, done ${w.tasks.tasks_done}, ` +
        `failed ${w.tasks.tasks_failed} · shuffled ${bytes(w.tasks.shuffle_bytes)}`, w.host))));
  setTimeout(() => cluster().catch(() => {}), 5000);
}

const pages = { queries, query, lake, table, console: console_, cluster };
if (pages[page]) pages[page]().catch((err) => replace(el("p", { class: "error" }, err.message)));
