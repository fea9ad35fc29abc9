"""The ccxt instrumentor follows OpenTelemetry contrib's contract: the ``tracer_provider`` /
``meter_provider`` passed to ``instrument()``, else the global providers, whether or not
``otel_trading.configure()`` ran, and ``opentelemetry-instrument`` gives ccxt spans whichever
distro and configurator it picks with ``opentelemetry-distro`` installed next to ours.

Real parts: the OpenTelemetry SDK with in-memory exporters and readers, real ccxt classes
against the loopback venue (fake_exchange.py), and ``opentelemetry-instrument`` exporting to a
real loopback OTLP/HTTP receiver (otlp_receiver.py).
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ccxt
import pytest
from fake_exchange import FakeBinance, binance_config
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader, NumberDataPoint
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from otlp_receiver import HttpOtlpReceiver

import otel_trading
from otel_trading.instrumentation._names import EXCHANGE_LATENCY_BUCKETS_SECONDS
from otel_trading.instrumentation.ccxt import CcxtInstrumentor
from otel_trading.testing import capture

pytestmark = pytest.mark.timeout(60)
TESTS = Path(__file__).parent
API_KEY = "CANARY-PROVIDER-API-KEY-2b7e41"
SECRET = "CANARY-PROVIDER-SECRET-9d03aa"


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)
    yield
    otel_trading.shutdown()
    if CcxtInstrumentor().is_instrumented_by_opentelemetry:
        CcxtInstrumentor().uninstrument()


@pytest.fixture
def venue() -> Iterator[FakeBinance]:
    with FakeBinance() as server:
        yield server


class Sdk:
    """A user's own SDK setup: a tracer provider and a meter provider, read in memory."""

    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def points(self) -> dict[str, list[tuple[str, dict[str, Any], Any]]]:
        """metric name -> [(unit, attributes, point)]"""
        found: dict[str, list[tuple[str, dict[str, Any], Any]]] = {}
        data = self.reader.get_metrics_data()
        for resource_metrics in data.resource_metrics if data else ():
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    for point in metric.data.data_points:
                        found.setdefault(metric.name, []).append((metric.unit, dict(point.attributes or {}), point))
        return found


def binance(venue: FakeBinance) -> Any:
    return venue.point(ccxt.binance(binance_config(apiKey=API_KEY, secret=SECRET)))


def _echo_request(received: Any) -> dict[str, Any]:
    # A venue that echoes the signed query and the API key in its error (ccxt puts it in the message).
    return {"code": -1022, "msg": f"Signature for this request is not valid. Request {received.query} "
                                  f"signed with key {API_KEY}"}


def test_providers_given_to_instrument_receive_spans_and_metrics_without_configure(venue: FakeBinance) -> None:
    sdk = Sdk()
    CcxtInstrumentor().instrument(tracer_provider=sdk.tracer_provider, meter_provider=sdk.meter_provider)
    exchange = binance(venue)
    assert exchange.fetch_ticker("BTC/USDT")["last"] == 63120.5
    venue.fail("/api/v3/order", 400, _echo_request)
    with pytest.raises(ccxt.AuthenticationError) as echoed:
        exchange.fetch_order("28", "BTC/USDT")
    assert API_KEY in str(echoed.value) and "signature=" in str(echoed.value)  # the canaries were really there

    ticker, order = sdk.finished()  # fetch_ticker loaded the markets inside its own span
    assert (ticker.name, ticker.kind, order.name) == ("ccxt.fetch_ticker", SpanKind.CLIENT, "ccxt.fetch_order")
    assert ticker.instrumentation_scope is not None and ticker.instrumentation_scope.name == "otel_trading"
    assert ticker.attributes is not None and order.attributes is not None
    assert ticker.attributes["trading.exchange"] == "binance" and ticker.attributes["trading.symbol"] == "BTC/USDT"
    assert ticker.attributes["correlation_id"]
    assert order.attributes["error.type"] == "AuthenticationError" and order.status.status_code is StatusCode.ERROR
    assert order.attributes["trading.order.venue_id"] == "28"
    recorded = json.dumps([json.loads(s.to_json()) for s in sdk.finished()])
    assert "signed with key [REDACTED]" in recorded and "signature=[REDACTED]" in recorded
    assert API_KEY not in recorded and SECRET not in recorded and not re.search(r"signature=(?!\[REDACTED)", recorded)

    points = sdk.points()
    requests = {a["ccxt.method"]: p.value for unit, a, p in points["trading.exchange.requests"] if unit == "{request}"}
    assert requests == {"fetch_ticker": 1, "fetch_order": 1}
    [(unit, attributes, errors)] = points["trading.exchange.errors"]
    assert (unit, errors.value) == ("{error}", 1)
    assert attributes == {
        "trading.exchange": "binance", "ccxt.method": "fetch_order", "error.type": "AuthenticationError",
    }
    durations = points["trading.exchange.request.duration"]
    assert {unit for unit, _, _ in durations} == {"s"}
    assert all(isinstance(p, HistogramDataPoint) for _, _, p in durations)
    assert tuple(durations[0][2].explicit_bounds) == tuple(EXCHANGE_LATENCY_BUCKETS_SECONDS)
    # Exchanges of earlier tests still alive in this process have series of their own ids.
    [(_, limiter, interval)] = [point for point in points["trading.exchange.rate_limit.interval"]
                                if point[1].get("trading.exchange") == "binance"]
    assert limiter == {"trading.exchange": "binance"} and isinstance(interval, NumberDataPoint)
    assert interval.value == 0.0 and exchange.enableRateLimit is False  # binance_config switches the limiter off


def test_providers_given_win_over_a_configuration(venue: FakeBinance) -> None:
    sdk = Sdk()
    with capture(system_metrics=False) as otel:
        CcxtInstrumentor().instrument(tracer_provider=sdk.tracer_provider, meter_provider=sdk.meter_provider)
        binance(venue).fetch_ticker("BTC/USDT")
        # configure(instrument=["ccxt"]) leaves an instrumentor it did not switch on as it is.
        with capture(system_metrics=False, instrument=["ccxt"]) as again:
            binance(venue).fetch_ticker("BTC/USDT")
        assert otel.spans == [] and again.spans == []
        assert "trading.exchange.requests" not in otel.metrics()
    assert [s.name for s in sdk.finished()] == ["ccxt.fetch_ticker", "ccxt.fetch_ticker"]
    [(_, _, requests)] = sdk.points()["trading.exchange.requests"]
    assert requests.value == 2


def test_only_a_tracer_provider_given(venue: FakeBinance) -> None:
    sdk = Sdk()
    with capture(system_metrics=False) as otel:
        CcxtInstrumentor().instrument(tracer_provider=sdk.tracer_provider)
        binance(venue).fetch_ticker("BTC/USDT")
        # The meter provider not given is the global one: here otel-trading's.
        assert otel.value("trading.exchange.requests", **{"ccxt.method": "fetch_ticker"}) == 1
        assert otel.spans == []
    assert [s.name for s in sdk.finished()] == ["ccxt.fetch_ticker"]


def test_the_singleton_keeps_the_providers_of_its_first_instrument(
    venue: FakeBinance, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = Sdk(), Sdk()
    CcxtInstrumentor().instrument(tracer_provider=first.tracer_provider, meter_provider=first.meter_provider)
    with caplog.at_level(logging.WARNING):
        CcxtInstrumentor().instrument(tracer_provider=second.tracer_provider, meter_provider=second.meter_provider)
    assert "already instrumented" in caplog.text
    binance(venue).fetch_ticker("BTC/USDT")
    CcxtInstrumentor().uninstrument()
    CcxtInstrumentor().instrument(tracer_provider=second.tracer_provider, meter_provider=second.meter_provider)
    binance(venue).fetch_ticker("BTC/USDT")
    assert len(first.finished()) == 1 and len(second.finished()) == 1


def test_a_provider_of_the_wrong_kind_is_refused_where_it_is_passed() -> None:
    with pytest.raises(TypeError, match=r"^CcxtInstrumentor\(\)\.instrument\(tracer_provider=\.\.\.\): expected an "
                                        r"opentelemetry\.trace\.TracerProvider .*got MeterProvider$"):
        CcxtInstrumentor().instrument(tracer_provider=MeterProvider())
    with pytest.raises(TypeError, match=r"meter_provider=.*expected an opentelemetry\.metrics.*got str$"):
        CcxtInstrumentor().instrument(meter_provider="http://collector:4317")
    assert not CcxtInstrumentor().is_instrumented_by_opentelemetry


GLOBAL_PROVIDERS = """
import json, sys, timeit
sys.path.insert(0, {tests!r})
import ccxt
from fake_exchange import FakeBinance, binance_config
from opentelemetry import metrics, trace
from test_instrument_any_provider import Sdk
import otel_trading
from otel_trading.instrumentation.ccxt import CcxtInstrumentor
from otel_trading.instrumentation.ccxt._metrics import TRACKER

result = {{}}
with FakeBinance() as venue:
    exchange = venue.point(ccxt.binance(binance_config(apiKey="k" * 16, secret="s" * 16)))
    exchange.load_markets()

    def per_call():
        return min(timeit.repeat(lambda: exchange.load_markets(), number=5000, repeat=5)) / 5000

    baseline = per_call()
    CcxtInstrumentor().instrument()
    # Nothing installed anywhere: nothing recorded, next to no cost.
    result["overhead_without_providers"] = per_call() - baseline
    exchange.fetch_ticker("BTC/USDT")
    result["tracked_without_providers"] = exchange in TRACKER.alive()
    # The application installs its own SDK providers afterwards: they are used from then on.
    sdk = Sdk()
    trace.set_tracer_provider(sdk.tracer_provider)
    metrics.set_meter_provider(sdk.meter_provider)
    exchange.fetch_ticker("BTC/USDT")
    with trace.get_tracer("bot").start_as_current_span("on_tick") as tick:
        exchange.fetch_order_book("BTC/USDT")
    spans = sdk.finished()
    result["global_spans"] = [s.name for s in spans]
    book = spans[1]
    result["nested_under_app_span"] = book.parent is not None and book.parent.span_id == tick.get_span_context().span_id
    result["global_requests"] = sum(p.value for _, _, p in sdk.points()["trading.exchange.requests"])
    # otel-trading configured now: its own pipeline (it leaves the application's globals alone) ...
    telemetry = otel_trading.configure(service_name="bot", traces_exporter="none", metrics_exporter="none",
                                       logs_exporter="none", log_console="off", system_metrics=False)
    exchange.fetch_ticker("BTC/USDT")
    result["configured_to_global"] = len(sdk.finished()) - len(spans)
    # ... and after its shutdown(), nothing: its configuration switched telemetry off.
    otel_trading.shutdown()
    exchange.fetch_ticker("BTC/USDT")
    result["after_shutdown_to_global"] = len(sdk.finished()) - len(spans)
print(json.dumps(result))
"""


def test_global_providers_are_used_when_otel_trading_is_not_configured(tmp_path: Path) -> None:
    # A fresh process: otel-trading never configured, the API's global providers unset at first.
    script = tmp_path / "app.py"
    script.write_text(GLOBAL_PROVIDERS.format(tests=str(TESTS)), encoding="utf-8")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run([sys.executable, str(script)], env=environ, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    # A generous bound for noisy CI machines: measured ~0.2 us.
    assert result["overhead_without_providers"] < 2e-6, result
    assert result["tracked_without_providers"] is False
    assert result["global_spans"] == ["ccxt.fetch_ticker", "ccxt.fetch_order_book", "on_tick"]
    assert result["nested_under_app_span"] is True
    assert result["global_requests"] == 2
    assert result["configured_to_global"] == 0 and result["after_shutdown_to_global"] == 0


# --- opentelemetry-instrument with opentelemetry-distro installed next to ours ---

BOT = """
import gc, sys
sys.path.insert(0, {tests!r})
import ccxt
from fake_exchange import binance_config
from opentelemetry.sdk.trace import TracerProvider
import otel_trading

exchange = ccxt.binance(binance_config(apiKey="k" * 16, secret="s" * 16))
for key, url in list(exchange.urls["api"].items()):
    exchange.urls["api"][key] = {base!r} + "/" + url.split("/", 3)[3]
print(exchange.fetch_ticker("BTC/USDT")["last"])
print("otel-trading configured:", otel_trading.current() is not None)
print("SDK tracer providers:", sum(isinstance(o, TracerProvider) for o in gc.get_objects()))
"""


@pytest.mark.parametrize(("selection", "ours"), [
    ({}, None),  # whichever distro and configurator come first: the installation decides
    ({"OTEL_PYTHON_DISTRO": "distro", "OTEL_PYTHON_CONFIGURATOR": "configurator"}, False),
    ({"OTEL_PYTHON_DISTRO": "otel_trading"}, True),
    ({"OTEL_PYTHON_DISTRO": "distro", "OTEL_PYTHON_CONFIGURATOR": "otel_trading"}, True),
], ids=["first-found", "upstream", "ours", "upstream-distro-our-configurator"])
def test_opentelemetry_instrument_with_opentelemetry_distro_exports_ccxt_spans(
    venue: FakeBinance, tmp_path: Path, selection: dict[str, str], ours: bool | None
) -> None:
    assert importlib.metadata.version("opentelemetry-distro")  # the dev extra installs it next to ours
    script = tmp_path / "momentum_bot.py"
    script.write_text(BOT.format(tests=str(TESTS), base=venue.url), encoding="utf-8")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    with HttpOtlpReceiver() as receiver:
        environ.update({
            "OTEL_SERVICE_NAME": "momentum-bot", "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_METRICS_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none", "OTEL_TRADING_SYSTEM_METRICS": "false",
            **selection,
        })
        command = [str(Path(sys.executable).parent / "opentelemetry-instrument"), sys.executable, script.name]
        done = subprocess.run(command, cwd=tmp_path, env=environ, capture_output=True, text=True, timeout=60,
                              check=False)
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert lines[0] == "63120.5", done.stdout
        # One SDK setup, whichever configured it: no second TracerProvider built beside it.
        assert lines[2] == "SDK tracer providers: 1", (done.stdout, done.stderr)
        if ours is not None:
            assert lines[1] == f"otel-trading configured: {ours}", (done.stdout, done.stderr)
        assert receiver.wait_for(receiver.spans)
        spans = receiver.spans()
    assert [s.name for s in spans] == ["ccxt.fetch_ticker"]
    attributes = {a.key: a.value.string_value for a in spans[0].attributes}
    assert attributes["trading.exchange"] == "binance" and attributes["ccxt.method"] == "fetch_ticker"
    assert {"service.name": "momentum-bot"}.items() <= receiver.resources("traces")[0].items()
