"""The store's SQLite index: built once, then only the appended bytes are read; rotation,
truncation, a deleted or stale index, a read-only store and a half-written line all leave the
records exactly those of reading every file from its start."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import sqlite3
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from otel_trading.analytics._journal import ReportFilter, count_calls, read_journal
from otel_trading.cli._log_filter import parse_field_filter
from otel_trading.export import StoredLog, StoredSpan, load_store
from otel_trading.export._index import _LOOKUP_INDEXES, INDEX_NAME, TRACE_COLUMNS, StoreIndex, trace_facts
from otel_trading.export._index_rows import TraceFacts, group_traces, render_value, searchable_text, summarize
from otel_trading.export._log_filter import LogFilter
from otel_trading.export._reader import decode_store_line
from otel_trading.export._runs import RunSelection
from otel_trading.export._store_queries import _call_counts, _journal, newest_logs


@pytest.fixture
def store(demo_store: Path, tmp_path: Path) -> Path:
    directory = tmp_path / "store"
    shutil.copytree(demo_store, directory, ignore=shutil.ignore_patterns(".index*"))
    return directory


def _lines(store: Path, signal: str) -> list[str]:
    return (store / f"{signal}.jsonl").read_text().splitlines(keepends=True)


def _same_as_unindexed(store: Path) -> None:
    indexed, plain = load_store(store), load_store(store, indexed=False)
    assert (indexed.spans, indexed.logs, indexed.problems, indexed.files) == \
        (plain.spans, plain.logs, plain.problems, plain.files)


@pytest.fixture
def index(store: Path) -> Iterator[StoreIndex]:
    with StoreIndex(store) as opened:
        yield opened


def test_a_second_read_parses_nothing_and_an_append_only_the_new_bytes(store: Path, index: StoreIndex) -> None:
    lines = _lines(store, "traces")
    (store / "traces.jsonl").write_text("".join(lines[:-1]))
    index.update()
    first = index.bytes_read
    # The index reads the spans and the logs (the metric lines have their own index).
    assert first == sum(path.stat().st_size for signal in ("traces", "logs") for path in store.glob(f"{signal}*.jsonl"))
    index.update()
    assert index.bytes_read == first  # nothing new: nothing read
    with open(store / "traces.jsonl", "a") as handle:
        handle.write(lines[-1])
    index.update()
    assert index.bytes_read - first == len(lines[-1].encode())
    assert index.location == str(store / INDEX_NAME)
    _same_as_unindexed(store)


def _query_plan(index: StoreIndex, query: str, *parameters: object) -> str:
    return " ".join(str(row[-1]) for row in index.db.execute(f"EXPLAIN QUERY PLAN {query}", parameters))


def test_the_lookup_indexes_are_there_after_a_first_indexing_and_the_next(store: Path, index: StoreIndex) -> None:
    # A first indexing builds them after loading its rows: each must be back, and used.
    lines = _lines(store, "traces")
    (store / "traces.jsonl").write_text("".join(lines[:-1]))
    for _ in range(2):
        index.update()
        names = {name for (name,) in index.db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert set(_LOOKUP_INDEXES) <= names
        assert "spans_by_trace" in _query_plan(index, "SELECT id FROM spans WHERE trace_id = ?", "00")
        assert "logs_by_time" in _query_plan(index, "SELECT id FROM logs ORDER BY time_ns DESC LIMIT 5")
        (store / "traces.jsonl").write_text("".join(lines))
    _same_as_unindexed(store)


def _log_line(service: str, number: int) -> str:
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]}
    record = {"timeUnixNano": str(1_700_000_000_000_000_000 + number), "severityNumber": 9,
              "body": {"stringValue": f"line {number}"}}
    return json.dumps({"resourceLogs": [{"resource": resource,
                                         "scopeLogs": [{"scope": {"name": "bot"}, "logRecords": [record]}]}]})


def test_each_record_keeps_its_own_resource_when_the_lines_of_several_bots_interleave(tmp_path: Path) -> None:
    # Each line decodes to a resource object of its own, freed once its records are indexed: a new
    # one may take its place in memory, and must not be taken for it.
    (tmp_path / "logs.jsonl").write_text("".join(_log_line(f"bot-{number * 7 % 5}", number) + "\n"
                                                 for number in range(200)))
    indexed = load_store(tmp_path).logs
    assert [log.resource for log in indexed] == [log.resource for log in load_store(tmp_path, indexed=False).logs]
    assert {log.resource["service.name"] for log in indexed} == {f"bot-{number}" for number in range(5)}


def test_nan_and_infinities_come_back_from_the_index_as_recorded(tmp_path: Path) -> None:
    # OTLP/JSON quotes them ("NaN", "Infinity"); the rows written by orjson would hold null instead.
    attributes = [{"key": key, "value": {"doubleValue": text}}
                  for key, text in (("nan", "NaN"), ("up", "Infinity"), ("down", "-Infinity"), ("tenth", 0.1))]
    line = json.loads(_log_line("bot", 1))
    line["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["attributes"] = attributes
    (tmp_path / "logs.jsonl").write_text(json.dumps(line) + "\n" + _log_line("bot", 2) + "\n")
    load_store(tmp_path)  # the first read builds the index, the second reads its rows
    [indexed, plain] = [load_store(tmp_path, indexed=flag).logs[0].attributes for flag in (True, False)]
    assert repr(indexed) == repr(plain) == "{'nan': nan, 'up': inf, 'down': -inf, 'tenth': 0.1}"


def test_a_half_written_line_is_indexed_once_complete(store: Path, index: StoreIndex) -> None:
    lines = _lines(store, "traces")
    (store / "traces.jsonl").write_text("".join(lines[:-1]) + lines[-1][:100])
    index.update()
    before = len(index.contents(logs=False).spans)
    assert index.contents().problems == []
    with open(store / "traces.jsonl", "a") as handle:
        handle.write(lines[-1][100:])
    index.update()
    assert len(index.contents(logs=False).spans) > before
    _same_as_unindexed(store)


def test_rotation_and_truncation_keep_the_index_exact(store: Path, index: StoreIndex) -> None:
    lines = _lines(store, "traces")
    index.update()
    (store / "traces.jsonl").rename(store / "traces-20260101T000000000000.jsonl")  # rotated ...
    (store / "traces.jsonl").write_text(lines[0])  # ... and a new live file
    index.update()
    _same_as_unindexed(store)
    assert len(index.contents(logs=False).spans) == len(load_store(store, indexed=False, logs=False).spans)
    (store / "traces-20260101T000000000000.jsonl").unlink()  # past the total bound
    (store / "traces.jsonl").write_text("")  # truncated
    index.update()
    assert index.contents(logs=False).spans == []
    _same_as_unindexed(store)


def test_a_deleted_or_stale_index_is_rebuilt(store: Path) -> None:
    expected = load_store(store, indexed=False)
    assert load_store(store).spans == expected.spans
    (store / INDEX_NAME).unlink()
    assert load_store(store).spans == expected.spans
    with sqlite3.connect(store / INDEX_NAME) as db:
        db.execute("UPDATE meta SET value = '0' WHERE key = 'schema'")
    db.close()
    assert load_store(store).spans == expected.spans
    (store / INDEX_NAME).write_bytes(b"not a database at all")
    for suffix in ("-wal", "-shm"):
        (store / (INDEX_NAME + suffix)).unlink(missing_ok=True)
    assert load_store(store).spans == expected.spans  # not a database: ours to replace
    assert StoreIndex(store).location == str(store / INDEX_NAME)


def test_the_index_is_private_like_the_store(store: Path) -> None:
    load_store(store)
    assert stat.S_IMODE(os.stat(store / INDEX_NAME).st_mode) == 0o600


def test_a_store_where_the_index_cannot_be_written_is_read_through_an_index_elsewhere(store: Path) -> None:
    (store / INDEX_NAME).mkdir()  # what a read-only directory does to any user, root included
    with StoreIndex(store) as index:
        index.update()
        assert index.location != str(store / INDEX_NAME)
    _same_as_unindexed(store)


def test_damaged_lines_are_reported_at_every_read(store: Path) -> None:
    with open(store / "logs.jsonl", "a") as handle:
        handle.write("{not json\n")
    plain = load_store(store, indexed=False).problems
    assert plain and load_store(store).problems == plain
    assert load_store(store).problems == plain  # from the index the second time


def test_one_trace_comes_from_its_rows_only(store: Path, index: StoreIndex) -> None:
    index.update()
    everything = index.contents()
    trace_id = everything.spans[0].trace_id
    one = index.contents(trace_prefix=trace_id[:8])
    assert one.spans == [span for span in everything.spans if span.trace_id.startswith(trace_id[:8])]
    assert one.logs == [log for log in everything.logs if (log.trace_id or "").startswith(trace_id[:8])]


# -- the summary rows, the journal's rows and the log columns ---------------------------------------------


def _expected_summaries(store: Path) -> dict[str, TraceFacts]:
    spans = load_store(store, indexed=False, logs=False).spans
    return {trace_id: summarize(trace_id, trace.spans) for trace_id, trace in group_traces(spans).items()}


def _indexed_summaries(index: StoreIndex) -> dict[str, TraceFacts]:
    return {row[0]: trace_facts(row) for row in index.db.execute(f"SELECT {TRACE_COLUMNS} FROM traces")}  # noqa: S608


def _rows_are_exact(store: Path, index: StoreIndex) -> None:
    """The summary rows are those of every span read from the files; the journal that of read_journal."""
    index.update()
    assert _indexed_summaries(index) == _expected_summaries(store)
    spans = load_store(store, indexed=False, logs=False).spans
    journal = read_journal(spans)
    assert _journal(index, None) == dataclasses.replace(journal, exchange_calls=())
    assert _call_counts(index, None, ReportFilter()) == count_calls(journal.exchange_calls)
    [(keys,)] = index.db.execute("SELECT COUNT(*) FROM trace_keys").fetchall()
    assert keys == sum(len(facts.trade_ids) for facts in _expected_summaries(store).values())


def _line_of_root(lines: list[str]) -> tuple[str, int]:
    """A trace whose root is written in a later line than one of its children, and that line."""
    seen: set[str] = set()
    for number, line in enumerate(lines):
        [*spans] = decode_store_line(Path("traces.jsonl"), number + 1, line, "traces").records
        for span in spans:
            assert isinstance(span, StoredSpan)
            if span.parent_span_id is None and span.trace_id in seen:
                return span.trace_id, number
        seen.update(span.trace_id for span in spans)
    raise AssertionError("no trace of the demo ends after its first line")


def test_summary_rows_follow_a_trace_whose_spans_arrive_across_files(store: Path, index: StoreIndex) -> None:
    lines = _lines(store, "traces")
    trace_id, root_line = _line_of_root(lines)
    # Even lines in a rotated file, odd ones in the live file, each in two steps: a trace's spans land in
    # different files and different updates (the root, written when it ends, after its children).
    rotated = store / "traces-20260101T000000000000.jsonl"
    rotated.write_text("".join(lines[:root_line:2]))
    (store / "traces.jsonl").write_text("".join(lines[1:root_line:2]))
    _rows_are_exact(store, index)
    assert _indexed_summaries(index)[trace_id].partial
    with open(rotated, "a") as handle:
        handle.write("".join(lines[root_line::2] if root_line % 2 == 0 else lines[root_line + 1::2]))
    with open(store / "traces.jsonl", "a") as handle:
        handle.write("".join(lines[root_line::2] if root_line % 2 == 1 else lines[root_line + 1::2]))
    _rows_are_exact(store, index)
    assert not _indexed_summaries(index)[trace_id].partial  # its root arrived
    rotated.unlink()  # rotated away: the traces it held are summarised from what is left
    _rows_are_exact(store, index)
    (store / "traces.jsonl").write_text("")  # truncated ...
    _rows_are_exact(store, index)
    assert _indexed_summaries(index) == {}
    (store / "traces.jsonl").write_text("".join(lines[:3]))  # ... and written again
    _rows_are_exact(store, index)


def test_a_copied_file_counts_each_span_once_in_the_summary_and_twice_in_the_journal(
        store: Path, index: StoreIndex) -> None:
    shutil.copy(store / "traces.jsonl", store / "traces-20260101T000000000000.jsonl")
    _rows_are_exact(store, index)
    spans = load_store(store, indexed=False, logs=False).spans
    assert sum(facts.span_count for facts in _indexed_summaries(index).values()) * 2 == len(spans)


def test_log_columns_answer_the_filters_of_the_logs_command(store: Path, index: StoreIndex) -> None:
    index.update()
    everything = load_store(store, indexed=False, traces=False).logs
    with_trade = next(log for log in everything if "trade_id" in log.attributes)
    filters = [LogFilter(), LogFilter(min_severity=13), LogFilter(trade_id=str(with_trade.attributes["trade_id"])),
               LogFilter(trace_prefix=(with_trade.trace_id or "")[:6]), LogFilter(grep="filled"),
               LogFilter(grep="status=filled"), LogFilter(start_ns=with_trade.time_ns, end_ns=with_trade.time_ns),
               LogFilter(runs=RunSelection(service="demo-bot")), LogFilter(runs=RunSelection(service="other")),
               *(LogFilter(fields=(parse_field_filter(text),)) for text in (
                   "symbol=BTC/USDT", "status=rejected", "pnl=" + str(next(
                       log.attributes["pnl"] for log in everything if isinstance(log.attributes.get("pnl"), float))),
                   "service.name=demo-bot", "service=demo-bot", "level=warning", "nope=x", "symbol!=BTC/USDT",
                   "symbol~=btc"))]
    for wanted in filters:
        expected = sorted((log for log in everything if wanted.matches(log)), key=lambda log: log.time_ns)
        found, total = newest_logs(index, wanted, None)
        assert list(reversed(found)) == expected, wanted
        assert total == len(expected)
        newest, count = newest_logs(index, wanted, 3)
        assert newest == found[:3] and count == total


def test_two_readers_at_once_index_each_line_once(store: Path) -> None:
    results: list[int] = []

    def read() -> None:
        with StoreIndex(store) as index:
            index.update()
            results.append(len(_indexed_summaries(index)))

    readers = [threading.Thread(target=read) for _ in range(2)]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join(timeout=60)
    with StoreIndex(store) as index:
        _rows_are_exact(store, index)
        [(spans,)] = index.db.execute("SELECT COUNT(*) FROM spans").fetchall()
    assert results == [len(_expected_summaries(store))] * 2
    assert spans == len(load_store(store, indexed=False, logs=False).spans)


def test_a_summary_keeps_the_head_span_attributes_as_recorded_nan_and_infinities_too(tmp_path: Path) -> None:
    # The summary row's JSON is written by orjson when it can be, which writes NaN and infinities as null.
    span = {"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7ad6b7169203331", "name": "trade",
            "kind": 1, "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000001000000000",
            "attributes": [{"key": "trading.trade_id", "value": {"stringValue": "t-1"}},
                           {"key": "trading.pnl.realized", "value": {"doubleValue": "NaN"}},
                           {"key": "trading.symbol", "value": {"stringValue": "BTC/USDT"}},
                           {"key": "trading.exit_reason", "value": {"doubleValue": "-Infinity"}}]}
    line = {"resourceSpans": [{"scopeSpans": [{"scope": {"name": "bot"}, "spans": [span]}]}]}
    finite = {**span, "traceId": "1af7651916cd43dd8448eb211c80319c", "attributes": [
        {"key": "trading.trade_id", "value": {"stringValue": "t-1"}},
        {"key": "trading.pnl.realized", "value": {"doubleValue": 2.5}},
        {"key": "correlation_id", "value": {"stringValue": "c-\u00e9"}}]}
    other = {"resourceSpans": [{"scopeSpans": [{"scope": {"name": "bot"}, "spans": [finite]}]}]}
    (tmp_path / "traces.jsonl").write_text(json.dumps(line) + "\n" + json.dumps(other) + "\n")
    with StoreIndex(tmp_path) as index:
        index.update()
        indexed = _indexed_summaries(index)
    expected = _expected_summaries(tmp_path)
    assert repr(indexed) == repr(expected)
    assert repr(dict(indexed[span["traceId"]].head_attributes)) == (
        "{'trading.trade_id': 't-1', 'trading.pnl.realized': nan, 'trading.exit_reason': -inf, "
        "'trading.symbol': 'BTC/USDT'}")
    assert indexed[finite["traceId"]].trade_ids == ("c-\u00e9", "t-1")


def test_the_searchable_text_renders_every_value_as_the_filters_compare_it() -> None:
    values = {"text": "Filled", "count": 355, "big": 2**70, "pnl": -16.71289376295917, "tiny": 1e-7, "huge": 1e22,
              "nan": math.nan, "inf": -math.inf, "yes": True, "none": None, "list": [1, "a"], "map": {"k": 1.5}}
    log = StoredLog(1, 9, "INFO", "Body", values, None, None, {}, "Bot")
    expected = "Bot Body " + " ".join(f"{key}={render_value(value)}" for key, value in values.items())
    assert searchable_text(log) == expected.lower()
    assert "yes=true" in searchable_text(log) and "tiny=1e-07" in searchable_text(log)
