// threadwatch status page: polls the public API every 2 s and redraws.
// Every piece of thread data goes into the page as text (textContent / text nodes), never as
// HTML.

const POLL_MS = 2000;
const PAGE_SIZE = 50;
const STUCK_LIMIT = 50;
const CHART_POINTS = 90; // 3 minutes of 2 s samples
const CHART_WINDOW_MS = CHART_POINTS * POLL_MS;
// On load, the chart is filled back from the transitions of at most this many threads, the
// ones updated last (the counters of /metrics only tell what happens while the page is open).
const BACKFILL_THREADS = 200;
const BACKFILL_PAGE = 50;
// The thread metadata keys the runs API adds itself (as LangGraph does): not the user's own.
const AUTO_METADATA_KEYS = ["graph_id", "assistant_id"];
// uuid7 ids share their first, time-based characters: ids are shown by their last ones.
const SHORT_ID_CHARS = 12;
const STATUSES = ["idle", "busy", "interrupted", "error"];
const KEY_STORAGE = "threadwatch.apiKey";
const SVG_NS = "http://www.w3.org/2000/svg";
// The API is the parent of /ui/ (relative, so that a proxy prefix is kept).
const API_BASE = new URL("../", import.meta.url);

const $ = (id) => document.getElementById(id);

const state = {
  status: "",
  metadata: {},
  filterKey: JSON.stringify(["", {}, "updated_at", "desc"]),
  sortBy: "updated_at",
  sortOrder: "desc",
  offset: 0,
  hasMore: false,
  selected: null,
  rules: null,
  samples: [], // [{t, byTo: {status: delta}}]
  lastTotals: null, // Map "from>to" -> counter value
  lastSampleAt: 0,
  backfilled: false, // the chart's history from before the page opened is in `samples`
  skewMs: 0, // server clock minus ours, from the Date header, when it is large
  counts: {},
};

// -- helpers ----------------------------------------------------------------------------------

/** An element with attributes (on*-handlers only as functions) and text or node children. */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (typeof value === "function") el.addEventListener(name.replace(/^on/, ""), value);
    else if (name === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(name, String(value));
  }
  for (const child of children) {
    if (child === undefined || child === null) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function svg(tag, attrs = {}, text) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, String(value));
  if (text !== undefined) el.textContent = String(text);
  return el;
}

function readKey() {
  try {
    return localStorage.getItem(KEY_STORAGE) || "";
  } catch {
    return "";
  }
}

function writeKey(value) {
  try {
    if (value) localStorage.setItem(KEY_STORAGE, value);
    else localStorage.removeItem(KEY_STORAGE);
  } catch {
    // storage unavailable (private mode, file:): the key lasts for this page only
  }
  memoryKey = value;
}

let memoryKey = readKey();

class ApiError extends Error {
  constructor(status, detail) {
    super(`${status}: ${detail}`);
    this.status = status;
    this.detail = detail;
  }
}

/** Call the API; JSON (or text with {text: true}); sends x-api-key when one is set. */
async function api(path, { method = "GET", body, text = false, raw = false } = {}) {
  const headers = { accept: text ? "text/plain" : "application/json" };
  const key = readKey() || memoryKey;
  if (key) headers["x-api-key"] = key;
  const init = { method, headers, cache: "no-store" };
  if (body !== undefined) {
    headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(new URL(path, API_BASE), init);
  noteServerClock(response);
  if (!response.ok) {
    let detail = response.statusText;
    try {
      const payload = await response.json();
      detail = typeof payload.detail === "string" ? payload.detail : JSON.stringify(payload);
    } catch {
      // not JSON
    }
    throw new ApiError(response.status, detail);
  }
  const data = text ? await response.text() : await response.json();
  return raw ? { data, response } : data;
}

function noteServerClock(response) {
  const date = Date.parse(response.headers.get("date") || "");
  if (Number.isNaN(date)) return;
  const skew = date - Date.now();
  // The header has 1 s resolution: only correct for a clock that is clearly off.
  state.skewMs = Math.abs(skew) > 2000 ? skew : 0;
}

const now = () => Date.now() + state.skewMs;

function secondsSince(iso) {
  const t = Date.parse(iso || "");
  return Number.isNaN(t) ? null : Math.max(0, (now() - t) / 1000);
}

function fmtAge(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "–";
  const s = Math.floor(seconds);
  const pad = (n) => String(n).padStart(2, "0");
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${pad(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${pad(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

function fmtTime(iso) {
  const t = Date.parse(iso || "");
  if (Number.isNaN(t)) return iso ?? "–";
  return new Date(t).toLocaleString();
}

function compactJson(value, max = 120) {
  const text = value === undefined ? "" : JSON.stringify(value);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** An id by its last characters (the whole id in the title); a click copies the whole id. */
function shortId(id) {
  if (!id) return "—";
  const text = id.length > SHORT_ID_CHARS + 1 ? `…${id.slice(-SHORT_ID_CHARS)}` : id;
  return h(
    "button",
    {
      type: "button",
      class: "link mono short-id",
      title: `${id} (click to copy)`,
      dataset: { id },
      onclick: (e) => copyId(e.currentTarget, id),
    },
    text,
  );
}

function copyId(el, id) {
  const done = () => {
    el.classList.add("copied");
    setTimeout(() => el.classList.remove("copied"), 1000);
  };
  if (navigator.clipboard?.writeText) {
    navigator.clipboard.writeText(id).then(done, () => selectWhole(el, id));
  } else {
    selectWhole(el, id); // no clipboard API (plain http on another host): select it for Ctrl-C
  }
}

function selectWhole(el, id) {
  el.textContent = id;
  const range = document.createRange();
  range.selectNodeContents(el);
  const selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
}

/** The metadata column: the user's own keys as compact JSON, then the graph the runs API
 * noted, dimmed; assistant_id is left to the title and the detail. */
function metadataCell(metadata) {
  const own = {};
  const auto = {};
  for (const [key, value] of Object.entries(metadata ?? {})) {
    (AUTO_METADATA_KEYS.includes(key) ? auto : own)[key] = value;
  }
  const hasOwn = Object.keys(own).length > 0;
  const graph =
    "graph_id" in auto
      ? h("span", { class: "auto-meta" }, `${hasOwn ? " " : ""}graph: ${String(auto.graph_id)}`)
      : null;
  return h(
    "td",
    { class: "mono meta", title: JSON.stringify(metadata ?? {}) },
    hasOwn || !graph ? compactJson(own) : null,
    graph,
  );
}

function badge(status) {
  return h("span", { class: `badge s-${STATUSES.includes(status) ? status : "other"}` }, status);
}

// -- filters ----------------------------------------------------------------------------------

/** "a=b, c:=3" -> {a: "b", c: 3}; `key=value` is a string, `key:=value` is JSON. */
function parseMetadataFilter(text) {
  const out = {};
  for (const part of splitPairs(text)) {
    const json = part.indexOf(":=");
    const eq = part.indexOf("=");
    if (json > 0 && json < eq + 1) {
      const key = part.slice(0, json).trim();
      const value = part.slice(json + 2).trim();
      try {
        out[key] = JSON.parse(value);
      } catch {
        throw new Error(`${key}: not JSON: ${value}`);
      }
    } else if (eq > 0) {
      out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
    } else {
      throw new Error(`"${part}" is not key=value`);
    }
  }
  return out;
}

/** Comma-separated pairs; commas inside JSON brackets or quotes stay in their pair. */
function splitPairs(text) {
  const parts = [];
  let depth = 0;
  let quoted = false;
  let current = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === "\\") {
        current += c + (text[++i] ?? "");
        continue;
      }
      if (c === '"') quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]") depth--;
    else if (c === "," && depth === 0) {
      if (current.trim()) parts.push(current.trim());
      current = "";
      continue;
    }
    current += c;
  }
  if (current.trim()) parts.push(current.trim());
  return parts;
}

function applyFilters() {
  const status = $("filter-status").value;
  let metadata;
  try {
    metadata = parseMetadataFilter($("filter-metadata").value);
    $("filter-error").textContent = "";
  } catch (err) {
    $("filter-error").textContent = err.message;
    return;
  }
  const [sortBy, sortOrder] = $("sort").value.split(":");
  const key = JSON.stringify([status, metadata, sortBy, sortOrder]);
  if (key === state.filterKey) return;
  Object.assign(state, { status, metadata, sortBy, sortOrder, filterKey: key, offset: 0 });
  markActiveCard();
  refreshSoon();
}

function markActiveCard() {
  for (const card of document.querySelectorAll(".count-card")) {
    card.classList.toggle("active", card.dataset.status === state.status);
  }
}

// -- counts -----------------------------------------------------------------------------------

function buildCountCards() {
  const cards = STATUSES.map((status) =>
    h(
      "button",
      {
        type: "button",
        class: `count-card s-${status}`,
        dataset: { status },
        title: `Show only ${status} threads (click again for all)`,
        onclick: () => {
          $("filter-status").value = state.status === status ? "" : status;
          applyFilters();
        },
      },
      h("span", { class: "label" }, status),
      h("span", { class: "count", "data-count": status }, "–"),
      h("span", { class: "oldest", "data-oldest": status }, "oldest –"),
    ),
  );
  $("counts").replaceChildren(...cards);
}

async function refreshCounts(metrics) {
  const key = state.filterKey;
  const metadata = state.metadata;
  const body = (status) => (Object.keys(metadata).length ? { status, metadata } : { status });
  const counts = await Promise.all(
    STATUSES.map((status) => api("threads/count", { method: "POST", body: body(status) })),
  );
  if (key !== state.filterKey) return;
  const oldest = {};
  for (const m of metrics || []) {
    if (m.name === "threadwatch_oldest_thread_age_seconds") oldest[m.labels.status] = m.value;
  }
  STATUSES.forEach((status, i) => {
    state.counts[status] = counts[i];
    const countEl = document.querySelector(`[data-count="${status}"]`);
    countEl.textContent = String(counts[i]);
    const age = oldest[status];
    const oldestEl = document.querySelector(`[data-oldest="${status}"]`);
    oldestEl.textContent = metrics
      ? `oldest ${age ? fmtAge(age) : "–"}`
      : "oldest ? (no /metrics)";
  });
  const filtered = Object.keys(metadata).length > 0;
  $("counts-note").textContent = filtered
    ? "Counts match the metadata filter; oldest ages are over all threads."
    : "";
}

// -- threads table ----------------------------------------------------------------------------

async function refreshThreads() {
  const key = state.filterKey;
  const offset = state.offset;
  const body = {
    limit: PAGE_SIZE,
    offset,
    sort_by: state.sortBy,
    sort_order: state.sortOrder,
  };
  if (state.status) body.status = state.status;
  if (Object.keys(state.metadata).length) body.metadata = state.metadata;
  const { data: threads, response } = await api("threads/search", {
    method: "POST",
    body,
    raw: true,
  });
  if (key !== state.filterKey || offset !== state.offset) return;
  state.hasMore = response.headers.get("x-pagination-next") !== null;
  const rows = threads.map((thread) => {
    const id = thread.thread_id;
    const open = () => selectThread(id);
    return h(
      "tr",
      {
        class: id === state.selected ? "selected" : undefined,
        tabindex: 0,
        dataset: { threadId: id, status: thread.status },
        onclick: open,
        onkeydown: (e) => {
          if (e.key === "Enter" || e.key === " ") {
            e.preventDefault();
            open();
          }
        },
      },
      h("td", { class: "mono" }, id),
      h("td", {}, badge(thread.status)),
      h("td", {}, fmtAge(secondsSince(thread.status_since))),
      h("td", { title: thread.updated_at }, `${fmtAge(secondsSince(thread.updated_at))} ago`),
      metadataCell(thread.metadata),
    );
  });
  $("thread-rows").replaceChildren(...rows);
  $("threads-empty").hidden = rows.length > 0;
  const total = state.status
    ? state.counts[state.status]
    : STATUSES.reduce((sum, s) => sum + (state.counts[s] ?? 0), 0);
  $("threads-range").textContent = rows.length
    ? `${offset + 1}–${offset + rows.length}${Number.isFinite(total) ? ` of ${total}` : ""}`
    : "";
  $("page-prev").disabled = offset === 0;
  $("page-next").disabled = !state.hasMore;
}

// -- detail -----------------------------------------------------------------------------------

function selectThread(id) {
  state.selected = id;
  for (const row of $("thread-rows").children) {
    row.classList.toggle("selected", row.dataset.threadId === id);
  }
  $("detail").hidden = false;
  $("detail-id").textContent = id;
  $("detail-error").textContent = "";
  refreshDetail().catch(showDetailError);
}

function closeDetail() {
  state.selected = null;
  $("detail").hidden = true;
  for (const row of $("thread-rows").children) row.classList.remove("selected");
}

function showDetailError(err) {
  $("detail-error").textContent =
    err instanceof ApiError && err.status === 404 ? "This thread no longer exists." : String(err.message);
}

async function refreshDetail() {
  const id = state.selected;
  if (!id) return;
  const path = `threads/${encodeURIComponent(id)}`;
  const [thread, history, runs] = await Promise.all([
    api(path),
    api(`${path}/transitions?limit=50`),
    api(`${path}/runs?limit=20`),
  ]);
  if (id !== state.selected) return;
  $("detail-error").textContent = "";
  $("detail-id").textContent = thread.thread_id;
  const fields = [
    ["Status", badge(thread.status)],
    ["In status", fmtAge(secondsSince(thread.status_since))],
    ["Since", fmtTime(thread.status_since)],
    ["Created", fmtTime(thread.created_at)],
    ["Updated", fmtTime(thread.updated_at)],
  ];
  $("detail-fields").replaceChildren(
    ...fields.flatMap(([name, value]) => [h("dt", {}, name), h("dd", {}, value)]),
  );
  $("detail-metadata").textContent = JSON.stringify(thread.metadata ?? {}, null, 2);
  // What the thread is stopped on: its error, or the interrupts it waits at.
  const interrupts = thread.interrupts && Object.keys(thread.interrupts).length ? thread.interrupts : null;
  const [title, problem] =
    thread.status === "error" && thread.error
      ? ["Error", thread.error]
      : thread.status === "interrupted" && interrupts
        ? ["Interrupts", interrupts]
        : ["", null];
  $("detail-problem").hidden = problem === null;
  $("detail-problem-title").textContent = title;
  $("detail-problem-body").textContent = problem === null ? "" : JSON.stringify(problem, null, 2);
  $("detail-history").replaceChildren(
    ...history.map((t) =>
      h(
        "tr",
        { dataset: { to: t.to } },
        h("td", { title: t.at }, fmtTime(t.at)),
        h("td", {}, t.from === null ? "—" : badge(t.from)),
        h("td", {}, badge(t.to)),
        h("td", {}, shortId(t.run_id)),
      ),
    ),
  );
  if (!history.length) $("detail-history").append(h("tr", {}, h("td", { colspan: 4 }, "no history")));
  $("detail-runs").replaceChildren(
    ...runs.map((run) =>
      h(
        "tr",
        { dataset: { runId: run.run_id } },
        h("td", { class: "mono", title: run.run_id }, run.run_id),
        h("td", {}, run.status),
        h("td", { title: run.created_at }, fmtTime(run.created_at)),
        h("td", { title: run.updated_at }, fmtTime(run.updated_at)),
      ),
    ),
  );
  if (!runs.length) $("detail-runs").append(h("tr", {}, h("td", { colspan: 4 }, "no runs")));
}

// -- stuck threads ----------------------------------------------------------------------------

async function refreshStuck() {
  if (state.rules === null) state.rules = await api("alerts/rules");
  const rules = state.rules;
  if (!rules.length) {
    $("stuck").replaceChildren(
      h("p", { class: "note" }, "No alert rules are configured (alert_rules / alert_rules_file)."),
    );
    return;
  }
  const results = await Promise.all(
    rules.map(async (rule) => {
      const filter = { status: rule.status, min_status_age_seconds: rule.older_than };
      if (rule.metadata && Object.keys(rule.metadata).length) filter.metadata = rule.metadata;
      const [count, threads] = await Promise.all([
        api("threads/count", { method: "POST", body: filter }),
        api("threads/search", {
          method: "POST",
          body: { ...filter, limit: STUCK_LIMIT, sort_by: "updated_at", sort_order: "asc" },
        }),
      ]);
      return { rule, count, threads };
    }),
  );
  $("stuck").replaceChildren(...results.map(renderRule));
}

function renderRule({ rule, count, threads }) {
  const waited = threads
    .map((t) => ({ thread: t, age: secondsSince(t.status_since) }))
    .sort((a, b) => (b.age ?? 0) - (a.age ?? 0));
  const condition = `${rule.status} for more than ${fmtAge(rule.older_than)}`;
  const meta = rule.metadata && Object.keys(rule.metadata).length ? ` · metadata ${compactJson(rule.metadata)}` : "";
  const items = waited.map(({ thread, age }) =>
    h(
      "li",
      { dataset: { threadId: thread.thread_id } },
      h(
        "button",
        { type: "button", class: "link mono", onclick: () => selectThread(thread.thread_id) },
        thread.thread_id,
      ),
      h("span", { class: "waited" }, `waiting ${fmtAge(age)}`),
    ),
  );
  return h(
    "div",
    { class: `rule${count ? " firing" : ""}`, dataset: { rule: rule.name } },
    h(
      "div",
      { class: "rule-head" },
      h("strong", {}, rule.name),
      h("span", { class: "rule-count", "data-stuck-count": rule.name }, String(count)),
    ),
    h("p", { class: "note" }, condition + meta),
    items.length
      ? h("ul", { class: "stuck-list" }, ...items)
      : h("p", { class: "note" }, "none stuck"),
    count > items.length ? h("p", { class: "note" }, `and ${count - items.length} more`) : null,
  );
}

// -- metrics and chart ------------------------------------------------------------------------

/** Prometheus text exposition -> [{name, labels, value}] (samples only). */
function parseMetrics(text) {
  const out = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    for (const l of (m[2] || "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1]] = l[2].replace(/\\(.)/g, (_, c) => (c === "n" ? "\n" : c));
    }
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

async function fetchMetrics() {
  try {
    return parseMetrics(await api("metrics", { text: true }));
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return null;
    throw err;
  }
}

/** `requestedAt`: our clock when the metrics were asked for. */
function sampleTransitions(metrics, requestedAt) {
  const totals = new Map();
  for (const m of metrics) {
    if (m.name === "threadwatch_transitions_total") totals.set(`${m.labels.from}>${m.labels.to}`, m.value);
  }
  const t = Date.now();
  const previous = state.lastTotals;
  if (previous === null) {
    // The first sample is the baseline: the counters only tell what happens from now on, so
    // the minutes before come from the threads' own transition lists.
    Object.assign(state, { lastTotals: totals, lastSampleAt: t });
    if (!state.backfilled) {
      state.backfilled = true;
      backfillChart(requestedAt).catch((err) => {
        $("chart-note").textContent = `Transitions before this page opened: not read (${err.message}).`;
      });
    }
    return;
  }
  if (t - state.lastSampleAt < POLL_MS / 2) return; // an extra refresh (a filter change)
  Object.assign(state, { lastTotals: totals, lastSampleAt: t });
  const byTo = Object.fromEntries(STATUSES.map((s) => [s, 0]));
  for (const [pair, value] of totals) {
    const before = previous.get(pair) ?? 0;
    const delta = value >= before ? value - before : value; // lower: the counter was reset
    const to = pair.split(">")[1];
    if (to in byTo) byTo[to] += delta;
  }
  state.samples.push({ t, byTo });
  if (state.samples.length > CHART_POINTS) state.samples.shift();
}

/** The server's time (ISO) on our clock, in ms. */
function ourClock(iso) {
  return Date.parse(iso || "") - state.skewMs;
}

/**
 * Fill the chart's window before `until` (our clock, when the baseline counters were asked
 * for) from the transition lists of the threads updated in it, newest first, up to
 * BACKFILL_THREADS of them. Transitions from `until` on are the counters' (no double count).
 */
async function backfillChart(until) {
  const since = until - CHART_WINDOW_MS;
  const buckets = Array.from({ length: CHART_POINTS }, () =>
    Object.fromEntries(STATUSES.map((s) => [s, 0])),
  );
  let read = 0;
  let partial = false;
  for (let offset = 0; ; offset += BACKFILL_PAGE) {
    const threads = await api("threads/search", {
      method: "POST",
      body: {
        limit: BACKFILL_PAGE,
        offset,
        sort_by: "updated_at",
        sort_order: "desc",
        select: ["thread_id", "updated_at"],
      },
    });
    // A thread that changed status in the window was updated in it (or since).
    const recent = threads.filter((t) => ourClock(t.updated_at) >= since);
    const lists = await Promise.all(
      recent.map((t) =>
        api(`threads/${encodeURIComponent(t.thread_id)}/transitions?limit=${CHART_POINTS * 2}`).catch(
          (err) => {
            if (err instanceof ApiError && err.status === 404) return []; // deleted meanwhile
            throw err;
          },
        ),
      ),
    );
    for (const transition of lists.flat()) {
      const at = ourClock(transition.at);
      if (!(at >= since && at < until) || !STATUSES.includes(transition.to)) continue;
      const age = Math.floor((until - at) / POLL_MS); // 0: the bucket just before `until`
      buckets[CHART_POINTS - 1 - age][transition.to] += 1;
    }
    read += recent.length;
    if (recent.length < threads.length || threads.length < BACKFILL_PAGE) break;
    if (read >= BACKFILL_THREADS) {
      partial = true;
      break;
    }
  }
  const before = buckets.map((byTo, i) => ({ t: until - (CHART_POINTS - 1 - i) * POLL_MS, byTo }));
  state.samples = [...before, ...state.samples].slice(-CHART_POINTS);
  $("chart-note").textContent = partial
    ? `Before this page opened: the transitions of the ${read} threads updated last only.`
    : "";
  drawChart();
}

function drawChart() {
  const chart = $("chart");
  const W = 600;
  const H = 180;
  const left = 36;
  const right = 8;
  const top = 10;
  const bottom = 22;
  const samples = state.samples;
  const max = Math.max(1, ...samples.flatMap((s) => STATUSES.map((st) => s.byTo[st])));
  const total = samples.reduce((sum, s) => sum + STATUSES.reduce((a, st) => a + s.byTo[st], 0), 0);
  chart.dataset.total = String(total);
  chart.dataset.points = String(samples.length);
  const x = (i) => left + ((W - left - right) * i) / Math.max(1, CHART_POINTS - 1);
  const y = (v) => top + (H - top - bottom) * (1 - v / max);
  const offset = CHART_POINTS - samples.length; // newest sample on the right edge
  const nodes = [
    svg("line", { x1: left, y1: y(0), x2: W - right, y2: y(0), class: "axis" }),
    svg("line", { x1: left, y1: y(max), x2: W - right, y2: y(max), class: "grid" }),
    svg("text", { x: left - 4, y: y(max) + 4, class: "tick", "text-anchor": "end" }, max),
    svg("text", { x: left - 4, y: y(0) + 4, class: "tick", "text-anchor": "end" }, 0),
    svg("text", { x: left, y: H - 6, class: "tick" }, `−${Math.round((CHART_POINTS * POLL_MS) / 60000)} min`),
    svg("text", { x: W - right, y: H - 6, class: "tick", "text-anchor": "end" }, "now"),
  ];
  if (samples.length === 0) {
    nodes.push(svg("text", { x: W / 2, y: H / 2, class: "tick", "text-anchor": "middle" }, "collecting samples…"));
  }
  for (const status of STATUSES) {
    if (samples.length === 0) continue;
    const points = samples.map((s, i) => `${x(offset + i).toFixed(1)},${y(s.byTo[status]).toFixed(1)}`);
    if (samples.length === 1) points.unshift(`${x(offset - 1).toFixed(1)},${y(0).toFixed(1)}`);
    nodes.push(svg("polyline", { points: points.join(" "), class: `line s-${status}`, "data-status": status }));
  }
  chart.replaceChildren(...nodes);
  $("chart-legend").replaceChildren(
    ...STATUSES.map((status) => {
      const sum = samples.reduce((a, s) => a + s.byTo[status], 0);
      return h("span", { class: `key s-${status}` }, `→ ${status}: ${sum}`);
    }),
  );
}

// -- polling ----------------------------------------------------------------------------------

let timer = null;
let running = false;
let again = false;

function refreshSoon() {
  if (running) {
    again = true;
    return;
  }
  clearTimeout(timer);
  tick();
}

async function tick() {
  running = true;
  const errors = [];
  const guard = (promise) => promise.catch((err) => errors.push(err));
  const requestedAt = Date.now();
  const metrics = await fetchMetrics().catch((err) => {
    errors.push(err);
    return null;
  });
  if (metrics) sampleTransitions(metrics, requestedAt);
  drawChart();
  await Promise.all([
    guard(refreshCounts(metrics)),
    guard(refreshThreads()),
    guard(refreshStuck()),
    state.selected ? refreshDetail().catch(showDetailError) : null,
  ]);
  setConnection(errors);
  running = false;
  if (again) {
    again = false;
    tick();
    return;
  }
  timer = setTimeout(tick, POLL_MS);
}

function setConnection(errors) {
  const conn = $("conn");
  if (!errors.length) {
    conn.className = "conn ok";
    conn.textContent = `live · ${new Date().toLocaleTimeString()}`;
    return;
  }
  const err = errors[0];
  conn.className = "conn bad";
  if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
    conn.textContent = `${err.detail}: enter an API key`;
  } else {
    conn.textContent = `error: ${err.message}`;
  }
}

function start() {
  buildCountCards();
  $("api-key").value = readKey();
  const saveKey = () => {
    const value = $("api-key").value.trim();
    if (value === (readKey() || memoryKey)) return;
    writeKey(value);
    state.rules = null; // fetch again with the new key
    refreshSoon();
  };
  $("api-key").addEventListener("change", saveKey);
  $("key-form").addEventListener("submit", (e) => {
    e.preventDefault();
    saveKey();
  });
  $("filter-status").addEventListener("change", applyFilters);
  $("sort").addEventListener("change", applyFilters);
  $("filter-metadata").addEventListener("change", applyFilters);
  $("filter-metadata").addEventListener("keydown", (e) => {
    if (e.key === "Enter") applyFilters();
  });
  $("filter-clear").addEventListener("click", () => {
    $("filter-status").value = "";
    $("filter-metadata").value = "";
    applyFilters();
  });
  $("page-prev").addEventListener("click", () => {
    state.offset = Math.max(0, state.offset - PAGE_SIZE);
    refreshSoon();
  });
  $("page-next").addEventListener("click", () => {
    state.offset += PAGE_SIZE;
    refreshSoon();
  });
  $("detail-close").addEventListener("click", closeDetail);
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && state.selected) closeDetail();
  });
  tick();
}

start();
