"""Our own log events reach the local store as lean records (no SDK record pair built on the
export thread), and the stored line is byte for byte the one the SDK records give."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.trace import SpanContext, TraceFlags

import otel_trading
from otel_trading._otel_compat import LogRecordExporter, LogRecordExportResult
from otel_trading.config._configure import configure_with
from otel_trading.export._otlp_json import logs_to_json_line, message_to_json_line
from otel_trading.export._otlp_logs import encode_logs
from otel_trading.export._pipeline import LeanLogRecord, LogMaterializer, PendingLog, log_export_fn
from otel_trading.redaction import Redactor

CONTEXT = SpanContext(0x0123456789ABCDEF0123456789ABCDEF, 0x0123456789ABCDEF, False, TraceFlags(1))


def _events() -> list[PendingLog]:
    """Events as the structlog chain queues them: every kind of field value, with and without a span."""
    return [
        PendingLog(1_700_000_000_000_000_001, 9, {
            "event": "order placed", "level": "info", "logger": "bot", "timestamp": "2026-12-07T00:00:00Z",
            "trace_id": "x", "span_id": "y", "symbol": "BTC/USDT", "qty": 1, "price": 64_000.5, "ok": True,
            "ids": (1, 2), "nested": {"k": [1, "two"]}, "wide": 2**70, "nan": float("nan"), "none": None,
            "text": "é \u2028 \"quoted\"",
        }, CONTEXT, ("/bot/main.py", "run", 42)),
        PendingLog(5, 17, {"event": "boom", "level": "error", "exception": "Traceback ...\nValueError: x"},
                   SpanContext(0, 0, False), None),
        PendingLog(6, 5, {"event": "", "level": "debug", "logger": "otel_trading.trading"}, CONTEXT, None),
    ]


@pytest.mark.parametrize("max_length", [None, 8])
def test_a_lean_record_encodes_to_the_line_of_the_sdk_records(max_length: int | None) -> None:
    materialize = LogMaterializer(Resource.create({"service.name": "bot"}), Redactor(), max_length)
    events = _events()
    sdk = [materialize(event) for event in events]
    lean = [materialize.lean(event) for event in events]
    assert all(type(record) is LeanLogRecord for record in lean)
    line = logs_to_json_line(lean)  # type: ignore[arg-type]  # read as a ReadableLogRecord
    assert line == logs_to_json_line(sdk)
    assert line == message_to_json_line(encode_logs(sdk))  # and the proto messages' route


class Recording(LogRecordExporter):
    def __init__(self, lean: bool) -> None:
        self.accepts_lean_logs = lean
        self.batches: list[list[Any]] = []

    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
        self.batches.append(list(batch))
        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        """Nothing held."""

    def force_flush(self, timeout_millis: int = 30_000) -> bool:  # noqa: ARG002 - the SDK's interface
        return True


def test_only_an_exporter_that_accepts_lean_records_gets_them() -> None:
    materialize = LogMaterializer(Resource.create({}), Redactor(), None)
    lean, sdk = Recording(lean=True), Recording(lean=False)
    for exporter in (lean, sdk):
        assert log_export_fn(exporter, materialize)(_events())
    assert [type(r) for r in lean.batches[0]] == [LeanLogRecord] * 3
    assert not any(isinstance(r, LeanLogRecord) for r in sdk.batches[0])


@pytest.fixture
def store_and_copy(without_ambient_otel: None, tmp_path: Path) -> Iterator[tuple[Path, Recording, Any]]:
    copy = Recording(lean=False)
    telemetry = configure_with({"service_name": "bot", "traces_exporter": "none", "metrics_exporter": "none",
                                "logs_exporter": "local", "store_dir": str(tmp_path), "log_console": "off",
                                "install_signal_handlers": False, "schedule_delay": 3600,
                                "max_export_batch_size": 10_000},
                               extra_log_exporters=[copy])
    yield tmp_path, copy, telemetry
    telemetry.shutdown()


def test_the_stored_line_is_the_one_the_sdk_records_of_the_same_events_give(
        store_and_copy: tuple[Path, Recording, Any]) -> None:
    store, copy, telemetry = store_and_copy
    log = otel_trading.get_logger("bot")
    with otel_trading.span("trade"):
        log.info("order placed", symbol="BTC/USDT", qty=1, price=64_000.5, tags=["a", "b"], wide=2**70)
        try:
            raise ValueError("rejected")
        except ValueError:
            log.exception("order failed", reason="insufficient funds")
    log.warning("outside a span", api_key="sk-live-0123456789abcdef")
    assert telemetry.force_flush(5)
    lines = (store / "logs.jsonl").read_text().splitlines()
    assert len(lines) == 1 and len(copy.batches) == 1 and len(copy.batches[0]) == 3
    assert lines[0] == logs_to_json_line(copy.batches[0])
    assert "sk-live-0123456789abcdef" not in lines[0]
