"""get_logger() and the stdlib bridge: fields, rendering, OTel records linked to spans."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

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


_FIVE_TRADE_BOT = """
import otel_trading

otel_trading.configure(service_name="five-trade-bot")
log = otel_trading.get_logger("bot")
book = otel_trading.Portfolio("paper", cash=10_000.0)
for number in range(5):
    with otel_trading.trade("BTC/USDT", "buy", portfolio=book) as t:
        t.submit_order(0.01, reference_price=50_000.0).fill(0.01, 50_000.0, fee=0.05)
        t.position_opened(0.01, 50_000.0)
        if number == 2:
            t.submit_order(0.01, side="sell").rejected("insufficient_funds")
        t.submit_order(0.01, side="sell").fill(0.01, 50_100.0, fee=0.05)
        t.position_closed(exit_reason="take_profit")
        log.info("trade done", number=number)
"""


@pytest.mark.parametrize("level", ["info", "debug"])
def test_the_sdk_lifecycle_lines_go_to_the_store_not_the_console(level: str, tmp_path: Path) -> None:
    """At info a bot's console has its own lines and the warnings; the SDK's "order filled" and
    "position closed" are in the store, and on the console only at debug."""
    from otel_trading.export import load_store

    (tmp_path / "bot.py").write_text(_FIVE_TRADE_BOT)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env |= {"OTEL_EXPORTER_PROMETHEUS_PORT": "0", "OTEL_TRADING_LOG_LEVEL": level}
    result = subprocess.run([sys.executable, "bot.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    console = [(line["logger"], line["event"]) for line in map(json.loads, result.stderr.splitlines())]
    sdk_info = [("otel_trading.trading", "order filled")] * 10 + [("otel_trading.trading", "position closed")] * 5
    user_and_warnings = [("bot", "trade done")] * 5 + [("otel_trading.trading", "order rejected")]
    assert sorted(console) == sorted(user_and_warnings + (sdk_info if level == "debug" else []))
    stored = Counter(record.body for record in load_store(tmp_path / ".otel-trading").logs)
    assert stored["order filled"] == 10 and stored["position closed"] == 5 and stored["trade done"] == 5
    assert stored["order rejected"] == 1
