"""The ``local`` metrics exporter: OTLP/JSON metric lines in the store (real SDK, real files)."""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from canary import CANARY, canaries_in, scrape
from google.protobuf import json_format
from opentelemetry import metrics, trace
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider

import otel_trading
from otel_trading.config._settings import resolve_settings
from otel_trading.export._local_store import LocalStoreWriter, store_files
from otel_trading.export._metric_store import LocalMetricExporter, metrics_to_json_line
from otel_trading.export._otlp_json import _hex_to_b64, _walk_ids
from otel_trading.metrics._names import TELEMETRY_DROPPED, TELEMETRY_EXPORTED


def _request(line: str) -> ExportMetricsServiceRequest:
    """A stored line parsed back with protobuf's own JSON parser (ids from OTLP/JSON hex)."""
    document = json.loads(line)
    _walk_ids(document, _hex_to_b64)
    return json_format.ParseDict(document, ExportMetricsServiceRequest())


def _lines(store: Path) -> list[str]:
    return [line for path in store_files(store, "metrics") for line in path.read_text().splitlines()]


def _metrics(line: str) -> dict[str, dict[str, Any]]:
    document = json.loads(line)
    return {m["name"]: m for rm in document["resourceMetrics"] for sm in rm["scopeMetrics"] for m in sm["metrics"]}


@pytest.fixture
def store(configures_in_tmp: None, tmp_path: Path) -> Path:
    return tmp_path / "store"


def _configure(store: Path, **options: Any) -> otel_trading.Telemetry:
    return otel_trading.configure(store_dir=store, log_console="off", install_signal_handlers=False,
                                  system_metrics=False, prometheus_port=0, **options)


def test_a_line_decodes_back_to_the_points_collected(tmp_path: Path) -> None:
    reader = InMemoryMetricReader()
    tracer = TracerProvider().get_tracer("t")
    meter = MeterProvider(metric_readers=[reader]).get_meter("user.meter")
    meter.create_counter("user.orders", "{order}").add(3, {"venue": "binance"})
    with tracer.start_as_current_span("tick") as span:  # an exemplar that names this span
        meter.create_histogram("user.latency", "s").record(0.25, {"venue": "binance"})
    meter.create_gauge("user.equity").set(1234.5)
    data = reader.get_metrics_data()
    assert data is not None
    line = metrics_to_json_line([data])

    assert "\n" not in line
    assert _request(line) == encode_metrics(data)
    ids = span.get_span_context()
    assert f'"traceId":"{ids.trace_id:032x}"' in line and f'"spanId":"{ids.span_id:016x}"' in line  # hex, as OTLP/JSON


def test_configure_writes_our_and_the_users_metrics_cumulative_into_the_store(store: Path) -> None:
    telemetry = _configure(store)
    assert telemetry.settings.exporters["metrics"] == ("prometheus", "local")
    assert telemetry.store_dir == store
    user = metrics.get_meter("my.bot").create_counter("my.bot.signals", "{signal}", "Signals seen")
    user.add(2, {"strategy": "momentum"})
    with otel_trading.span("work"):
        pass
    assert telemetry.force_flush()
    user.add(5, {"strategy": "momentum"})
    assert telemetry.shutdown()

    lines = _lines(store)
    assert len(lines) >= 2
    last = _metrics(lines[-1])
    mine = last["my.bot.signals"]
    assert mine["unit"] == "{signal}" and mine["description"] == "Signals seen"
    assert mine["sum"]["aggregationTemporality"] == 2 and mine["sum"]["isMonotonic"]  # cumulative
    [point] = mine["sum"]["dataPoints"]
    assert point["asInt"] == "7"  # the running total, not the last interval's 5
    assert point["attributes"] == [{"key": "strategy", "value": {"stringValue": "momentum"}}]
    assert "trading.state" in last and TELEMETRY_EXPORTED in last  # our own metrics, same line
    resource = json.loads(lines[-1])["resourceMetrics"][0]["resource"]
    assert {"key": "service.name", "value": {"stringValue": telemetry.settings.service_name}} in \
        resource["attributes"]
    for line in lines:
        _request(line)  # every line is a valid ExportMetricsServiceRequest


def test_the_store_keeps_metrics_only_by_default_and_only_when_it_is_in_use() -> None:
    assert resolve_settings({}, {}).exporters["metrics"] == ("prometheus", "local")
    assert resolve_settings({"metrics_exporter": "prometheus"}, {}).exporters["metrics"] == ("prometheus",)
    assert resolve_settings({}, {"OTEL_METRICS_EXPORTER": "prometheus"}).exporters["metrics"] == ("prometheus",)
    assert resolve_settings({"metrics_exporter": "local"}, {}).exporters["metrics"] == ("local",)
    no_store = resolve_settings({"traces_exporter": "none", "logs_exporter": "console"}, {})
    assert no_store.exporters["metrics"] == ("prometheus",)
    with_collector = resolve_settings({"otlp_endpoint": "http://127.0.0.1:4317"}, {})
    assert with_collector.exporters["metrics"] == ("otlp",)  # the store is not in use either


def test_files_rotate_and_stay_within_the_total_bound(store: Path) -> None:
    max_file, max_total = 32768, 131072
    telemetry = _configure(store, store_max_file_bytes=max_file, store_max_total_bytes=max_total,
                           metrics_exporter="local")
    counter = metrics.get_meter("my.bot").create_counter("my.bot.ticks")
    for i in range(60):
        counter.add(1, {"symbol": f"S{i}"})  # lines grow with the series
        assert telemetry.force_flush()
    assert telemetry.shutdown()

    rotated = sorted(store.glob("metrics-*.jsonl"))
    assert rotated, "nothing rotated"
    files = store_files(store, "metrics")
    assert sum(path.stat().st_size for path in files) <= max_total + max(len(line) + 1 for line in _lines(store))
    last = _metrics(_lines(store)[-1])["my.bot.ticks"]
    assert len(last["sum"]["dataPoints"]) == 60  # the newest line is kept whole


def test_a_write_that_fails_is_counted_as_dropped_and_not_raised(store: Path) -> None:
    telemetry = _configure(store, metrics_exporter="local")
    metrics.get_meter("my.bot").create_counter("my.bot.ticks").add(1)
    assert telemetry.force_flush()
    for path in store.iterdir():
        path.unlink()
    store.rmdir()
    store.write_text("a file where the store directory was")  # every write now fails (also as root)
    telemetry.force_flush()  # nothing raised (the SDK's reader does not pass the failure on: hence the count)

    data = telemetry.metrics_reader.get_metrics_data()
    assert data is not None
    points = {(m.name, tuple(sorted(p.attributes.items()))): p.value
              for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
              for p in m.data.data_points if m.name in (TELEMETRY_DROPPED, TELEMETRY_EXPORTED)}
    key = (("exporter", "local"), ("signal", "metrics"))
    assert points[(TELEMETRY_EXPORTED, key)] > 0
    assert points[(TELEMETRY_DROPPED, tuple(sorted((*key, ("reason", "export_failed")))))] > 0
    telemetry.shutdown()


def test_the_exporter_never_raises_whatever_the_writer_does(tmp_path: Path) -> None:
    def broken(_: object) -> str:
        raise RuntimeError("encoder bug")

    exporter = LocalMetricExporter(LocalStoreWriter(tmp_path, "metrics", broken))
    reader = InMemoryMetricReader()
    MeterProvider(metric_readers=[reader]).get_meter("m").create_counter("c").add(1)
    data = reader.get_metrics_data()
    assert data is not None
    assert exporter.export(data).name == "FAILURE"


def test_secret_labels_never_reach_the_metric_lines(store: Path) -> None:
    secret = f"{CANARY}-metric-label"
    telemetry = _configure(store, secrets=[secret], metrics_exporter="prometheus,local")
    # The application's own SDK instruments as well as ours.
    metrics.get_meter("my.bot").create_counter("my.bot.calls").add(1, {"api_key": secret, "note": f"k={secret}"})
    metrics.get_meter("my.bot").create_histogram("my.bot.latency").record(1.0, {"token": secret})
    from otel_trading.trading import TradingMetrics

    TradingMetrics("BTC/USDT", strategy=secret).order("submitted", side="buy", order_type="market")
    assert telemetry.prometheus_url is not None
    scraped = scrape(telemetry.prometheus_url)
    assert telemetry.shutdown()
    lines = _lines(store)
    assert lines and "my.bot.calls" in lines[-1] and "trading.orders" in lines[-1]
    assert "[REDACTED]" in lines[-1]
    assert canaries_in("\n".join(lines)) == set()
    assert "my_bot_calls_total" in scraped and canaries_in(scraped) == set()  # the same scrub serves /metrics


def _exemplar_attributes(line: str) -> list[dict[str, Any]]:
    """The filtered attributes of every exemplar in a stored line, as plain key/value dicts."""
    found = []
    for metric in _metrics(line).values():
        for kind in ("sum", "gauge", "histogram", "exponentialHistogram"):
            for point in metric.get(kind, {}).get("dataPoints", []):
                found += [{a["key"]: next(iter(a["value"].values())) for a in exemplar.get("filteredAttributes", [])}
                          for exemplar in point.get("exemplars", [])]
    return found


def test_secret_measurement_attributes_in_exemplars_never_reach_the_metric_lines(store: Path) -> None:
    """Past an instrument's cardinality limit the SDK puts a measurement in its overflow series
    and keeps all its attributes on the exemplar (filtered_attributes), beside the span it was
    made in: those are scrubbed like the labels."""
    secret = f"{CANARY}-exemplar"
    telemetry = _configure(store, secrets=[secret], metrics_exporter="local")
    meter = metrics.get_meter("my.bot")
    counter, histogram = meter.create_counter("my.bot.calls"), meter.create_histogram("my.bot.latency")
    for i in range(2000):  # the SDK's default cardinality limit
        counter.add(1, {"i": i})
        histogram.record(1.0, {"i": i})
    with trace.get_tracer("my.bot").start_as_current_span("tick"):  # exemplars are kept in sampled spans
        counter.add(1, {"api_key": secret, "note": f"k={secret}"})
        histogram.record(2.0, {"token": secret})
    assert telemetry.shutdown()
    lines = _lines(store)
    exemplars = [attributes for line in lines for attributes in _exemplar_attributes(line)]
    assert canaries_in("\n".join(lines)) == set()
    # OTel 1.39 keeps no attributes on an overflow exemplar (nothing to scrub); the releases we
    # test at the newest end keep them all, and there they must arrive scrubbed.
    if _sdk_version() >= (1, 45):
        assert {"api_key": "[REDACTED]", "note": "k=[REDACTED]"} in exemplars, exemplars
        assert {"token": "[REDACTED]"} in exemplars, exemplars


def _sdk_version() -> tuple[int, ...]:
    return tuple(int(part) for part in version("opentelemetry-sdk").split(".")[:2])
