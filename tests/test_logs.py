"""get_logger() and the stdlib bridge: fields, rendering, OTel records linked to spans."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from otel_trading import get_logger, span
from otel_trading.logs._processors import CONSOLE
from otel_trading.testing import TelemetryCapture, capture


class Lines:
    def __init__(self) -> None:
        self.text: list[str] = []

    def write(self, text: str) -> None:
        self.text.append(text)

    def flush(self) -> None:
        pass

    def json(self) -> list[dict]:
        return [json.loads(line) for line in "".join(self.text).splitlines()]


@pytest.fixture
def console() -> Iterator[Lines]:
    lines = Lines()
    CONSOLE.stream = lines  # type: ignore[assignment]
    try:
        yield lines
    finally:
        CONSOLE.stream = None


def test_json_line_fields_and_otel_record_linkage(console: Lines) -> None:
    with capture(log_console="json") as otel:
        log = get_logger("strategy", bot="alpha")
        with span("decide") as s:
            log.info("signal", symbol="BTC/USDT", confidence=0.8)
        record = otel.logs[0]
        span_context = s.get_span_context()
    [event] = console.json()
    assert event["event"] == "signal" and event["level"] == "info" and event["logger"] == "strategy"
    assert event["bot"] == "alpha" and event["symbol"] == "BTC/USDT" and event["confidence"] == 0.8
    assert event["timestamp"].endswith("Z")
    assert event["trace_id"] == format(span_context.trace_id, "032x")
    assert event["span_id"] == format(span_context.span_id, "016x")
    assert event["correlation_id"]
    otel_record = record.log_record
    assert otel_record.body == "signal"
    assert otel_record.trace_id == span_context.trace_id and otel_record.span_id == span_context.span_id
    assert otel_record.severity_text == "INFO" and otel_record.severity_number.value == 9
    assert otel_record.attributes["correlation_id"] == event["correlation_id"]
    assert otel_record.attributes["symbol"] == "BTC/USDT"
    assert record.instrumentation_scope.name == "strategy"


def test_stdlib_records_get_the_same_enrichment(console: Lines) -> None:
    with capture(log_console="json") as otel:
        with span("fetch"):
            logging.getLogger("ccxt.binance").warning("rate limited on %s", "fetch_ticker", extra={"retry": 2})
        [record] = [r for r in otel.logs if r.instrumentation_scope.name == "ccxt.binance"]
    [event] = [e for e in console.json() if e["logger"] == "ccxt.binance"]
    assert event["event"] == "rate limited on fetch_ticker" and event["level"] == "warning"
    assert event["retry"] == 2 and "trace_id" in event and "correlation_id" in event
    assert record.log_record.severity_number.value == 13
    assert record.log_record.trace_id != 0


def test_exceptions_are_logged_with_type_and_stacktrace(console: Lines) -> None:
    with capture(log_console="json") as otel:
        log = get_logger("exec")
        try:
            raise TimeoutError("exchange did not answer")
        except TimeoutError:
            log.exception("order failed")
        record = otel.logs[0].log_record
    [event] = console.json()
    assert event["level"] == "error" and event["exception.type"] == "TimeoutError"
    assert "exchange did not answer" in event["exception"]
    assert "TimeoutError" in record.attributes["exception.stacktrace"]
    assert record.severity_number.value == 17


def test_level_filter_and_console_off(console: Lines) -> None:
    with capture(log_console="json", log_level="warning") as otel:
        log = get_logger("x")
        log.info("dropped")
        log.warning("kept")
        assert [r.log_record.body for r in otel.logs] == ["kept"]
    assert [e["event"] for e in console.json()] == ["kept"]
    console.text.clear()
    with capture(log_console="off") as otel:
        get_logger("x").info("only exported")
        assert [r.log_record.body for r in otel.logs] == ["only exported"]
    assert console.text == []


def test_pretty_console(console: Lines) -> None:
    with capture(log_console="pretty"):
        get_logger("ui").info("order placed", symbol="ETH/USDT")
    text = "".join(console.text)
    assert "order placed" in text and "symbol" in text and "ETH/USDT" in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


def test_internal_loggers_are_not_exported_back(otel_capture: TelemetryCapture) -> None:
    logging.getLogger("opentelemetry.exporter.otlp").warning("Failed to export batch")
    logging.getLogger("otel_trading.export").warning("dropped")
    assert otel_capture.logs == []
