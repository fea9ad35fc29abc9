"""Local instruments: bound handles, cardinality guard, conversion to OTel points."""

from __future__ import annotations

import threading

import pytest
from opentelemetry.sdk.metrics.export import AggregationTemporality, Gauge, Histogram, Metric, Sum

from otel_trading.metrics import LocalMetrics, Temporality


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


DELTA = Temporality(counter=AggregationTemporality.DELTA, histogram=AggregationTemporality.DELTA)


def histogram_summary(metrics: list[Metric], name: str) -> list[tuple[int, float, float, float, list[int]]]:
    [metric] = [m for m in metrics if m.name == name] or [None]
    if metric is None:
        return []
    assert isinstance(metric.data, Histogram)
    return [(p.count, p.sum, p.min, p.max, list(p.bucket_counts)) for p in metric.data.data_points]


def test_a_delta_view_reports_each_interval_while_a_cumulative_view_reports_totals() -> None:
    metrics = LocalMetrics()
    delta, cumulative = metrics.view(DELTA), metrics.view()
    orders = metrics.counter("orders").bind()
    latency = metrics.histogram("latency", (1.0, 10.0)).bind()

    orders.add(3)
    for value in (5.0, 0.5):
        latency.record(value)
    first = delta.collect()
    orders.add(2)
    latency.record(20.0)
    cumulative.collect()  # ends the extremes window in the middle of the delta view's interval
    latency.record(7.0)
    second = delta.collect()
    third = delta.collect()  # nothing new: no points at all

    assert [(m.name, m.data.aggregation_temporality) for m in first] == [  # type: ignore[union-attr]
        ("orders", AggregationTemporality.DELTA), ("latency", AggregationTemporality.DELTA)]
    assert [p.value for m in first if m.name == "orders" for p in m.data.data_points] == [3]  # type: ignore[union-attr]
    assert [p.value for m in second if m.name == "orders" for p in m.data.data_points] == [2]  # type: ignore[union-attr]
    assert histogram_summary(first, "latency") == [(2, 5.5, 0.5, 5.0, [1, 1, 0])]
    # The interval's extremes, across the window the cumulative collection ended.
    assert histogram_summary(second, "latency") == [(2, 27.0, 7.0, 20.0, [0, 1, 1])]
    assert third == []
    # Each delta point starts where the view's previous collection ended.
    [first_orders] = [m for m in first if m.name == "orders"]
    [second_orders] = [m for m in second if m.name == "orders"]
    assert second_orders.data.data_points[0].start_time_unix_nano == (  # type: ignore[union-attr]
        first_orders.data.data_points[0].time_unix_nano)  # type: ignore[union-attr]

    totals = cumulative.collect()
    assert histogram_summary(totals, "latency") == [(4, 32.5, 0.5, 20.0, [1, 2, 1])]
    assert [(m.name, m.data.aggregation_temporality) for m in totals] == [  # type: ignore[union-attr]
        ("orders", AggregationTemporality.CUMULATIVE), ("latency", AggregationTemporality.CUMULATIVE)]
    assert [p.value for m in totals if m.name == "orders" for p in m.data.data_points] == [5]  # type: ignore[union-attr]
    # The bound handle's public running extremes are unaffected by the windows.
    assert (latency.min, latency.max, latency.count) == (0.5, 20.0, 4)


def test_two_delta_views_each_get_their_own_intervals() -> None:
    metrics = LocalMetrics()
    often, seldom = metrics.view(DELTA), metrics.view(DELTA)
    latency = metrics.histogram("latency", (1.0,)).bind()
    latency.record(3.0)
    assert histogram_summary(often.collect(), "latency") == [(1, 3.0, 3.0, 3.0, [0, 1])]
    latency.record(0.25)
    assert histogram_summary(often.collect(), "latency") == [(1, 0.25, 0.25, 0.25, [1, 0])]
    assert histogram_summary(seldom.collect(), "latency") == [(2, 3.25, 0.25, 3.0, [1, 1])]


def test_up_down_counters_and_count_of_follow_their_own_kinds_temporality() -> None:
    metrics = LocalMetrics()
    view = metrics.view(Temporality(counter=AggregationTemporality.DELTA))  # as OTLP's "delta" and "lowmemory"
    positions = metrics.up_down_counter("positions").bind()
    latency = metrics.histogram("latency", (1.0,))
    metrics.count_of(latency, "requests")
    positions.add(2)
    latency.record(0.5)
    view.collect()
    positions.add(-1)
    latency.record(0.5)
    by_name = {m.name: m.data for m in view.collect()}
    assert isinstance(by_name["positions"], Sum) and isinstance(by_name["requests"], Sum)
    assert by_name["positions"].aggregation_temporality is AggregationTemporality.CUMULATIVE
    assert by_name["positions"].data_points[0].value == 1
    assert by_name["requests"].aggregation_temporality is AggregationTemporality.DELTA
    assert by_name["requests"].data_points[0].value == 1
    assert histogram_summary(list(view.collect()), "latency") == [(2, 1.0, 0.5, 0.5, [2, 0])]  # cumulative
