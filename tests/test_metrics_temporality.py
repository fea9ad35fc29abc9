"""OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE applies to otel-trading's metrics as to the SDK's.

A real loopback OTLP receiver gets two exports with known increments in between: with
``delta`` (and ``lowmemory``) every counter and histogram of the export, the SDK's and ours,
is delta and carries that interval's values; up-down counters stay cumulative, as the SDK
exporter keeps them; with the default, everything is cumulative. The Prometheus endpoint of
the same configuration stays cumulative whatever the OTLP preference.
"""

from __future__ import annotations

import logging
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.proto.metrics.v1.metrics_pb2 import AGGREGATION_TEMPORALITY_CUMULATIVE, AGGREGATION_TEMPORALITY_DELTA
from otlp_receiver import GrpcOtlpReceiver, HttpOtlpReceiver, otlp_options

import otel_trading
from otel_trading import TradingMetrics

Receiver = HttpOtlpReceiver | GrpcOtlpReceiver

pytestmark = pytest.mark.timeout(30)

OURS = ("trading.orders", "trading.order.ack.latency", "trading.slippage.cost")
SDK = ("sdk.requests", "sdk.latency", "sdk.inflight")
OBSERVED_COUNTER = "process.cpu.time"  # an SDK observable counter (system metrics)
FIRST_ACK_LATENCIES = (0.2, 0.4)
SECOND_ACK_LATENCIES = (0.05,)


@pytest.fixture
def receiver(otlp_receiver: Receiver) -> Iterator[Receiver]:
    yield otlp_receiver
    otel_trading.shutdown(timeout=2)


def run_two_intervals(receiver: Receiver, **overrides: Any) -> tuple[list[Any], list[Any], str]:
    """Two exports with known increments; the metrics of each, and a Prometheus scrape after both."""
    telemetry = otel_trading.configure(**otlp_options(
        receiver.endpoint, receiver.protocol, traces_exporter="none", logs_exporter="none",
        metrics_exporter=["otlp", "prometheus"], prometheus_port=0, **overrides,
    ))
    meter = telemetry.meter_provider.get_meter("temporality-test")
    requests, latency, inflight = (meter.create_counter("sdk.requests"), meter.create_histogram("sdk.latency"),
                                   meter.create_up_down_counter("sdk.inflight"))
    # The SDK's aggregation of the same values as our ack latency, to compare buckets with.
    sdk_ack_latency = meter.create_histogram("sdk.ack.latency")
    bot = TradingMetrics("BTC/USDT", exchange="test", strategy="temporality")

    for _ in range(3):
        bot.order("filled", side="buy", order_type="limit")
    for value in FIRST_ACK_LATENCIES:
        bot.ack_latency(value, order_type="limit")
        sdk_ack_latency.record(value)
    bot.slippage(2.0, side="buy", cost=5.0)
    requests.add(5)
    latency.record(1.0)
    inflight.add(3)
    assert telemetry.force_flush(timeout=10)
    first = receiver.metrics()

    for _ in range(2):
        bot.order("filled", side="buy", order_type="limit")
    for value in SECOND_ACK_LATENCIES:
        bot.ack_latency(value, order_type="limit")
        sdk_ack_latency.record(value)
    bot.slippage(-1.0, side="buy", cost=-2.0)
    requests.add(2)
    inflight.add(-1)
    assert telemetry.force_flush(timeout=10)
    second = receiver.metrics()[len(first):]

    assert telemetry.prometheus_url is not None
    scrape = urllib.request.urlopen(telemetry.prometheus_url, timeout=5).read().decode()  # noqa: S310
    return first, second, scrape


def data_of(metrics: list[Any], name: str) -> list[Any]:
    return [getattr(m, m.WhichOneof("data")) for m in metrics if m.name == name]


def values(metrics: list[Any], name: str) -> list[tuple[float, ...]]:
    """(value,) of each sum point; (count, sum, min, max, *bucket counts) of each histogram point."""
    result: list[tuple[float, ...]] = []
    for data in data_of(metrics, name):
        for point in data.data_points:
            if hasattr(point, "bucket_counts"):
                result.append((point.count, round(point.sum, 9), point.min, point.max, *point.bucket_counts))
            else:
                result.append((getattr(point, point.WhichOneof("value")),))
    return result


def temporalities(metrics: list[Any]) -> dict[str, set[int]]:
    """The temporality of every exported sum and histogram, by kind: monotonic / up-down / histogram."""
    kinds: dict[str, set[int]] = {"monotonic": set(), "up-down": set(), "histogram": set()}
    for metric in metrics:
        kind = metric.WhichOneof("data")
        data = getattr(metric, kind)
        if kind == "sum":
            kinds["monotonic" if data.is_monotonic else "up-down"].add(data.aggregation_temporality)
        elif kind in ("histogram", "exponential_histogram"):
            kinds["histogram"].add(data.aggregation_temporality)
    return kinds


def histogram_values(count: int, total: float, low: float, high: float) -> tuple[float, ...]:
    """(count, sum, min, max) of an ack-latency point, its buckets left out."""
    return count, total, low, high


def without_buckets(points: list[tuple[float, ...]]) -> list[tuple[float, ...]]:
    return [point[:4] for point in points]


@pytest.mark.parametrize("preference", ["delta", "DELTA"])
def test_delta_preference_makes_every_counter_and_histogram_delta(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch, preference: str
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", preference)
    first, second, _ = run_two_intervals(receiver)

    assert {*OURS, *SDK, OBSERVED_COUNTER} <= {m.name for m in first}
    for metrics in (first, second):
        kinds = temporalities(metrics)
        assert kinds["monotonic"] == {AGGREGATION_TEMPORALITY_DELTA}
        assert kinds["histogram"] == {AGGREGATION_TEMPORALITY_DELTA}
        assert kinds["up-down"] == {AGGREGATION_TEMPORALITY_CUMULATIVE}  # the SDK exporter's rule, ours too


def test_lowmemory_keeps_observable_counters_cumulative(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "lowmemory")
    first, _, _ = run_two_intervals(receiver)

    by_name = {m.name: getattr(m, m.WhichOneof("data")).aggregation_temporality
               for m in first if m.WhichOneof("data") in ("sum", "histogram")}
    delta = {"trading.orders", "trading.order.ack.latency", "sdk.requests", "sdk.latency"}
    assert {name: by_name[name] for name in delta} == dict.fromkeys(delta, AGGREGATION_TEMPORALITY_DELTA)
    cumulative = {"trading.slippage.cost", "sdk.inflight", OBSERVED_COUNTER}
    assert {name: by_name[name] for name in cumulative} == dict.fromkeys(cumulative, AGGREGATION_TEMPORALITY_CUMULATIVE)


@pytest.mark.parametrize("preference", ["delta", "lowmemory"])
def test_delta_values_are_per_interval_and_prometheus_stays_cumulative(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch, preference: str
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", preference)
    first, second, scrape = run_two_intervals(receiver)

    assert values(first, "trading.orders") == [(3,)]
    assert values(second, "trading.orders") == [(2,)]
    assert without_buckets(values(first, "trading.order.ack.latency")) == [histogram_values(2, 0.6, 0.2, 0.4)]
    # The interval's own extremes, not the running ones.
    assert without_buckets(values(second, "trading.order.ack.latency")) == [histogram_values(1, 0.05, 0.05, 0.05)]
    assert values(first, "trading.slippage.cost") == [(5.0,)]
    assert values(second, "trading.slippage.cost") == [(3.0,)]
    assert values(first, "sdk.requests") == [(5,)] and values(second, "sdk.requests") == [(2,)]
    assert values(first, "sdk.inflight") == [(3,)] and values(second, "sdk.inflight") == [(2,)]
    # A series nothing was recorded into during the interval is not exported, ours as the SDK's.
    assert values(second, "sdk.latency") == []
    assert values(second, "trading.order.fill.latency") == []
    # Each delta point starts where the previous interval of the same series ended.
    (orders_first,) = data_of(first, "trading.orders")[0].data_points
    (orders_second,) = data_of(second, "trading.orders")[0].data_points
    assert orders_second.start_time_unix_nano == orders_first.time_unix_nano

    # The Prometheus endpoint of the same process is cumulative.
    assert prometheus_value(scrape, "trading_orders_total", 'order_status="filled"') == 5
    assert prometheus_value(scrape, "trading_order_ack_latency_seconds_count", "") == 3
    assert prometheus_value(scrape, "sdk_requests_total", "") == 7


def test_cumulative_is_the_default(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", raising=False)
    first, second, scrape = run_two_intervals(receiver)

    for metrics in (first, second):
        kinds = temporalities(metrics)
        assert set().union(*kinds.values()) == {AGGREGATION_TEMPORALITY_CUMULATIVE}
    assert values(first, "trading.orders") == [(3,)] and values(second, "trading.orders") == [(5,)]
    assert without_buckets(values(second, "trading.order.ack.latency")) == [histogram_values(3, 0.65, 0.05, 0.4)]
    assert values(second, "trading.slippage.cost") == [(3.0,)]
    assert values(second, "sdk.requests") == [(7,)]
    assert prometheus_value(scrape, "trading_orders_total", 'order_status="filled"') == 5


def exponential_points(metrics: list[Any], name: str) -> list[tuple[Any, ...]]:
    """(count, sum, min, max, scale, zero count, {index: count} positive, negative) of each point."""

    def nonzero(buckets: Any) -> dict[int, int]:  # the SDK pads its bucket array with zeros
        return {buckets.offset + i: count for i, count in enumerate(buckets.bucket_counts) if count}

    return [(point.count, round(point.sum, 9), point.min, point.max, point.scale, point.zero_count,
             nonzero(point.positive), nonzero(point.negative))
            for data in data_of(metrics, name) for point in data.data_points]


def same_histogram(ours: tuple[Any, ...], sdks: tuple[Any, ...]) -> bool:
    """Equal points, buckets compared at the lower of the two scales: OTel < 1.40 starts a delta
    interval at the scale the previous one ended at, later releases (and we) at scale 20 again."""
    scale = min(ours[4], sdks[4])

    def at_scale(point: tuple[Any, ...]) -> tuple[Any, ...]:
        buckets: list[dict[int, int]] = [{}, {}]
        for merged, exact in zip(buckets, point[6:], strict=True):
            for index, count in exact.items():
                merged[index >> (point[4] - scale)] = merged.get(index >> (point[4] - scale), 0) + count
        return (*point[:4], point[5], *buckets)

    return at_scale(ours) == at_scale(sdks)


@pytest.mark.parametrize("preference", ["cumulative", "delta"])
def test_exponential_histogram_preference_applies_to_our_histograms_as_to_the_sdks(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, preference: str
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION",
                       "base2_exponential_bucket_histogram")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", preference)
    with caplog.at_level(logging.WARNING, logger="otel_trading"):
        first, second, scrape = run_two_intervals(receiver)

    for metrics in (first, second):
        kinds = {m.name: m.WhichOneof("data") for m in metrics}
        assert "histogram" not in kinds.values()
        assert kinds["trading.order.ack.latency"] == kinds["sdk.ack.latency"] == "exponential_histogram"
        assert temporalities(metrics)["histogram"] == {
            AGGREGATION_TEMPORALITY_DELTA if preference == "delta" else AGGREGATION_TEMPORALITY_CUMULATIVE}
    (ours_first,) = exponential_points(first, "trading.order.ack.latency")
    assert ours_first[:4] == (2, 0.6, 0.2, 0.4)
    assert ours_first[4] > 0 and ours_first[6]  # fine buckets, not an empty shell
    assert ours_first == exponential_points(first, "sdk.ack.latency")[0]
    (ours_second,) = exponential_points(second, "trading.order.ack.latency")
    assert ours_second[:4] == ((1, 0.05, 0.05, 0.05) if preference == "delta" else (3, 0.65, 0.05, 0.4))
    assert same_histogram(ours_second, exponential_points(second, "sdk.ack.latency")[0])
    # Our other histograms too, whatever their values (slippage: negative ones too).
    (slippage,) = exponential_points(first, "trading.slippage.bps")
    assert slippage[0] == 1 and sum(slippage[6].values()) + sum(slippage[7].values()) == 1
    # The Prometheus endpoint of the same process keeps explicit buckets; no warning any more.
    assert prometheus_value(scrape, "trading_order_ack_latency_seconds_bucket", 'le="+Inf"') == 3
    assert not [r for r in caplog.records if "exponential" in r.getMessage()]


def prometheus_value(scrape: str, series: str, label: str) -> float:
    for line in scrape.splitlines():
        if line.split("{", 1)[0].split(" ", 1)[0] == series and label in line:
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{series} {label} not in the scrape")


@pytest.mark.parametrize(("variable", "value"), [
    ("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "deltas"),
    ("OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION", "exponential"),
    # The exporter compares this one exactly: these would silently mean explicit buckets.
    ("OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION", "BASE2_EXPONENTIAL_BUCKET_HISTOGRAM"),
    ("OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION", "base2_exponential_bucket_histogram "),
])
def test_a_value_the_exporter_would_replace_by_its_default_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    options = otlp_options("http://127.0.0.1:4317", "grpc", traces_exporter="none", logs_exporter="none")
    with pytest.raises(otel_trading.ConfigurationError, match=rf"^{variable}: expected .*, got {value!r}$"):
        otel_trading.configure(**options)
    # Read by the OTLP metric exporter only: no error when metrics do not go through OTLP.
    otel_trading.configure(**{**options, "metrics_exporter": "none"})
    otel_trading.shutdown(timeout=2)


@pytest.mark.parametrize(("value", "expected"), [
    (" Delta ", AGGREGATION_TEMPORALITY_DELTA), ("LOWMEMORY", AGGREGATION_TEMPORALITY_DELTA),
    ("Cumulative", AGGREGATION_TEMPORALITY_CUMULATIVE),
])
def test_temporality_is_read_in_any_case_as_the_exporter_reads_it(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch, value: str, expected: int
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", value)
    first, _, _ = run_two_intervals(receiver)
    assert {data.aggregation_temporality for data in data_of(first, "trading.orders")} == {expected}
