// One trace as a waterfall, like Jaeger's: a bar per span on a shared time axis, nested under
// its parent; the trade's log lines and span events interleaved under their spans in time
// order; a click on a span shows its attributes, events and status.

import { getJSON } from "../api.js";
import { attributeTable, displayValue, formatDuration, formatTime, h, section, shortId } from "../dom.js";
import { pageHeader, statusBadge } from "./common.js";

/** Rows in display order: {depth, kind: "span"|"log"|"event", item, span}. Iterative: no depth limit. */
export function waterfallRows(detail) {
  const spans = detail.spans || [];
  const byId = new Map(spans.map((span) => [span.span_id, { span, children: [] }]));
  const top = [];
  for (const node of byId.values()) {
    const parent = node.span.parent_span_id ? byId.get(node.span.parent_span_id) : undefined;
    (parent ? parent.children : top).push({ time: node.span.start_ns, order: 2, kind: "span", node });
  }
  for (const log of detail.logs || []) {
    const owner = log.span_id ? byId.get(log.span_id) : undefined;
    (owner ? owner.children : top).push({ time: log.time_ns, order: 1, kind: "log", item: log });
  }
  for (const node of byId.values()) {
    for (const event of node.span.events || []) node.children.push({ time: event.time_ns, order: 0, kind: "event", item: event });
  }
  const byTime = (a, b) => a.time - b.time || a.order - b.order;
  const rows = [];
  const seen = new Set();
  const stack = [...top].sort(byTime).reverse().map((entry) => [0, entry]);
  while (stack.length) {
    const [depth, entry] = stack.pop();
    if (entry.kind !== "span") {
      rows.push({ depth, kind: entry.kind, item: entry.item });
      continue;
    }
    if (seen.has(entry.node.span.span_id)) continue;  // a damaged store's parent cycle: each span once
    seen.add(entry.node.span.span_id);
    rows.push({ depth, kind: "span", item: entry.node.span });
    for (const child of [...entry.node.children].sort(byTime).reverse()) stack.push([depth + 1, child]);
  }
  // Spans only reachable through a parent cycle are listed at the top level.
  for (const span of spans) if (!seen.has(span.span_id)) rows.push({ depth: 0, kind: "span", item: span });
  return rows;
}

function axis(startNs, endNs) {
  const total = Math.max(1, endNs - startNs);
  return {
    left: (timeNs) => `${Math.max(0, Math.min(100, ((timeNs - startNs) / total) * 100)).toFixed(3)}%`,
    width: (fromNs, toNs) => `${Math.max(0.15, ((toNs - fromNs) / total) * 100).toFixed(3)}%`,
    total,
  };
}

function spanDetail(span) {
  const events = span.events || [];
  return h("div", { class: "span-detail", id: "span-detail" },
    h("h3", {}, span.name, " ", statusBadge(span.status)),
    h("dl", { class: "facts" },
      h("dt", {}, "span id"), h("dd", { class: "mono" }, span.span_id),
      h("dt", {}, "parent"), h("dd", { class: "mono" }, span.parent_span_id || "(root)"),
      h("dt", {}, "service"), h("dd", {}, span.service || ""),
      h("dt", {}, "kind"), h("dd", {}, span.kind || ""),
      h("dt", {}, "start"), h("dd", {}, formatTime(span.start_ns)),
      h("dt", {}, "duration"), h("dd", {}, formatDuration(span.duration_ms)),
      span.status_message ? [h("dt", {}, "status message"), h("dd", { class: "error" }, span.status_message)] : null),
    h("h4", {}, "Attributes"), attributeTable(span.attributes),
    h("h4", {}, `Events (${events.length})`),
    events.length ? h("ul", { class: "events" }, events.map((event) => h("li", {},
      h("span", { class: "mono" }, formatTime(event.time_ns, false)), " ", h("strong", {}, event.name), " ",
      h("span", { class: "mono muted" }, Object.entries(event.attributes || {}).map(([k, v]) => `${k}=${displayValue(v)}`).join(" ")))))
      : h("p", { class: "muted" }, "no events"));
}

export async function renderTrace(view, { params: [traceId] }) {
  let detail;
  try {
    detail = await getJSON(`traces/${encodeURIComponent(traceId)}`);
  } catch (error) {
    if (error.status !== 404) throw error;
    view.append(pageHeader("Trace"), h("p", { class: "error" }, `No trace ${traceId} in this store.`),
      h("p", {}, h("a", { href: "/traces" }, "Search the traces")));
    return undefined;
  }
  const spans = detail.spans || [];
  const logs = detail.logs || [];
  const times = [...spans.flatMap((span) => [span.start_ns, span.end_ns]), ...logs.map((log) => log.time_ns)];
  const startNs = Math.min(...times);
  const endNs = Math.max(...times);
  const scale = axis(startNs, endNs);
  const root = spans.find((span) => !span.parent_span_id) || spans[0];
  const errors = spans.filter((span) => span.status === "error").length;
  const correlation = root && root.attributes ? root.attributes["trading.correlation_id"] || root.attributes.correlation_id : null;

  const panel = h("aside", { class: "span-panel" }, h("p", { class: "muted" }, "Click a span to see its attributes and events."));
  const rows = waterfallRows(detail).map(({ depth, kind, item }) => {
    const indent = { paddingLeft: `${depth * 14 + 4}px` };
    if (kind === "span") {
      const row = h("div", { class: `wf-row wf-span ${item.status === "error" ? "is-error" : ""}`, "data-span-id": item.span_id,
        "data-name": item.name, tabindex: "0", role: "button" },
      h("div", { class: "wf-label", style: indent, title: item.name },
        h("span", { class: "wf-name" }, item.name), " ", h("span", { class: "muted" }, item.service || "")),
      h("div", { class: "wf-track" },
        h("div", { class: "wf-bar", style: { left: scale.left(item.start_ns), width: scale.width(item.start_ns, item.end_ns) } }),
        h("span", { class: "wf-duration", style: { left: scale.left(item.start_ns) } }, formatDuration(item.duration_ms))));
      const select = () => {
        for (const other of view.querySelectorAll(".wf-row.selected")) other.classList.remove("selected");
        row.classList.add("selected");
        panel.replaceChildren(spanDetail(item));
      };
      row.addEventListener("click", select);
      row.addEventListener("keydown", (event) => { if (event.key === "Enter") select(); });
      return row;
    }
    if (kind === "event") {
      return h("div", { class: "wf-row wf-event" },
        h("div", { class: "wf-label", style: indent }, h("span", { class: "muted" }, "◆ "), item.name),
        h("div", { class: "wf-track" }, h("div", { class: "wf-marker event", style: { left: scale.left(item.time_ns) } })));
    }
    return h("div", { class: `wf-row wf-log level-${String(item.level || "").toLowerCase()}`, "data-level": item.level || "" },
      h("div", { class: "wf-label", style: indent, title: item.message },
        h("span", { class: "level" }, String(item.level || "").toUpperCase()), " ", item.message),
      h("div", { class: "wf-track" }, h("div", { class: "wf-marker log", style: { left: scale.left(item.time_ns) } })));
  });

  view.append(
    pageHeader(`Trace ${shortId(detail.trace_id, 16)}`),
    h("dl", { class: "facts inline", id: "trace-facts" },
      h("dt", {}, "trace id"), h("dd", { class: "mono" }, detail.trace_id),
      h("dt", {}, "root"), h("dd", {}, root ? root.name : "–"),
      h("dt", {}, "start"), h("dd", {}, formatTime(startNs)),
      h("dt", {}, "duration"), h("dd", {}, formatDuration(scale.total / 1e6)),
      h("dt", {}, "spans"), h("dd", {}, String(spans.length)),
      h("dt", {}, "errors"), h("dd", {}, errors ? h("span", { class: "badge bad" }, String(errors)) : "0"),
      h("dt", {}, "logs"), h("dd", {}, h("a", { href: `/logs?trace_id=${encodeURIComponent(detail.trace_id)}` }, `${logs.length} lines`)),
      correlation ? [h("dt", {}, "trade"), h("dd", { class: "mono" }, String(correlation))] : null),
    h("div", { class: "trace-layout" },
      section("Waterfall",
        h("div", { class: "wf-row wf-axis" }, h("div", { class: "wf-label muted" }, "span"),
          h("div", { class: "wf-track" }, [0, 0.25, 0.5, 0.75, 1].map((at) => h("span", { class: "wf-tick", style: { left: `${at * 100}%` } },
            at ? formatDuration((scale.total * at) / 1e6) : "0")))),
        h("div", { class: "waterfall", id: "waterfall" }, rows)),
      panel));
  const first = view.querySelector(".wf-span");
  if (first) first.click();
  return undefined;
}
