// Logs: Loki's Explore for one bot. Time range, level, service, trace/trade id, field=value and
// free text; newest first, older pages on demand, a live tail over the server push.

import { getJSON, localTimeNs, query, setQuery, sinceNs } from "../api.js";
import { displayValue, formatTime, h, shortId } from "../dom.js";
import { field, formValues, input, liveBadge, newestOnly, openStream, pageHeader, rangeSelect, select } from "./common.js";

const LEVELS = ["debug", "info", "warning", "error", "critical"];
const LEVEL_RANK = { trace: 0, debug: 1, info: 2, warn: 3, warning: 3, error: 4, fatal: 5, critical: 5 };
const FILTERS = ["range", "from", "to", "level", "service", "trace_id", "correlation_id", "field", "q"];
const PAGE = 200;  // lines a search shows, and "Older lines" adds (?limit= sets another)
const TAIL_LIMIT = 2000;  // lines kept on screen while tailing

/** "a=1 b=two" -> ["a=1", "b=two"] (the API's repeatable field=k=v). */
function fieldPairs(text) {
  return String(text || "").split(/\s+/).filter((pair) => pair.includes("="));
}

// Shown elsewhere on the line (the trace link) or noise on every line: the call site.
function shownAttribute(key) {
  return !key.startsWith("code.") && key !== "correlation_id" && key !== "trade_id";
}

function logLine(log) {
  const level = String(log.level || "").toLowerCase();
  const attributes = Object.entries(log.attributes || {}).filter(([key]) => shownAttribute(key));
  return h("li", { class: `log level-${level}`, "data-level": level, "data-trace-id": log.trace_id || "" },
    h("span", { class: "log-time mono" }, formatTime(log.time_ns)),
    h("span", { class: `level badge lv-${level}` }, level || "?"),
    h("span", { class: "log-service muted" }, log.service || ""),
    h("span", { class: "log-message" }, log.message || ""),
    log.trace_id ? h("a", { class: "log-trace mono", href: `/traces/${encodeURIComponent(log.trace_id)}` }, `trace ${shortId(log.trace_id, 8)}`) : null,
    attributes.length ? h("span", { class: "log-attrs mono" },
      attributes.map(([key, value]) => h("span", { class: "kvp" }, h("span", { class: "k" }, key), "=", displayValue(value)))) : null);
}

function lineKey(log) {
  return JSON.stringify([log.time_ns, log.span_id, log.message, log.attributes]);
}

/** Whether a pushed log line passes the form's filters (the server's push is unfiltered). */
function matches(log, state) {
  const level = LEVEL_RANK[String(log.level || "").toLowerCase()] ?? 0;
  if (state.level && level < (LEVEL_RANK[state.level] ?? 0)) return false;
  if (state.service && log.service !== state.service) return false;
  if (state.trace_id && !String(log.trace_id || "").startsWith(state.trace_id)) return false;
  if (state.correlation_id && log.correlation_id !== state.correlation_id) return false;
  for (const pair of fieldPairs(state.field)) {
    const at = pair.indexOf("=");
    if (displayValue((log.attributes || {})[pair.slice(0, at)]) !== pair.slice(at + 1)) return false;
  }
  if (state.q) {
    const text = `${log.message} ${JSON.stringify(log.attributes || {})}`.toLowerCase();
    if (!text.includes(state.q.toLowerCase())) return false;
  }
  return true;
}

export async function renderLogs(view, { info }) {
  const params = query();
  const state = Object.fromEntries(FILTERS.map((name) => [name, params.get(name) || ""]));
  state.range = state.range || "all";
  let tail = params.get("tail") === "1";
  const page = Math.max(1, Math.min(5000, Number.parseInt(params.get("limit") || "", 10) || PAGE));

  const tailBox = h("input", { type: "checkbox", name: "tail", checked: tail, disabled: info.mode !== "live" });
  const form = h("form", { class: "filters", id: "log-filters" },
    rangeSelect(state.range, () => {}),
    field("From", input("from", state.from, { type: "datetime-local", step: "1" })),
    field("To", input("to", state.to, { type: "datetime-local", step: "1" })),
    field("Level ≥", select("level", state.level, [["", "any"], ...LEVELS.map((level) => [level, level])])),
    field("Service", input("service", state.service)),
    field("Trace id", input("trace_id", state.trace_id)),
    field("Trade id", input("correlation_id", state.correlation_id)),
    field("Fields", input("field", state.field, { placeholder: "key=value key2=value2" })),
    field("Text", input("q", state.q, { placeholder: "reject", type: "search" })),
    h("label", { class: "field check", title: info.mode === "live" ? "new lines appear on top as they are logged" : "only while the bot runs" },
      tailBox, h("span", {}, "Live tail")),
    h("button", { type: "submit" }, "Search"));
  const list = h("ol", { class: "logs", id: "logs" });
  const status = h("p", { class: "muted", id: "logs-status" });
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "Older lines");
  const header = pageHeader("Logs");
  view.append(header, form, status, list, more);

  let oldestNs = null;
  let shown = 0;
  let seen = new Set();  // lines on the page: "Older lines" may answer the boundary's again (below)
  function request(beforeNs) {
    return getJSON("logs", {
      since_ns: localTimeNs(state.from) || sinceNs(state.range), until_ns: localTimeNs(state.to), level: state.level,
      service: state.service, trace_id: state.trace_id, correlation_id: state.correlation_id,
      field: fieldPairs(state.field), q: state.q, limit: page, before_ns: beforeNs,
    });
  }
  function append(logs) {
    for (const log of logs) {
      const key = lineKey(log);
      if (seen.has(key)) continue;
      seen.add(key);
      list.append(logLine(log));
      shown += 1;
    }
    if (logs.length) oldestNs = logs[logs.length - 1].time_ns;
    more.hidden = logs.length < page;
    status.textContent = shown ? `${shown} lines, newest first` : "no log line matches";
  }
  const reads = newestOnly();
  async function load() {
    const ticket = reads.start();
    const answer = await request(null);
    if (reads.stale(ticket)) return;
    list.replaceChildren();
    shown = 0;
    seen = new Set();
    append(answer.logs || []);
  }
  more.addEventListener("click", async () => {
    // A nanosecond time parsed from JSON is a double, off by up to 128 ns either way: the
    // cursor (exclusive) is moved past any such error, and the lines shown already are dropped.
    const cursor = oldestNs === null ? null : String(BigInt(oldestNs) + 256n);
    const ticket = reads.current();
    const answer = await request(cursor);
    if (!reads.stale(ticket)) append(answer.logs || []);
  });

  let closeStream = null;
  function setTail(on) {
    tail = on;
    if (closeStream) closeStream();
    closeStream = null;
    if (!on) return;
    const [badge, setState] = liveBadge();
    header.append(badge);
    const close = openStream({
      log: (log) => {
        if (!matches(log, state) || seen.has(lineKey(log))) return;
        seen.add(lineKey(log));
        list.prepend(logLine(log));
        shown += 1;
        while (list.children.length > TAIL_LIMIT) list.lastChild.remove();
        status.textContent = `${shown} lines, newest first (live)`;
      },
    }, setState);
    closeStream = () => { close(); badge.remove(); };
  }
  tailBox.addEventListener("change", () => {
    setTail(tailBox.checked);
    setQuery({ ...state, range: state.range === "all" ? "" : state.range, tail: tail ? "1" : "", limit: page === PAGE ? "" : page });
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const values = formValues(form);
    Object.assign(state, Object.fromEntries(FILTERS.map((name) => [name, values[name] || ""])));
    setQuery({ ...state, range: state.range === "all" ? "" : state.range, tail: tail ? "1" : "", limit: page === PAGE ? "" : page });
    load().catch((error) => status.replaceChildren(h("span", { class: "error" }, error.message)));
  });
  await load();
  if (tail && info.mode === "live") setTail(true);
  return () => { if (closeStream) closeStream(); };
}
