"""Every metric the SDK emits: name, instrument kind and unit, and the name it gets in Prometheus.

Alert rules are checked against this catalog (an unknown name is an error with the nearest
suggestion) and exported with the Prometheus names computed here, which are the names the
Prometheus exporter gives (``tests/test_semantic_conventions.py`` holds this table, the
docs and a real scrape to each other).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from enum import Enum
from typing import Final

from otel_trading.metrics._prometheus_names import series_name


class Kind(str, Enum):
    COUNTER = "Counter"
    UP_DOWN_COUNTER = "UpDownCounter"
    GAUGE = "Gauge"
    HISTOGRAM = "Histogram"


@dataclass(frozen=True)
class MetricInfo:
    name: str
    kind: Kind
    unit: str = ""

    @property
    def prometheus_name(self) -> str:
        """The series name in Prometheus (histograms: the base of ``_bucket``/``_sum``/``_count``)."""
        return series_name(self.name, self.unit, counter=self.kind is Kind.COUNTER)


def _m(name: str, kind: Kind, unit: str = "") -> tuple[str, MetricInfo]:
    return name, MetricInfo(name, kind, unit)


C, U, G, H = Kind.COUNTER, Kind.UP_DOWN_COUNTER, Kind.GAUGE, Kind.HISTOGRAM
CATALOG: Final[dict[str, MetricInfo]] = dict([
    _m("otel_trading.function.calls", C, "{call}"),
    _m("otel_trading.function.errors", C, "{error}"),
    _m("otel_trading.function.duration", H, "s"),
    _m("otel_trading.telemetry.exported", C, "{item}"),
    _m("otel_trading.telemetry.dropped", C, "{item}"),
    _m("otel_trading.telemetry.queue.size", G, "{item}"),
    _m("otel_trading.metric.overflow", C, "{series}"),
    _m("otel_trading.instrumentation.failures", C, "{failure}"),
    _m("otel_trading.heartbeat.timestamp", G, "s"),
    _m("otel_trading.heartbeats", C, "{beat}"),
    _m("process.uptime", G, "s"),
    _m("trading.signals", C, "{signal}"),
    _m("trading.risk.checks", C, "{check}"),
    _m("trading.orders", C, "{order}"),
    _m("trading.order.rejects", C, "{order}"),
    _m("trading.order.ack.latency", H, "s"),
    _m("trading.order.fill.latency", H, "s"),
    _m("trading.fills", C, "{fill}"),
    _m("trading.fill.notional", C, "{quote}"),
    _m("trading.fees", C, "{fee_currency}"),
    _m("trading.slippage.bps", H, "{bp}"),
    _m("trading.slippage.cost", U, "{quote}"),
    _m("trading.trades", C, "{trade}"),
    _m("trading.trade.duration", H, "s"),
    _m("trading.trades.open", G, "{trade}"),
    _m("trading.trades.evicted", C, "{trade}"),
    _m("trading.performance.win_rate", G, "1"),
    _m("trading.performance.profit_factor", G),
    _m("trading.performance.expectancy", G, "{quote}"),
    _m("trading.performance.trades", G, "{trade}"),
    _m("trading.performance.sharpe", G),
    _m("trading.performance.sortino", G),
    _m("trading.performance.calmar", G),
    _m("trading.equity", G, "{quote}"),
    _m("trading.balance", G, "{asset}"),
    _m("trading.pnl.realized", G, "{quote}"),
    _m("trading.pnl.unrealized", G, "{quote}"),
    _m("trading.pnl.daily", G, "{quote}"),
    _m("trading.pnl.daily.ratio", G, "1"),
    _m("trading.positions.open", G, "{position}"),
    _m("trading.position.size", G, "{base}"),
    _m("trading.exposure", G, "{quote}"),
    _m("trading.drawdown", G, "1"),
    _m("trading.drawdown.max", G, "1"),
    _m("trading.state", G, "1"),
    _m("trading.circuit_breaker.trips", C, "{trip}"),
    _m("trading.market_data.staleness", G, "s"),
    _m("trading.websocket.reconnects", C, "{reconnect}"),
    _m("trading.model.predictions", C, "{prediction}"),
    _m("trading.model.quality", G, "1"),
    _m("trading.exchange.requests", C, "{request}"),
    _m("trading.exchange.request.duration", H, "s"),
    _m("trading.exchange.errors", C, "{error}"),
    _m("trading.exchange.errors.consecutive", G, "{error}"),
    _m("trading.exchange.rate_limit.interval", G, "s"),
    _m("trading.exchange.rate_limit.queued", G, "{request}"),
    _m("otel_trading.health.status", G, "1"),
    _m("otel_trading.health.check.duration", H, "s"),
    _m("otel_trading.health.check.failures", C, "{failure}"),
    _m("otel_trading.alerts.transitions", C, "{transition}"),
    _m("otel_trading.alerts.active", G, "{alert}"),
    _m("otel_trading.alerts.evaluation.duration", H, "s"),
    _m("otel_trading.alerts.evaluation.failures", C, "{failure}"),
    _m("otel_trading.alerts.notifications", C, "{notification}"),
    _m("otel_trading.alerts.delivery.duration", H, "s"),
    _m("system.cpu.time", C, "s"),
    _m("system.cpu.utilization", G, "1"),
    _m("system.memory.usage", G, "By"),
    _m("system.memory.utilization", G, "1"),
    _m("system.swap.usage", G, "pages"),
    _m("system.swap.utilization", G, "1"),
    _m("system.disk.io", C, "By"),
    _m("system.disk.operations", C, "operations"),
    _m("system.disk.time", C, "s"),
    _m("system.network.io", C, "By"),
    _m("system.network.packets", C, "packets"),
    _m("system.network.dropped_packets", C, "packets"),
    _m("system.network.errors", C, "errors"),
    _m("system.thread_count", G),
    _m("process.cpu.time", C, "s"),
    _m("process.cpu.utilization", G, "1"),
    _m("process.memory.usage", U, "By"),
    _m("process.memory.virtual", U, "By"),
    _m("process.disk.io", C, "By"),
    _m("process.context_switches", C),
    _m("process.open_file_descriptor.count", U),
    _m("process.thread.count", U),
    _m("cpython.gc.collections", C, "{collection}"),
    _m("cpython.gc.collected_objects", C, "{object}"),
    _m("cpython.gc.uncollectable_objects", C, "{object}"),
    _m("process.runtime.cpython.cpu_time", C, "s"),
    _m("process.runtime.cpython.cpu.utilization", G, "1"),
    _m("process.runtime.cpython.memory", U, "By"),
    _m("process.runtime.cpython.context_switches", C, "switches"),
    _m("process.runtime.cpython.thread_count", U),
    _m("process.runtime.cpython.gc_count", C, "By"),
])


def lookup(name: str) -> MetricInfo | None:
    return CATALOG.get(name)


def nearest(name: str) -> str | None:
    """The catalog name closest to ``name`` (for "did you mean"), or None when nothing is close."""
    matches = difflib.get_close_matches(name, CATALOG, n=1, cutoff=0.6)
    return matches[0] if matches else None
