"""The console's read API over a store: query strings in, the store queries' answers out.

The store queries (``export/_store_queries.py``, ``export/_metric_queries.py``) do the
reading through the store's index; this module only turns query strings into their
arguments and their dataclasses into JSON-ready dicts.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import operator
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Final

from otel_trading.console._params import ApiError, Query, choice, integer, limit, number, pairs, text
from otel_trading.console._recorded import recorded_overview
from otel_trading.export import _metric_queries as metric_queries
from otel_trading.export import _store_queries as store_queries
from otel_trading.export._index_rows import TradeStatus
from otel_trading.export._metric_queries import Stat
from otel_trading.export._store_queries import TraceStatus

JsonDict = dict[str, Any]
_TRADE_SORTS = ("opened_ns", "closed_ns", "pnl", "duration_ms", "symbol", "side", "strategy", "status",
                "exit_reason", "trade_id")
TRADES_PAGE: Final = 200
"""How many trades ``/api/trades`` sends without a ``limit``: a page, not the store's 40,000."""
_TRADE_STATUSES: Final[tuple[TradeStatus, ...]] = ("open", "closed", "denied", "abandoned")
_TRACE_STATUSES: Final[tuple[TraceStatus, ...]] = ("ok", "error")
_STATS: Final[tuple[Stat, ...]] = ("value", "p50", "p99", "rate")
_LEVELS = ("trace", "debug", "info", "warning", "error", "critical")


_LEAVES: Final = frozenset({str, int, float, bool, type(None)})


@functools.cache
def _field_names(cls: type) -> tuple[str, ...] | None:
    """The field names of a dataclass, None for any other class (asked once per class)."""
    if not dataclasses.is_dataclass(cls):
        return None
    return tuple(field.name for field in dataclasses.fields(cls))


def plain(value: Any) -> Any:
    """A dataclass (or a list of them) as plain JSON values: new dicts and lists, leaves shared.

    Not ``dataclasses.asdict``: it deep-copies every leaf, a second per 43,000 trades of a large
    store (benchmarks/console_speed.py), where a string or a number needs no copy.
    """
    kind: type = type(value)
    if kind in _LEAVES:
        return value
    names = _field_names(kind)
    if names is not None:
        return {name: item if type(item := getattr(value, name)) in _LEAVES else plain(item) for name in names}
    if isinstance(value, (list, tuple)):
        return [item if type(item) in _LEAVES else plain(item) for item in value]
    if isinstance(value, Mapping):
        return {key: item if type(item) in _LEAVES else plain(item) for key, item in value.items()}
    return value


def _checked(call: Callable[[], Any]) -> Any:
    """A ValueError of a query (an unknown level...) is the caller's bad input: 400 with its message."""
    try:
        return call()
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None


def trade_summary(rows: Iterable[Any]) -> JsonDict:
    """The counts and PnL of every matching trade (not only the page sent): how many per status,
    the closed ones' PnL summed, their wins (PnL > 0) and losses (< 0), as the report counts them."""
    counts: dict[str, int] = dict.fromkeys(_TRADE_STATUSES, 0)
    pnl, wins, losses, count = 0.0, 0, 0, 0
    for row in rows:
        count += 1
        counts[row.status] = counts.get(row.status, 0) + 1
        if row.status == "closed" and row.pnl is not None:
            pnl += row.pnl
            wins += row.pnl > 0
            losses += row.pnl < 0
    return {"count": count, **counts, "pnl": pnl, "wins": wins, "losses": losses}


def trades(store: Path, query: Query) -> JsonDict:
    """One page (``offset``, ``limit``) of the matching trades in the asked order, their ``total``
    and the ``summary`` of all of them: only the page becomes JSON (and goes through the redactor)."""
    sort = choice(query, "sort", _TRADE_SORTS) or "opened_ns"
    descending = (choice(query, "order", ("asc", "desc")) or "desc") == "desc"
    chosen = limit(query, TRADES_PAGE) or TRADES_PAGE
    offset = integer(query, "offset") or 0
    rows = _checked(lambda: store_queries.trades(
        store, symbol=text(query, "symbol"), side=text(query, "side"), strategy=text(query, "strategy"),
        status=choice(query, "status", _TRADE_STATUSES), exit_reason=text(query, "exit_reason"), limit=None))
    # None sorts last whatever the order: an open trade has no PnL yet, not the lowest one.
    key = operator.attrgetter(sort)
    present = [row for row in rows if key(row) is not None]
    missing = [row for row in rows if key(row) is None]
    present.sort(key=key, reverse=descending)
    ordered = present + missing
    return {"trades": plain(ordered[offset:offset + chosen]), "total": len(rows), "offset": offset,
            "limit": chosen, "summary": trade_summary(rows)}


def traces(store: Path, query: Query) -> JsonDict:
    attributes = pairs(query, "attr")
    if len(attributes) > 1:
        raise ApiError(400, "attr: give one key=value")
    found = _checked(lambda: store_queries.trace_summaries(
        store, service=text(query, "service"), name=text(query, "name"), symbol=text(query, "symbol"),
        correlation_id=text(query, "correlation_id"), status=choice(query, "status", _TRACE_STATUSES),
        min_duration_ms=number(query, "min_duration_ms"), max_duration_ms=number(query, "max_duration_ms"),
        since_ns=integer(query, "since_ns"), until_ns=integer(query, "until_ns"),
        attribute=attributes[0] if attributes else None, limit=limit(query)))
    return {"traces": plain(found)}


def trace(store: Path, trace_id: str) -> JsonDict:
    if not trace_id or len(trace_id) > 32 or any(c not in "0123456789abcdefABCDEF" for c in trace_id):
        raise ApiError(400, f"trace id {trace_id[:40]!r}: expected up to 32 hexadecimal digits")
    detail = store_queries.trace_detail(store, trace_id)
    if detail is None:
        raise ApiError(404, f"no single trace with id {trace_id}")
    result: JsonDict = plain(detail)
    return result


def logs(store: Path, query: Query) -> JsonDict:
    found = _checked(lambda: store_queries.search_logs(
        store, since_ns=integer(query, "since_ns"), until_ns=integer(query, "until_ns"),
        min_level=choice(query, "level", _LEVELS), service=text(query, "service"), trace_id=text(query, "trace_id"),
        correlation_id=text(query, "correlation_id"), fields=pairs(query, "field"), text=text(query, "q"),
        limit=limit(query), before_ns=integer(query, "before_ns")))
    return {"logs": plain(found)}


def metrics(store: Path) -> JsonDict:
    return {"metrics": plain(metric_queries.metric_catalog(store))}


def metric(store: Path, name: str, query: Query) -> JsonDict:
    by = [key.strip() for key in (text(query, "by") or "").split(",") if key.strip()]
    stat: Stat = choice(query, "stat", _STATS) or "value"
    catalog = {info.name: info for info in metric_queries.metric_catalog(store)}
    info = catalog.get(name)
    if info is None:
        raise ApiError(404, f"no metric {name!r} in this store")
    series = _checked(lambda: metric_queries.metric_series(store, name, by=by, since_ns=integer(query, "since_ns"),
                                                   until_ns=integer(query, "until_ns"), stat=stat))
    return {"name": name, "unit": info.unit, "series": plain(series)}


def report(store: Path, query: Query) -> JsonDict:
    document: JsonDict = store_queries.store_report(store, since_ns=integer(query, "since_ns"),
                                                 until_ns=integer(query, "until_ns"))
    return document


def _ns(iso: str | None) -> int | None:
    if iso is None:
        return None
    moment = dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return int(moment.timestamp() * 1000) * 1_000_000


def _rate(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


def overview(store: Path, query: Query) -> JsonDict:
    """The overview over a store: the report's figures (equal to ``otel-trading report --format json``),
    and what only the bot knew (positions, trading state, breaker trips, telemetry...) from the
    metrics it recorded in the store (``_recorded``), as of the time they were recorded."""
    document = report(store, query)
    curve = document["equity_curve"]
    orders = document["orders"]
    exchange = document["exchange"]
    rejects = sum(orders["rejects_by_reason"].values())
    latency = orders["ack_latency_s"]
    result: JsonDict = {
        "equity": [[_ns(point["time"]), point["value"]] for point in curve],
        "drawdown": [[_ns(point["time"]), point["drawdown"]] for point in curve],
        "pnl": {"realized": document["performance"]["total_pnl"], "unrealized": None, "daily": None},
        "positions": [],
        "trading_state": None,
        "breaker_trips": None,
        "firing_alerts": [],
        "health": [],
        "order_latency_ms": {key: None if latency[key] is None else latency[key] * 1000 for key in ("p50", "p99")},
        "error_rate": _rate(exchange["errors"], exchange["calls"]),
        "reject_rate": _rate(rejects, orders["count"]),
        "telemetry": None,
        "as_of_ns": None,
        # The report without its curve: the curve is above, downsampled (``ConsoleApp.overview``).
        "report": {key: value for key, value in document.items() if key != "equity_curve"},
    }
    recorded = _checked(lambda: recorded_overview(store, integer(query, "since_ns"),
                                                  integer(query, "until_ns")))
    if recorded is not None:
        result["pnl"].update(unrealized=recorded.pop("pnl_unrealized"), daily=recorded.pop("pnl_daily"))
        # The report's per-order latencies are exact (the screen equals `report --format json`); the
        # recorded histogram's bucket estimates only stand in where the report has none.
        latency_ms = recorded.pop("order_latency_ms")
        result["order_latency_ms"] = {key: result["order_latency_ms"][key] if result["order_latency_ms"][key]
                                      is not None else latency_ms[key] for key in ("p50", "p99")}
        result.update({key: value for key, value in recorded.items()
                       if value is not None or key not in ("error_rate", "reject_rate")})
    return result
