// Traces: Jaeger's search for one bot (service, name, attribute, status, duration, time).

import { getJSON, localTimeNs, query, setQuery, sinceNs } from "../api.js";
import { formatDuration, formatTime, h, shortId } from "../dom.js";
import { field, formValues, input, newestOnly, pageHeader, rangeSelect, select } from "./common.js";

const FILTERS = ["service", "name", "symbol", "correlation_id", "attr", "status", "min_duration_ms", "max_duration_ms",
  "range", "from", "to", "limit"];

export async function renderTraces(view) {
  const params = query();
  const state = Object.fromEntries(FILTERS.map((name) => [name, params.get(name) || ""]));
  state.range = state.range || "all";
  state.limit = state.limit || "100";

  const form = h("form", { class: "filters", id: "trace-filters" },
    field("Service", input("service", state.service)),
    field("Root name", input("name", state.name, { placeholder: "trade" })),
    field("Symbol", input("symbol", state.symbol, { placeholder: "BTC/USDT" })),
    field("Trade id", input("correlation_id", state.correlation_id)),
    field("Attribute", input("attr", state.attr, { placeholder: "trading.side=buy" })),
    field("Status", select("status", state.status, [["", "any"], ["ok", "ok"], ["error", "error"]])),
    field("Min ms", input("min_duration_ms", state.min_duration_ms, { type: "number", min: "0", step: "any" })),
    field("Max ms", input("max_duration_ms", state.max_duration_ms, { type: "number", min: "0", step: "any" })),
    rangeSelect(state.range, () => {}),
    field("From", input("from", state.from, { type: "datetime-local", step: "1" })),
    field("To", input("to", state.to, { type: "datetime-local", step: "1" })),
    field("Limit", input("limit", state.limit, { type: "number", min: "1", max: "1000" })),
    h("button", { type: "submit" }, "Search"));
  const results = h("div", { class: "table-wrap" });
  view.append(pageHeader("Traces"), form, results);

  const reads = newestOnly();
  async function load() {
    const ticket = reads.start();
    const data = await getJSON("traces", {
      service: state.service, name: state.name, symbol: state.symbol, correlation_id: state.correlation_id,
      attr: state.attr, status: state.status, min_duration_ms: state.min_duration_ms,
      max_duration_ms: state.max_duration_ms, limit: state.limit,
      since_ns: localTimeNs(state.from) || sinceNs(state.range), until_ns: localTimeNs(state.to),
    });
    if (reads.stale(ticket)) return;
    const traces = data.traces || [];
    const rows = traces.map((trace) => h("tr", { "data-trace-id": trace.trace_id },
      h("td", {}, formatTime(trace.start_ns)),
      h("td", { class: "mono" }, h("a", { href: `/traces/${encodeURIComponent(trace.trace_id)}` }, shortId(trace.trace_id, 16))),
      h("td", {}, trace.name), h("td", {}, trace.service || ""),
      h("td", { class: "num" }, formatDuration(trace.duration_ms)),
      h("td", { class: "num" }, String(trace.span_count)),
      h("td", { class: "num" }, trace.error_count ? h("span", { class: "badge bad" }, String(trace.error_count)) : "0"),
      h("td", {}, trace.symbol || ""), h("td", { class: "mono" }, shortId(trace.correlation_id, 16))));
    results.replaceChildren(rows.length
      ? h("table", { id: "traces" }, h("thead", {}, h("tr", {}, ["Start", "Trace", "Root span", "Service", "Duration",
        "Spans", "Errors", "Symbol", "Trade id"].map((label) => h("th", {}, label)))), h("tbody", {}, rows))
      : h("p", { class: "muted" }, "no trace matches"));
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    Object.assign(state, Object.fromEntries(FILTERS.map((name) => [name, formValues(form)[name] || ""])));
    setQuery({ ...state, range: state.range === "all" ? "" : state.range, limit: state.limit === "100" ? "" : state.limit });
    load().catch((error) => results.replaceChildren(h("p", { class: "error" }, error.message)));
  });
  await load();
  return undefined;
}
