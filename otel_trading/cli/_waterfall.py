"""One trace as a tree: spans under their parents, with their events and log lines in time order.

``build_tree()`` places every span, event and log record once; ``render()`` draws it as a
waterfall (offset, duration, a bar on a shared time axis); ``document()`` gives it as JSON.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from otel_trading.cli._common import NAME_WIDTH, TEXT_WIDTH, format_duration, format_time, printable
from otel_trading.cli._log_format import (
    Style,
    display_value,
    is_source_location,
    iso_time,
    key_values,
    log_document,
)
from otel_trading.cli._trace_summary import Trace, TraceSummary, span_error_text, summarize, summary_document
from otel_trading.export import SpanEvent, StoredLog, StoredSpan
from otel_trading.export._log_filter import level_name

# Shown on each span line without --attributes (under their names without "trading.").
KEY_ATTRIBUTES: Final = (
    "trading.symbol", "trading.side", "trading.order.type", "trading.order.status", "trading.order.amount",
    "trading.order.price", "trading.order.slippage_bps", "error.type", "trading.pnl.realized", "trading.exit_reason",
)
# The same on every record of a trade: noise on each log line of its waterfall.
_TRADE_WIDE: Final = frozenset({"correlation_id", "trade_id"})
_OFFSET_WIDTH: Final = 9


@dataclass(eq=False)
class SpanNode:
    span: StoredSpan
    orphan: str | None = None
    """Why the span is at the top level though it has a parent; None for a real root."""
    items: list[Item] = field(default_factory=list)
    """Child spans, events and log records, in time order."""


Item = SpanNode | SpanEvent | StoredLog


@dataclass
class TraceTree:
    summary: TraceSummary
    top: list[Item]
    """Root spans, orphan spans and the trace's logs that belong to no stored span."""
    start_ns: int
    end_ns: int
    """The time axis: from the earliest to the latest span, event or log (children may outlive the root)."""


def _time_of(item: Item) -> tuple[int, int]:
    if isinstance(item, SpanNode):
        return item.span.start_ns, 2
    return item.time_ns, 0 if isinstance(item, SpanEvent) else 1


def build_tree(trace: Trace, logs: list[StoredLog]) -> TraceTree:
    nodes = {span.span_id: SpanNode(span, items=list(span.events)) for span in trace.spans}
    top: list[Item] = []
    for node in nodes.values():
        parent_id = node.span.parent_span_id
        parent = nodes.get(parent_id) if parent_id else None
        if parent is not None:
            parent.items.append(node)
            continue
        if parent_id:
            node.orphan = f"parent {parent_id[:8]} not in the store"
        top.append(node)
    for log in logs:
        owner = nodes.get(log.span_id) if log.span_id else None
        (owner.items if owner is not None else top).append(log)
    _adopt_unreachable(nodes, top)
    for node in nodes.values():
        node.items.sort(key=_time_of)
    top.sort(key=_time_of)
    times = [time for span in trace.spans for time in (span.start_ns, span.end_ns)]
    times.extend(log.time_ns for log in logs)
    return TraceTree(summarize(trace), top, min(times), max(times))


def _adopt_unreachable(nodes: dict[str, SpanNode], top: list[Item]) -> None:
    """Spans whose parents form a cycle (a damaged store) are reached from no root: list them on top."""
    reached: set[str] = set()
    pending = [item for item in top if isinstance(item, SpanNode)]
    while pending:
        node = pending.pop()
        if node.span.span_id not in reached:
            reached.add(node.span.span_id)
            pending.extend(item for item in node.items if isinstance(item, SpanNode))
    for span_id, node in nodes.items():
        if span_id not in reached:
            node.orphan = "its parents form a cycle"
            top.append(node)


def walk(tree: TraceTree) -> Iterator[tuple[int, Item, SpanNode | None]]:
    """Depth-first, in time order: (depth, item, the span it is under). Iterative: no depth limit."""
    seen: set[str] = set()
    stack: list[tuple[int, Item, SpanNode | None]] = [(0, item, None) for item in reversed(tree.top)]
    while stack:
        depth, item, parent = stack.pop()
        if isinstance(item, SpanNode):
            if item.span.span_id in seen:  # a cycle member already shown under its cycle-mate
                continue
            seen.add(item.span.span_id)
            stack.extend((depth + 1, child, item) for child in reversed(item.items))
        yield depth, item, parent


# -- text ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Canvas:
    """The shared time axis and how to draw on it."""

    start_ns: int
    end_ns: int
    width: int
    style: Style

    @property
    def total_ns(self) -> int:
        return max(1, self.end_ns - self.start_ns)

    def column(self, time_ns: int) -> float:
        return max(0.0, min(self.width, (time_ns - self.start_ns) * self.width / self.total_ns))

    def bar(self, span: StoredSpan) -> str:
        first = min(self.width - 1, int(self.column(span.start_ns)))
        last = max(first + 1, min(self.width, math.ceil(self.column(span.end_ns))))
        full = "█" if self.style.unicode else "#"
        drawn = full * (last - first)
        return self._track(first) + (self.style.red(drawn) if span.is_error else self.style.paint(drawn, "34")) \
            + self._track(self.width - last)

    def marker(self, time_ns: int, symbol: str, code: str) -> str:
        at = min(self.width - 1, int(self.column(time_ns)))
        return self._track(at) + self.style.paint(symbol, code) + self._track(self.width - at - 1)

    def _track(self, cells: int) -> str:
        return self.style.dim(("·" if self.style.unicode else ".") * cells)

    def offset(self, time_ns: int) -> str:
        return "+" + format_duration(max(0, time_ns - self.start_ns) / 1e9)


def render(tree: TraceTree, style: Style, *, width: int, all_attributes: bool = False) -> list[str]:
    canvas = Canvas(tree.start_ns, tree.end_ns, max(12, width // 3), style)
    lines = _header(tree, style)
    timeline = f"TIMELINE {format_duration(canvas.total_ns / 1e9)}"
    lines.append(style.dim(_row("OFFSET", "DURATION", f"{timeline:<{canvas.width}}", "SPAN")))
    blank = " " * canvas.width
    event_symbol, log_symbol = ("◆", "▸") if style.unicode else ("*", ">")
    for depth, item, parent in walk(tree):
        indent = "  " * depth
        if isinstance(item, SpanNode):
            span = item.span
            lines.append(_row(canvas.offset(span.start_ns), format_duration(span.duration_s), canvas.bar(span),
                              indent + _span_text(item, parent, style)))
            if all_attributes:
                lines.extend(_row("", "", blank, f"{indent}  {style.dim(key + '=')}{display_value(value)}")
                             for key, value in span.attributes.items())
        elif isinstance(item, SpanEvent):
            lines.append(_row(canvas.offset(item.time_ns), "", canvas.marker(item.time_ns, event_symbol, "36"),
                              indent + _event_text(item, event_symbol, style, all_attributes)))
        else:
            lines.append(_row(canvas.offset(item.time_ns), "", canvas.marker(item.time_ns, log_symbol, "33"),
                              indent + _log_text(item, log_symbol, style, all_attributes)))
    return lines


def _row(offset: str, duration: str, timeline: str, text: str) -> str:
    return f"{offset:>{_OFFSET_WIDTH}} {duration:>{_OFFSET_WIDTH}}  {timeline}  {text}"


def _header(tree: TraceTree, style: Style) -> list[str]:
    summary = tree.summary
    service = summary.service
    status = style.red(f"error: {printable(summary.error, NAME_WIDTH)}") if summary.error else "ok"
    facts = [style.bold(printable(summary.name, NAME_WIDTH)),
             *(printable(str(v), NAME_WIDTH) for v in (summary.symbol, summary.attribute("trading.side")) if v),
             f"started {format_time(summary.start_ns)}", format_duration(summary.duration_s),
             f"{summary.span_count} span{'s' if summary.span_count != 1 else ''}", status]
    result = trade_result(summary)
    if result:
        facts.append(printable(result, NAME_WIDTH))
    lines = [f"trace {summary.trace_id}" + (f"  service {printable(str(service), NAME_WIDTH)}" if service else ""),
             "  ".join(facts)]
    if summary.partial:
        lines.append(style.paint("partial: the root span is not in the store (still running, or in a file "
                                 "rotated away); shown from the earliest span", "33"))
    return [*lines, ""]


def trade_result(summary: TraceSummary) -> str:
    """``loss -1.528 stop_loss``: the trade's outcome, realized PnL and exit reason, when it has them."""
    pnl = summary.attribute("trading.pnl.realized")
    parts = [summary.attribute("trading.trade.outcome"),
             f"{pnl:+.6g}" if isinstance(pnl, (int, float)) and not isinstance(pnl, bool) else pnl,
             summary.attribute("trading.exit_reason")]
    return " ".join(str(part) for part in parts if part is not None)


def _span_text(node: SpanNode, parent: SpanNode | None, style: Style) -> str:
    span = node.span
    parts = [style.bold(printable(span.name, NAME_WIDTH)),
             style.red(f"error: {printable(span_error_text(span), TEXT_WIDTH)}") if span.is_error else "ok"]
    if node.orphan:
        parts.append(style.paint(f"[orphan: {node.orphan}]", "33"))
    inherited = parent.span.attributes if parent is not None else {}
    shown = {key.removeprefix("trading."): value for key, value in span.attributes.items()
             if key in KEY_ATTRIBUTES and inherited.get(key) != value}
    if shown:
        parts.append(key_values(shown, style))
    return "  ".join(parts)


def _event_text(event: SpanEvent, symbol: str, style: Style, all_attributes: bool) -> str:
    attributes = dict(event.attributes) if all_attributes else {
        key.removeprefix("trading."): value for key, value in event.attributes.items()
        if not key.startswith("exception.stacktrace")}
    name = style.paint(symbol + " " + printable(event.name, NAME_WIDTH), "36")
    return f"{name} {key_values(attributes, style)}".rstrip()


def _log_text(log: StoredLog, symbol: str, style: Style, all_attributes: bool) -> str:
    level = level_name(log)
    skip = frozenset() if all_attributes else _TRADE_WIDE | {"exception.stacktrace"} | {
        key for key in log.attributes if is_source_location(key)}
    return " ".join(part for part in (style.level(f"{symbol} {level}"),
                                      style.paint(printable(log.scope, NAME_WIDTH), "36"),
                                      printable(log.body, TEXT_WIDTH),
                                      key_values(dict(log.attributes), style, skip=skip)) if part)


# -- JSON ----------------------------------------------------------------------------------


def document(tree: TraceTree) -> dict[str, Any]:
    """The trace as one JSON document: its summary, span tree (with events and logs) and stray logs."""
    start = tree.start_ns
    result: dict[str, Any] = {**summary_document(tree.summary), "spans": [], "logs": []}
    placed: dict[str, dict[str, Any]] = {}
    for _, item, parent in walk(tree):
        container = placed[parent.span.span_id] if parent is not None else None
        if isinstance(item, SpanNode):
            node = _span_document(item, start)
            placed[item.span.span_id] = node
            (container["children"] if container is not None else result["spans"]).append(node)
        elif isinstance(item, SpanEvent):
            if container is not None:
                container["events"].append({"name": item.name, "time": iso_time(item.time_ns),
                                            "offset_s": (item.time_ns - start) / 1e9,
                                            "attributes": dict(item.attributes)})
        else:
            (container["logs"] if container is not None else result["logs"]).append(
                log_document(item, offset_from_ns=start))
    return result


def _span_document(node: SpanNode, start_ns: int) -> dict[str, Any]:
    span = node.span
    return {
        "span_id": span.span_id, "parent_span_id": span.parent_span_id, "name": span.name, "kind": span.kind,
        "start": iso_time(span.start_ns), "start_unix_nano": span.start_ns,
        "offset_s": (span.start_ns - start_ns) / 1e9, "duration_s": span.duration_s, "status": span.status,
        "status_message": span.status_message, "orphan": node.orphan, "attributes": dict(span.attributes),
        "scope": span.scope,
        "events": [], "logs": [], "children": [],
    }
