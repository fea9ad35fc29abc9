"""Our own log events reach the local store already encoded (no SDK record pair built on the
export thread), and the stored line is byte for byte the one the SDK records give."""

from __future__ import annotations

import datetime as dt
import enum
import json
import sys
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.trace import SpanContext, TraceFlags

import otel_trading
from otel_trading._otel_compat import LogRecordExporter, LogRecordExportResult
from otel_trading.config._configure import configure_with
from otel_trading.export._log_event_encode import log_event_record
from otel_trading.export._otlp_json import logs_to_json_line, message_to_json_line
from otel_trading.export._otlp_json_encode import EncodedLogRecord
from otel_trading.export._otlp_logs import encode_logs
from otel_trading.export._pipeline import NON_ATTRIBUTE_FIELDS, LogMaterializer, PendingLog, log_export_fn
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
        # Values the pass coerces: an enum, a Decimal, a datetime, an object with only a repr.
        PendingLog(7, 13, {"event": "odd values", "level": "warning", "side": Side.BUY, "fee": Decimal("0.25"),
                           "at": dt.datetime(2026, 12, 7, tzinfo=dt.timezone.utc), "thing": Opaque(),
                           "long": "x" * 40}, CONTEXT, ("/bot/main.py", "run", 43)),
        # And what the general route decides: a key that is not text, a field named like an attribute
        # the route sets, a body that is not text, a stdlib record without a function name.
        PendingLog(8, 9, {"event": "keys", "level": "info", 1: "one", "1": "uno"}, CONTEXT, None),  # type: ignore[dict-item]
        PendingLog(9, 9, {"event": "mine", "level": "info", "code.line.number": "mine", "after": 1}, CONTEXT,
                   ("/bot/main.py", "run", 44)),
        PendingLog(10, 9, {"event": Opaque(), "level": "info"}, CONTEXT, None),
        PendingLog(11, 9, {"event": "stdlib", "level": "info"}, CONTEXT, ("<made>", None, 0)),  # type: ignore[arg-type]
    ]


class Side(enum.Enum):
    BUY = "buy"


class Opaque:
    def __repr__(self) -> str:
        return "<opaque>"


@pytest.mark.parametrize("max_length", [None, 8])
def test_an_encoded_record_is_the_line_of_the_sdk_records(max_length: int | None) -> None:
    materialize = LogMaterializer(Resource.create({"service.name": "bot"}), Redactor(), max_length)
    events = _events()
    sdk = [materialize(event) for event in events]
    encoded = materialize.encoded_batch(events)
    assert all(type(record) is EncodedLogRecord for record in encoded)
    line = logs_to_json_line(encoded)
    assert line == logs_to_json_line(sdk)
    assert line == message_to_json_line(encode_logs(sdk))  # and the proto messages' route


def test_common_events_take_the_one_pass_and_odd_ones_the_general_route() -> None:
    taken = [log_event_record(e.time_ns, e.severity_number, e.fields, skip=NON_ATTRIBUTE_FIELDS, code=e.code,
                              span_context=e.span_context, max_length=None) is not None for e in _events()]
    assert taken == [True] * 4 + [False] * 4


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
    events = _events()
    for exporter in (lean, sdk):
        assert log_export_fn(exporter, materialize)(events)
    assert {type(r) for r in lean.batches[0]} == {EncodedLogRecord}
    assert not any(isinstance(r, EncodedLogRecord) for r in sdk.batches[0])
    assert logs_to_json_line(lean.batches[0]) == logs_to_json_line(sdk.batches[0])


def test_runs_of_one_logger_are_encoded_together_and_the_line_is_the_sdk_records() -> None:
    # Our events of one logger in a row are one EncodedLogRecord; an OTel API record between them
    # ends the run; the line is the one the SDK records give, whatever the order.
    materialize = LogMaterializer(Resource.create({"service.name": "bot"}), Redactor(), None)
    events = _events()
    api_record = materialize(events[0])  # an SDK record, as the OTel logs API hands them over
    bot = [PendingLog(n, 9, {"event": f"line {n}", "level": "info", "logger": "bot"}, CONTEXT, None) for n in (1, 2)]
    batch: list[Any] = [*bot, api_record, *bot, *events, *bot]
    encoded = materialize.encoded_batch(batch)
    assert [type(r).__name__ for r in encoded[:3]] == ["EncodedLogRecord", "ReadableLogRecord", "EncodedLogRecord"]
    sdk = [item if not isinstance(item, PendingLog) else materialize(item) for item in batch]
    assert logs_to_json_line(encoded) == logs_to_json_line(sdk) == message_to_json_line(encode_logs(sdk))


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


def _log_twice(log: Any) -> int:
    for _ in range(2):
        log.info("in a loop")  # the same place twice: the same call site
    return sys._getframe().f_lineno - 1


def test_each_stored_line_names_its_own_call_site(store_and_copy: tuple[Path, Recording, Any]) -> None:
    # The call site of the last line is reused while the place is the same (by its line, then by the
    # tuple's identity in the store's encoder): a loop's lines, then another line and another function,
    # then the loop again must each carry their own place.
    store, _copy, telemetry = store_and_copy
    log = otel_trading.get_logger("bot")
    loop_line = _log_twice(log)
    here = sys._getframe().f_lineno + 1
    log.info("elsewhere")
    log.info("the next line")
    _log_twice(log)
    assert telemetry.force_flush(5)
    line = json.loads((store / "logs.jsonl").read_text().splitlines()[0])
    records = line["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
    sites = [{a["key"]: next(iter(a["value"].values())) for a in r["attributes"]} for r in records]
    assert [(s["code.function.name"], int(s["code.line.number"])) for s in sites] == [
        ("_log_twice", loop_line), ("_log_twice", loop_line),
        ("test_each_stored_line_names_its_own_call_site", here),
        ("test_each_stored_line_names_its_own_call_site", here + 1),
        ("_log_twice", loop_line), ("_log_twice", loop_line),
    ]
