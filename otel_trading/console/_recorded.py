"""The overview's bot figures over a store, from the metrics the bot recorded there.

A read-only console has no bot to ask, but the ``local`` metrics exporter wrote the bot's
metrics every ``metric_export_interval``: the same instruments the live overview reads
(``_live.LiveParts.overview``). Gauges (positions, trading state, unrealised/daily PnL) are
their values at the last export in the range; counters (circuit-breaker trips, telemetry
exported/dropped, orders, rejects, exchange requests/errors) how much they grew over the range,
over every run the store holds; the order latency the percentiles of what was recorded in the
range. ``as_of_ns`` is when the newest of them was recorded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from otel_trading.export import _metric_queries as metric_queries
from otel_trading.trading import _names as n

JsonDict = dict[str, Any]
EXCHANGE_REQUESTS: Final = "trading.exchange.requests"
EXCHANGE_ERRORS: Final = "trading.exchange.errors"
TELEMETRY_EXPORTED: Final = "otel_trading.telemetry.exported"
TELEMETRY_DROPPED: Final = "otel_trading.telemetry.dropped"
SUBMITTED: Final = {n.ORDER_STATUS: "submitted"}
STATE_CHANGED_MESSAGE: Final = "trading state changed"  # trading/_status.py's log line of a change
# Enough buckets that two runs' last exports never share one (a bucket sums its series' last values).
_FINE: Final = 100_000


_PERCENTILES: Final[tuple[metric_queries.Stat, ...]] = ("p50", "p99")


class _Reader:
    """The metric queries over one store and range, remembering the newest time it read."""

    def __init__(self, store: Path, since_ns: int | None, until_ns: int | None) -> None:
        self.store = store
        self.since_ns = since_ns
        self.until_ns = until_ns
        self.as_of_ns: int | None = None

    def pin(self) -> None:
        """Reads up to the newest export as it is now, for every figure: the store grows while the
        overview is read, and its figures must all be of one export. The trading state is in every
        export; an export's points are stamped within a few milliseconds of each other, so the
        range ends half-way to the next one (or a second after it, the store's only export)."""
        series = metric_queries.metric_series(self.store, n.TRADING_STATE, since_ns=self.since_ns,
                                           until_ns=self.until_ns, max_points=_FINE)
        times = sorted({time_ns for s in series for time_ns, _ in s.points})
        if times:
            slack = (times[-1] - times[-2]) // 2 if len(times) > 1 else 1_000_000_000
            self.until_ns = times[-1] + slack if self.until_ns is None else min(self.until_ns, times[-1] + slack)

    def _saw(self, time_ns: int) -> None:
        self.as_of_ns = time_ns if self.as_of_ns is None else max(self.as_of_ns, time_ns)

    def increase(self, name: str, where: dict[str, str] | None = None) -> float | None:
        found = metric_queries.counter_increase(self.store, name, since_ns=self.since_ns, until_ns=self.until_ns,
                                             where=where)
        if found is None:
            return None
        total, time_ns = found
        self._saw(time_ns)
        return float(total)

    def latest(self, name: str, by: tuple[str, ...] = ()) -> list[tuple[dict[str, Any], float]]:
        """Each ``by`` group's value at the metric's last export in the range (groups that stopped
        before it, such as an earlier run's, are left out)."""
        series = metric_queries.metric_series(self.store, name, by=by, since_ns=self.since_ns, until_ns=self.until_ns,
                                           max_points=_FINE)
        ends = [(s.attributes, s.points[-1]) for s in series if s.points]
        if not ends:
            return []
        last_ns = max(time_ns for _, (time_ns, _) in ends)
        self._saw(last_ns)
        return [(attributes, value) for attributes, (time_ns, value) in ends if time_ns == last_ns]

    def total(self, name: str) -> float | None:
        values = self.latest(name)
        return sum(value for _, value in values) if values else None

    def percentile(self, name: str, stat: metric_queries.Stat) -> float | None:
        series = metric_queries.metric_series(self.store, name, stat=stat, since_ns=self.since_ns,
                                           until_ns=self.until_ns, max_points=1)
        points = [point for s in series for point in s.points]
        if not points:
            return None
        self._saw(points[-1][0])
        return float(points[-1][1])

    def state_since(self, state: str) -> tuple[int | None, str | None, str | None]:
        """(since_ns, reason, source) of the current state: the logged change into it when the store
        has it, else the first export of its last unbroken stretch (no reason, no source)."""
        from otel_trading.export._store_queries import search_logs

        changes = search_logs(self.store, text=STATE_CHANGED_MESSAGE, until_ns=self.as_of_ns, limit=1)
        if changes and changes[0].message == STATE_CHANGED_MESSAGE and changes[0].attributes.get("state") == state:
            change = changes[0]
            return change.time_ns, change.attributes.get("reason"), change.attributes.get("source")
        series = metric_queries.metric_series(self.store, n.TRADING_STATE, by=(n.STATE_ATTR,), since_ns=self.since_ns,
                                           until_ns=self.until_ns, max_points=_FINE)
        points: list[tuple[int, float]] = next(
            (s.points for s in series if s.attributes.get(n.STATE_ATTR) == state), [])
        since = None
        for time_ns, value in reversed(points):
            if value < 1:
                break
            since = time_ns
        return since, None, None


def _ratio(part: float | None, whole: float | None) -> float | None:
    if part is None or whole is None:
        return None
    return part / whole if whole else 0.0


def recorded_overview(store: Path, since_ns: int | None, until_ns: int | None) -> JsonDict | None:
    """The overview's fields the recorded metrics answer (None: the store has no metrics)."""
    if not metric_queries.metric_catalog(store):
        return None
    read = _Reader(store, since_ns, until_ns)
    read.pin()
    keys = (n.PORTFOLIO, n.SYMBOL)
    marks = {(a.get(n.PORTFOLIO), a.get(n.SYMBOL)): value for a, value in read.latest(n.EXPOSURE, keys)}
    positions = []
    for attributes, quantity in read.latest(n.POSITION_SIZE, keys):
        if not quantity:
            continue  # a closed position reads 0 from then on
        key = (attributes.get(n.PORTFOLIO), attributes.get(n.SYMBOL))
        exposure = marks.get(key)
        positions.append({"portfolio": key[0], "symbol": key[1], "side": "long" if quantity > 0 else "short",
                          "amount": abs(quantity), "entry_price": None,
                          "mark_price": exposure / abs(quantity) if exposure is not None else None,
                          "unrealized_pnl": None})  # recorded per portfolio only
    positions.sort(key=lambda p: (str(p["portfolio"]), str(p["symbol"])))
    current = [a.get(n.STATE_ATTR) for a, value in read.latest(n.TRADING_STATE, (n.STATE_ATTR,)) if value >= 1]
    trading_state = None
    if current:
        since, reason, source = read.state_since(str(current[0]))
        trading_state = {"state": current[0], "reason": reason, "since_ns": since, "source": source}
    trips = read.increase(n.CIRCUIT_BREAKER_TRIPS)
    exported, dropped = read.increase(TELEMETRY_EXPORTED), read.increase(TELEMETRY_DROPPED)
    latency = {stat: read.percentile(n.ORDER_ACK_LATENCY, stat) for stat in _PERCENTILES}
    return {
        "pnl_unrealized": read.total(n.PNL_UNREALIZED),
        "pnl_daily": read.total(n.PNL_DAILY),
        "positions": positions,
        "trading_state": trading_state,
        # No trip recorded while the other trading metrics are there: none happened (counters appear on first use).
        "breaker_trips": int(trips or 0),
        "order_latency_ms": {stat: None if value is None else value * 1000 for stat, value in latency.items()},
        "error_rate": _ratio(read.increase(EXCHANGE_ERRORS) or 0.0, read.increase(EXCHANGE_REQUESTS)),
        # Per order sent: trading.orders counts each status an order goes through.
        "reject_rate": _ratio(read.increase(n.ORDER_REJECTS) or 0.0, read.increase(n.ORDERS, SUBMITTED)),
        "telemetry": None if exported is None and dropped is None
        else {"exported": int(exported or 0), "dropped": int(dropped or 0)},
        "as_of_ns": read.as_of_ns,
    }
