"""The reading commands on hostile stores: a multi-megabyte name or value, NUL bytes, records that
are JSON but not OTLP. Every view stays bounded in width, time and memory, and says what is wrong
in its own words (file:line and a short reason), never a library's."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from cli_runner import run_cli

from otel_trading.export import StoreFollower, read_store

HUGE = 3_000_000
# The widest line a view may print for these stores: generous, but far below one huge field.
MAX_LINE = 3_000


def _rewrite(path: Path, change: Any, *, lines: int | None = None) -> None:
    """Applies ``change`` to the documents of the first ``lines`` lines (None: all) of ``path``."""
    documents = [json.loads(line) for line in path.read_text().splitlines()]
    for document in documents[:lines]:
        change(document)
    path.write_text("".join(json.dumps(document) + "\n" for document in documents))


def _attribute(key: str, value: str) -> dict[str, Any]:
    return {"key": key, "value": {"stringValue": value}}


@pytest.fixture(scope="module")
def huge_store(demo_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's store with one span name, one attribute, one log body, one logger name and one log
    attribute of several megabytes each, on the first trade and the first log record, and symbols
    and strategies of 100 000 characters."""
    directory = tmp_path_factory.mktemp("huge") / "store"
    shutil.copytree(demo_store, directory)

    def spans(document: dict[str, Any]) -> None:
        trades = [span for resource_spans in document["resourceSpans"] for scope_spans in resource_spans["scopeSpans"]
                  for span in scope_spans["spans"] if span["name"] == "trade"]
        for span in trades:  # their symbol and strategy: cells of the report's tables
            for pair in span["attributes"]:
                if pair["key"] in ("trading.symbol", "trading.strategy"):
                    pair["value"] = {"stringValue": pair["key"][8].upper() * (HUGE // 30)}
        if trades and not renamed:  # no longer a trade for the report: a root span for the list
            renamed.append(trades[0]["name"])
            trades[0]["name"] = "N" * HUGE
            trades[0]["attributes"].append(_attribute("huge.value", "V" * HUGE))

    renamed: list[str] = []
    def logs(document: dict[str, Any]) -> None:
        record = document["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]
        record["body"] = {"stringValue": "B" * HUGE}
        record["attributes"].append(_attribute("huge.field", "F " * (HUGE // 2)))
        document["resourceLogs"][0]["scopeLogs"][0]["scope"]["name"] = "L" * HUGE

    _rewrite(directory / "traces.jsonl", spans)
    _rewrite(directory / "logs.jsonl", logs, lines=1)
    return directory


def _bounded(result: subprocess.CompletedProcess[str], started: float, *, cut: bool = True) -> None:
    assert result.returncode == 0, result.stderr[-2000:]
    assert time.monotonic() - started < 30
    widest = max(len(line) for line in result.stdout.splitlines())
    assert widest <= MAX_LINE, widest
    assert "..." in result.stdout or not cut  # the cut is marked


def _huge_trace(store: Path) -> str:
    listed = run_cli("traces", "--store", str(store), "--json", "--limit", "0")
    [trace] = [trace for trace in map(json.loads, listed.stdout.splitlines()) if trace["root"] == "N" * HUGE]
    assert trace["symbol"] == "S" * (HUGE // 30)  # --json keeps every value whole
    return str(trace["trace_id"])


def test_a_huge_name_or_value_does_not_widen_any_view(huge_store: Path) -> None:
    for args in (("traces", "--limit", "0"), ("traces", _huge_trace(huge_store)),
                 ("traces", _huge_trace(huge_store), "--attributes"), ("logs", "--limit", "0"),
                 ("report",), ("report", "--format", "markdown"), ("traces", "--runs")):
        started = time.monotonic()
        _bounded(run_cli(*args, "--store", str(huge_store)), started, cut="--runs" not in args)


def test_the_list_rows_stay_narrow_next_to_a_huge_root_name(huge_store: Path) -> None:
    result = run_cli("traces", "--store", str(huge_store), "--limit", "0")
    _header, *rows = result.stdout.splitlines()
    assert len(rows) > 20
    # The other rows are no wider than the cut cells: nowhere near the size of the huge ones.
    assert max(len(row) for row in rows if "NNNN" not in row) < 400
    huge_row = next(row for row in rows if "NNNN" in row)
    assert "NNNN..." in huge_row and "SSSS..." in huge_row


def test_control_characters_in_records_cannot_drive_the_terminal(demo_store: Path, tmp_path: Path) -> None:
    """A name, message or value with escape sequences or newlines (an exchange's error text, say) is
    printed escaped: it can neither clear, recolour or retitle the terminal nor fake another line."""
    store = tmp_path / "store"
    shutil.copytree(demo_store, store)
    evil = "evil\x1b]0;pwned\x07\x1b[2J\nOTHER LINE\x9b"

    def spans(document: dict[str, Any]) -> None:
        span = document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
        span["name"] = evil
        span["status"] = {"code": 2, "message": evil}
        span["attributes"].append(_attribute("trading.symbol", evil))

    def logs(document: dict[str, Any]) -> None:
        record = document["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]
        record["body"] = {"stringValue": evil}
        record["attributes"].append(_attribute("reason", evil))
        record["attributes"].append(_attribute("plain", "no-space" + evil.replace(" ", "")))

    _rewrite(store / "traces.jsonl", spans, lines=1)
    _rewrite(store / "logs.jsonl", logs, lines=1)
    listed = run_cli("traces", "--store", str(store), "--json", "--limit", "0")
    [trace] = [t for t in map(json.loads, listed.stdout.splitlines()) if t["root"] == evil]
    trace_id = str(trace["trace_id"])
    shown = [run_cli(*args, "--store", str(store)) for args in (
        ("traces", "--limit", "0"), ("traces", trace_id), ("traces", trace_id, "--attributes"),
        ("logs", "--limit", "0"), ("report",))]
    for result in shown:
        assert result.returncode == 0, result.stderr
        assert not any(c in result.stdout for c in "\x1b\x07\x9b"), result.args
        assert "\nOTHER LINE" not in result.stdout and "evil\\x1b]0;pwned\\x07" in result.stdout, result.args
    pretty = shown[3].stdout.splitlines()
    assert len([line for line in pretty if not line.startswith("    ")]) == len(
        run_cli("logs", "--store", str(store), "--limit", "0", "--format", "json").stdout.splitlines())


# -- NUL bytes and garbage ---------------------------------------------------------------------


def test_a_store_of_nul_bytes_is_unreadable_not_empty(tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    (store / "traces.jsonl").write_bytes(b"\x00" * 8192)  # a crash left the preallocated file unwritten
    (store / "logs.jsonl").write_bytes(b"\x00" * 100 + b"\n" + b"\x00" * 50)
    doctor = run_cli("doctor", "--store", str(store), "--json", cwd=tmp_path, OTEL_METRICS_EXPORTER="none")
    document = json.loads(doctor.stdout)
    assert doctor.returncode == 1 and document["failed"] == ["store integrity"]
    [integrity] = [c for c in document["checks"] if c["name"] == "store integrity"]
    assert integrity["data"]["unreadable"] == 3
    assert integrity["summary"] == "3 unreadable lines: traces.jsonl:1, logs.jsonl:1, logs.jsonl:2"
    assert all("binary data (NUL bytes)" in detail for detail in integrity["details"])

    records = [r for signal in ("traces", "logs") for r in read_store(store, signal)]  # type: ignore[arg-type]
    assert [(r.path.name, r.line) for r in records] == [("traces.jsonl", 1), ("logs.jsonl", 1), ("logs.jsonl", 2)]
    assert all(r.request is None and r.error and r.error.endswith(
        "not an OTLP/JSON record: binary data (NUL bytes)") for r in records)
    follower = StoreFollower(store, "traces")
    assert follower.poll().problems == [f"{store / 'traces.jsonl'}:1: not an OTLP/JSON record: binary data "
                                        "(NUL bytes)"]
    assert follower.poll().problems == []  # reported once

    listed = run_cli("traces", "--store", str(store))
    assert listed.returncode == 1
    assert f"skipped {store / 'traces.jsonl'}:1: not an OTLP/JSON record: binary data (NUL bytes)" in listed.stderr

    # Other garbage with no newline: a write in progress always starts a JSON object.
    (store / "traces.jsonl").write_bytes(b"\x89PNG\r\x1a\xff\xfe")
    [record] = read_store(store, "traces")
    assert record.line == 1 and record.error is not None and "not an OTLP/JSON record: not JSON" in record.error
    assert StoreFollower(store, "traces").poll().problems == [record.error]


@pytest.mark.parametrize(("line", "reason"), [
    ("[1, 2]", "a JSON array, not an object with resourceSpans"),
    ('{"resourceLogs": []}', 'unknown field "resourceLogs"'),
    ('{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": 5}]}]}]}',
     "resourceSpans.scopeSpans.spans.name: wrong type or value"),
    ('{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}', "traceId: not hex"),
    ("{not json", "not JSON (Expecting property name enclosed in double quotes at column 2)"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
])
def test_damaged_records_are_named_in_our_words(tmp_path: Path, line: str, reason: str) -> None:
    store = tmp_path / "store"
    store.mkdir()
    (store / "traces.jsonl").write_text(line + "\n")
    result = run_cli("traces", "--store", str(store))
    assert f"skipped {store / 'traces.jsonl'}:1: not an OTLP/JSON record: {reason}\n" in result.stderr
    assert "Failed to parse" not in result.stderr and "Message type" not in result.stderr
    assert "Traceback" not in result.stderr
