"""The store's SQLite index: built once, then only the appended bytes are read; rotation,
truncation, a deleted or stale index, a read-only store and a half-written line all leave the
records exactly those of reading every file from its start."""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from otel_trading.export import load_store
from otel_trading.export._index import INDEX_NAME, StoreIndex


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
    assert first == sum(path.stat().st_size for path in store.glob("*.jsonl"))
    index.update()
    assert index.bytes_read == first  # nothing new: nothing read
    with open(store / "traces.jsonl", "a") as handle:
        handle.write(lines[-1])
    index.update()
    assert index.bytes_read - first == len(lines[-1].encode())
    assert index.location == str(store / INDEX_NAME)
    _same_as_unindexed(store)


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
