"""The local store: OTLP/JSON lines that parse back, rotation, total bound, damaged files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import otel_trading
from otel_trading import get_logger, span
from otel_trading.export import read_store, store_files


def configure_store(tmp_path: Path, **options: object) -> otel_trading.Telemetry:
    return otel_trading.configure(  # type: ignore[misc]
        store_dir=tmp_path, metrics_exporter="none", log_console="off", install_signal_handlers=False,
        **options,
    )


def test_traces_and_logs_parse_back_as_otlp(tmp_path: Path) -> None:
    telemetry = configure_store(tmp_path, service_name="store-bot")
    log = get_logger("strategy")
    with span("trade", symbol="BTC/USDT") as s:
        log.info("filled", qty=1)
    assert telemetry.shutdown()

    [traces] = list(read_store(tmp_path, "traces"))
    assert traces.error is None
    [span_pb] = [sp for rs in traces.request.resource_spans for ss in rs.scope_spans for sp in ss.spans]
    assert span_pb.name == "trade"
    assert span_pb.trace_id.hex() == format(s.get_span_context().trace_id, "032x")
    [logs] = list(read_store(tmp_path, "logs"))
    [record] = [r for rl in logs.request.resource_logs for sl in rl.scope_logs for r in sl.log_records]
    assert record.body.string_value == "filled"
    assert record.trace_id == span_pb.trace_id and record.span_id == span_pb.span_id

    # The on-disk form is OTLP/JSON: hex ids, camelCase keys - what otlp_json_file reads.
    line = json.loads((tmp_path / "traces.jsonl").read_text().splitlines()[0])
    json_span = line["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert json_span["traceId"] == span_pb.trace_id.hex() and len(json_span["spanId"]) == 16
    assert isinstance(json_span["kind"], int)


def test_rotation_keeps_the_total_bounded(tmp_path: Path) -> None:
    telemetry = configure_store(tmp_path, store_max_file_bytes=4096, store_max_total_bytes=16384,
                                max_export_batch_size=1, logs_exporter="none")
    for i in range(200):
        with span("tick", index=i, padding="x" * 200):
            pass
        if i % 20 == 0:
            telemetry.force_flush()
    assert telemetry.shutdown()
    files = store_files(tmp_path, "traces")
    assert len(files) >= 2
    assert sum(f.stat().st_size for f in files) <= 16384 + 4096
    names = [sp.name for rec in read_store(tmp_path, "traces") if rec.request
             for rs in rec.request.resource_spans for ss in rs.scope_spans for sp in ss.spans]
    assert names and set(names) == {"tick"}
    assert len(names) < 200  # the oldest rotated files were deleted


def test_damaged_lines_are_reported_with_file_and_line(tmp_path: Path) -> None:
    telemetry = configure_store(tmp_path)
    with span("good"):
        pass
    telemetry.shutdown()
    live = tmp_path / "traces.jsonl"
    good_line = live.read_text()
    rotated = tmp_path / "traces-20260101T000000000000.jsonl"
    rotated.write_text('{"resourceSpans": 5}\nnot json\n' + good_line)
    live.write_text(good_line + '{"resourceSpans":[{"scopeSp')  # a write in progress

    records = list(read_store(tmp_path, "traces"))
    errors = [r.error for r in records if r.error]
    assert len(errors) == 2
    assert errors[0].startswith(f"{rotated}:1: not an OTLP/JSON record: resourceSpans: wrong type or value")
    assert errors[1].startswith(f"{rotated}:2:")
    assert sum(1 for r in records if r.request is not None) == 2  # the partial last line is skipped


def test_each_batch_is_one_line_with_and_without_writev(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The newline goes beside the encoded batch (writev), or after it where there is no writev (Windows)."""
    from otel_trading.export import _local_store

    lines = iter(['{"batch":1,"text":"é"}', '{"batch":2}'])
    writer: _local_store.LocalStoreWriter[int] = _local_store.LocalStoreWriter(
        tmp_path, "traces", lambda _batch: next(lines))
    writer.export([1])
    monkeypatch.setattr(_local_store, "_WRITEV", None)
    writer.export([2])
    assert writer.path.read_bytes() == '{"batch":1,"text":"é"}\n{"batch":2}\n'.encode()
