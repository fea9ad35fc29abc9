"""The public testing helpers users get: capture() and the otel_capture fixture."""

from __future__ import annotations

import otel_trading
from otel_trading import get_logger, span, traced
from otel_trading.testing import TelemetryCapture, capture


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
