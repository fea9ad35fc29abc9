"""Local instruments: bound handles, cardinality guard, conversion to OTel points."""

from __future__ import annotations

import threading

import pytest
from opentelemetry.sdk.metrics.export import Gauge, Histogram, Sum

from otel_trading.metrics import LocalMetrics


def test_counter_histogram_gauge_points() -> None:
    metrics = LocalMetrics()
    orders = metrics.counter("trading.orders", "{order}").bind({"side": "buy"})
    latency = metrics.histogram("trading.order.latency", (0.01, 0.1, 1.0), "s").bind({"exchange": "x"})
    equity = metrics.gauge("trading.equity", "USD")
    for _ in range(3):
        orders.add()
    for value in (0.005, 0.01, 0.05, 2.0):
        latency.record(value)
    equity.set(1000.5)
    by_name = {m.name: m for m in metrics.collect()}
    counter = by_name["trading.orders"].data
    assert isinstance(counter, Sum) and counter.is_monotonic
    assert counter.data_points[0].value == 3 and dict(counter.data_points[0].attributes) == {"side": "buy"}
    histogram = by_name["trading.order.latency"].data
    assert isinstance(histogram, Histogram)
    point = histogram.data_points[0]
    # OTel buckets are upper-bound inclusive: (-inf,0.01], (0.01,0.1], (0.1,1], (1,+inf)
    assert list(point.bucket_counts) == [2, 1, 0, 1]
    assert point.count == 4 and point.sum == pytest.approx(2.065)
    assert point.min == 0.005 and point.max == 2.0
    gauge = by_name["trading.equity"].data
    assert isinstance(gauge, Gauge) and gauge.data_points[0].value == 1000.5


def test_cardinality_guard_folds_into_overflow_and_counts() -> None:
    metrics = LocalMetrics()
    metrics.overflow_counter = metrics.counter("otel_trading.metric.overflow")
    counter = metrics.counter("orders", max_series=3)
    for i in range(10):
        counter.add(1, {"order_id": str(i)})
    series = dict(counter.series())
    assert len(series) == 4
    assert series[(("otel.metric.overflow", True),)].value == 7
    assert metrics.overflow_counter.bind({"metric": "orders"}).value == 7


def test_concurrent_adds_are_not_lost() -> None:
    handle = LocalMetrics().counter("n").bind()

    def work() -> None:
        for _ in range(20_000):
            handle.add(1)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert handle.value == 80_000


def test_kind_conflict_is_a_clear_error() -> None:
    metrics = LocalMetrics()
    metrics.counter("x")
    with pytest.raises(ValueError, match="'x' is already registered as LocalCounter, not LocalGauge"):
        metrics.gauge("x")


def test_up_down_counter_is_a_non_monotonic_sum() -> None:
    metrics = LocalMetrics()
    positions = metrics.up_down_counter("trading.positions.open", "{position}").bind({"symbol": "BTC"})
    positions.add(2)
    positions.add(-1)
    [metric] = metrics.collect()
    assert isinstance(metric.data, Sum) and not metric.data.is_monotonic
    assert metric.data.data_points[0].value == 1
