"""The public testing helpers users get: capture() and the otel_capture fixture."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_trading
from otel_trading import alerts, get_logger, health, span, traced
from otel_trading.alerts.channels import ConsoleChannel
from otel_trading.testing import TelemetryCapture, capture, isolated_state


@traced(capture=["symbol"])
def quote(symbol: str) -> float:
    get_logger("q").info("quoted", symbol=symbol)
    return 1.0


def test_fixture_exposes_spans_logs_and_metrics(otel_capture: TelemetryCapture) -> None:
    quote("BTC")
    assert otel_capture.span("quote").attributes["symbol"] == "BTC"
    assert [r.log_record.body for r in otel_capture.logs] == ["quoted"]
    assert otel_capture.value("otel_trading.function.calls") == 1
    otel_capture.clear()
    assert otel_capture.spans == [] and otel_capture.logs == []


def test_capture_is_isolated_and_leaves_nothing_configured() -> None:
    with capture() as first:
        quote("A")
    with capture() as second:
        with span("other"):
            pass
        assert [s.name for s in second.spans] == ["other"]
        assert second.value("otel_trading.function.calls") == 0
    assert [s.name for s in first.spans] == ["quote"]
    assert otel_trading.current() is None


def _quiet_configure() -> otel_trading.Telemetry:
    return otel_trading.configure(traces_exporter="none", metrics_exporter="none", logs_exporter="none",
                                  log_console="off", install_signal_handlers=False, system_metrics=False)


def test_capture_puts_the_previous_configuration_back() -> None:
    telemetry = _quiet_configure()
    exported = InMemorySpanExporter()
    assert telemetry.tracer_provider is not None
    telemetry.tracer_provider.add_span_processor(SimpleSpanProcessor(exported))
    try:
        with capture() as otel:
            assert otel_trading.current() is otel.telemetry
            with span("inside"):
                pass
            otel_trading.configure(log_console="off", install_signal_handlers=False)  # code under test
        assert otel_trading.current() is telemetry
        with span("after"):
            pass
        trace.get_tracer("a.library").start_span("global-after").end()
        assert [s.name for s in exported.get_finished_spans()] == ["after", "global-after"]
    finally:
        otel_trading.shutdown()


def test_capture_isolates_process_state() -> None:
    with isolated_state():
        outside = otel_trading.trade("BTC/USDT", "buy", strategy="outer").start()
        otel_trading.set_trading_state("halted", reason="outer")
        book = otel_trading.Portfolio(cash=1000.0, name="outer-book")
        with capture() as otel:
            assert otel_trading.open_trades() == []
            assert otel_trading.trading_state() is otel_trading.TradingState.ACTIVE
            assert otel.points("trading.trades.open") == []
            assert otel.points("trading.equity") == []
            assert otel.value("trading.state", **{"trading.state": "active"}) == 1
            inside = otel_trading.trade("ETH/USDT", "sell", strategy="inner").start()
            assert otel.value("trading.trades.open", **{"trading.strategy": "inner"}) == 1
        assert otel_trading.open_trades() == [outside]
        assert otel_trading.trading_state() is otel_trading.TradingState.HALTED
        assert not inside.closed  # left as it was, in the capture's own registry
        del book


def _eventually(probe: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        assert time.monotonic() < deadline, f"{what}: still not true after {timeout}s"
        time.sleep(0.01)


def test_capture_isolates_health_checks_and_stops_their_runner() -> None:
    inner_runs: list[float] = []
    with isolated_state():
        health.add_check("outer", lambda: True, interval=0.05)
        with capture():
            assert health.report()["checks"] == {}
            health.add_check("inner", lambda: inner_runs.append(time.monotonic()) is None, interval=0.05)
            _eventually(lambda: health.report()["checks"]["inner"]["status"] == "ok", "inner check ran")
        assert list(health.report()["checks"]) == ["outer"]
        ran = len(inner_runs)
        time.sleep(0.2)  # four intervals: a runner left behind would have run it again
        assert len(inner_runs) == ran
        _eventually(lambda: health.report()["checks"]["outer"]["status"] == "ok", "outer check runs after")


def _alert_threads() -> int:
    return sum(thread.name == "otel-trading-alerts" and thread.is_alive() for thread in threading.enumerate())


def test_capture_isolates_alert_engines_and_stops_its_own() -> None:
    quiet = {"console": ConsoleChannel("console")}
    with isolated_state():
        alerts.start(default_pack=True, channels=quiet, interval=60)
        assert _alert_threads() == 1
        with capture() as otel:
            inner = alerts.start(default_pack=True, channels=quiet, interval=60)
            assert _alert_threads() == 2
            inner.evaluate()
            assert otel.points("otel_trading.alerts.evaluation.duration")
        assert _alert_threads() == 1  # the capture's engine stopped with it; the one from before runs on
        alerts.stop()  # stops the engine started before the capture: it is back in the state in force
        assert _alert_threads() == 0


def test_ambient_otel_environment_is_ignored_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    with capture() as otel:
        quote("BTC")
        assert [s.name for s in otel.spans] == ["quote"]
        assert os.environ["OTEL_SDK_DISABLED"] == "true"  # the user's code still sees its environment
    assert os.environ["OTEL_TRACES_SAMPLER"] == "always_off"
    with capture(ambient_environment=True) as otel:
        quote("BTC")
        assert not otel.telemetry.enabled and otel.spans == []


def _scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    with capture(deterministic=True) as otel:
        with span("tick", symbol="BTC/USDT"):
            quote("BTC")
        quote("ETH")
        return otel.spans_as_dicts(), otel.logs_as_dicts()


def test_deterministic_capture_gives_the_same_snapshot_every_time() -> None:
    spans, logs = _scenario()
    assert (spans, logs) == _scenario()
    quote_btc, tick, quote_eth = spans
    assert [s["name"] for s in spans] == ["quote", "tick", "quote"]
    assert tick["context"] == {"trace_id": 1, "span_id": 1, "is_remote": False}
    assert quote_btc["parent"] == tick["context"] and quote_btc["context"]["span_id"] == 2
    assert quote_eth["context"]["trace_id"] == 2 and quote_eth["parent"] is None
    # An incrementing clock: whole seconds from 1 s, in the order things happened.
    assert tick["start_time"] == 1_000_000_000 < quote_btc["start_time"] < quote_btc["end_time"] < tick["end_time"]
    assert tick["end_time"] < quote_eth["start_time"]
    assert [(log["body"], log["span_id"], log["trace_id"]) for log in logs] == [("quoted", 2, 1), ("quoted", 3, 2)]
    assert quote_btc["attributes"]["symbol"] == "BTC" and quote_btc["status"] == {"code": "UNSET", "description": None}


def test_snapshots_are_plain_data() -> None:
    with capture(system_metrics=False) as otel:
        quote("BTC")
        [record] = otel.logs_as_dicts()
        calls = otel.metrics_as_dict("otel_trading.function.calls")
    assert record["body"] == "quoted" and record["severity_text"] == "INFO" and record["scope"] == "q"
    [(name, metric)] = calls.items()
    assert name == metric["name"] == "otel_trading.function.calls" and metric["unit"] == "{call}"
    assert metric["points"] == [{"attributes": {"code.function.name": f"{__name__}.quote"}, "value": 1}]
    assert json.loads(json.dumps(calls)) == calls


def test_the_pytest_plugin_imports_neither_otel_trading_nor_the_sdk() -> None:
    probe = ("import sys, otel_trading.testing._pytest_plugin; "
             "print(sorted(m for m in sys.modules if m.startswith(('opentelemetry', 'otel_trading.', 'structlog'))))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    loaded = result.stdout.strip()
    assert loaded == str(["otel_trading._lazy", "otel_trading._version", "otel_trading.testing",
                          "otel_trading.testing._pytest_plugin"])
