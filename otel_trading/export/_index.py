"""A SQLite index beside the local store: what was decoded once is not decoded again.

``<store>/.index.sqlite3`` holds the flat records of every complete line read so far and, per
file (by device and inode, like ``StoreFollower``), how far it was read. Each use first indexes
what was appended since (only the new bytes are read), forgets files rotated away or deleted and
starts again any file truncated or replaced. The store itself stays OTLP/JSON lines; the index is a
cache: delete it and it is rebuilt, change ``SCHEMA_VERSION`` and old ones are rebuilt, and when it
cannot be written (a read-only copy of a store) it lives in the temporary directory, or in memory.

Besides the records it keeps what the views query (``_index_rows.py``): one summary row per trace
(``traces``, its correlation ids in ``trace_keys``), the journal's ``trades``, ``orders`` and ``calls``,
and a log record's time, severity, ids and resource as columns. A trace's spans arrive over time and
across files: its summary is updated from its spans already indexed plus the new ones, and rebuilt from
the remaining ones when a file is dropped (rotated away, truncated, replaced).

Writers of the index take SQLite's write lock for one whole update, so two readers started at once
index each line once; a line being written by the bot is indexed when it is complete.

A schema change here drops every table of this file: another reader with tables of its own keeps them
in its own file beside this one (``_metric_queries.py``: ``.index.metrics.sqlite3``, located through
``index_locations``), so a change here never costs it a rebuild.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import math
import os
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, Literal, cast

import orjson

from otel_trading.export._follow import FileIdentity, StoreFollower, _Position
from otel_trading.export._index_rows import (
    TraceAccumulator,
    TraceFacts,
    journal_row,
    log_columns,
    new_trace_facts,
    trade_row,
)
from otel_trading.export._record_builder import new_event, new_log, new_span
from otel_trading.export._records import StoreContents, StoredLog, StoredSpan
from otel_trading.export._sqlite_cache import open_cache

Signal = Literal["traces", "logs"]
SCHEMA_VERSION: Final = 6
# 5: the same tables; indexes built before it may give a log record another run's resource (the
# resource cache's id() reuse, fixed in 5): rebuilt. 6: trades.status (open, closed, denied, abandoned).
INDEX_NAME: Final = ".index.sqlite3"
_SIGNALS: Final[tuple[Signal, ...]] = ("traces", "logs")

_SCHEMA: Final = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE files (signal TEXT NOT NULL, dev INTEGER NOT NULL, ino INTEGER NOT NULL, path TEXT NOT NULL,
                    offset INTEGER NOT NULL, lines INTEGER NOT NULL, truncation_reported INTEGER NOT NULL,
                    PRIMARY KEY (signal, dev, ino));
CREATE TABLE resources (id INTEGER PRIMARY KEY, data TEXT NOT NULL UNIQUE);
CREATE TABLE spans (id INTEGER PRIMARY KEY, dev INTEGER NOT NULL, ino INTEGER NOT NULL, trace_id TEXT NOT NULL,
                    resource INTEGER NOT NULL, start_ns INTEGER NOT NULL, end_ns INTEGER NOT NULL,
                    data TEXT NOT NULL);
CREATE INDEX spans_by_file ON spans (dev, ino);
CREATE INDEX spans_by_trace ON spans (trace_id);
CREATE INDEX spans_by_resource ON spans (resource, start_ns, end_ns);
CREATE TABLE traces (trace_id TEXT PRIMARY KEY, name TEXT NOT NULL, service TEXT, run TEXT,
                     start_ns INTEGER NOT NULL, end_ns INTEGER NOT NULL, partial INTEGER NOT NULL,
                     span_count INTEGER NOT NULL, error_count INTEGER NOT NULL, error TEXT, symbol TEXT,
                     trade_ids TEXT NOT NULL, head TEXT NOT NULL);
CREATE INDEX traces_by_start ON traces (start_ns);
CREATE TABLE trace_keys (key TEXT NOT NULL, trace_id TEXT NOT NULL);
CREATE INDEX trace_keys_by_key ON trace_keys (key);
CREATE INDEX trace_keys_by_trace ON trace_keys (trace_id);
CREATE TABLE trades (trace_id TEXT PRIMARY KEY, span INTEGER NOT NULL, resource INTEGER NOT NULL,
                     trade_id TEXT NOT NULL, symbol TEXT, side TEXT, strategy TEXT, service TEXT, portfolio TEXT,
                     opened_ns INTEGER NOT NULL, closed_ns INTEGER, ended_ns INTEGER NOT NULL, pnl REAL,
                     outcome TEXT, exit_reason TEXT, equity REAL, status TEXT NOT NULL);
CREATE TABLE orders (span INTEGER PRIMARY KEY, trace_id TEXT NOT NULL, resource INTEGER NOT NULL, symbol TEXT,
                     side TEXT, service TEXT, order_type TEXT, status TEXT, reason TEXT,
                     submitted_ns INTEGER NOT NULL, ack_latency_s REAL, fill_latency_s REAL, slippage_bps REAL,
                     slippage_cost REAL);
CREATE TABLE calls (span INTEGER PRIMARY KEY, trace_id TEXT NOT NULL, resource INTEGER NOT NULL,
                    time_ns INTEGER NOT NULL, method TEXT NOT NULL, error_type TEXT, exchange TEXT, symbol TEXT,
                    service TEXT);
CREATE TABLE logs (id INTEGER PRIMARY KEY, dev INTEGER NOT NULL, ino INTEGER NOT NULL, time_ns INTEGER NOT NULL,
                   severity INTEGER NOT NULL, trace_id TEXT, trade_id TEXT, correlation_id TEXT, search TEXT NOT NULL,
                   resource INTEGER NOT NULL, data TEXT NOT NULL);
CREATE INDEX logs_by_file ON logs (dev, ino);
CREATE INDEX logs_by_trace ON logs (trace_id);
CREATE INDEX logs_by_time ON logs (time_ns);
CREATE TABLE problems (id INTEGER PRIMARY KEY, signal TEXT NOT NULL, dev INTEGER NOT NULL, ino INTEGER NOT NULL,
                       message TEXT NOT NULL);
CREATE INDEX problems_by_file ON problems (dev, ino);
"""

# A row's JSON, as json.dumps(ensure_ascii=False, separators=(",", ":")) writes it (the log search
# looks for texts in it), by one encoder: dumps() with options builds an encoder per call. No cycle
# check: the values come from decoding JSON lines.
_encode: Final = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode


def _encode_row(row: Any, finite: bool) -> str:
    """A record's row as JSON: by ``orjson`` (about 5 times ``_encode``) when its line was read by
    ``orjson`` (``finite``: no NaN or infinity, which it would write as ``null``). Its text is
    ``_encode``'s (what the searches look for: keys and text values, escaped alike) but for the
    spelling of some floats (``1e-7``, not ``1e-07``), which read back the same."""
    if finite:
        try:
            return orjson.dumps(row).decode()
        except orjson.JSONEncodeError:  # pragma: no cover - a line orjson read holds nothing it cannot write
            pass
    return _encode(row)


def _decode_row(data: str) -> Any:
    """A row's JSON: ``orjson`` reads any row ``_encode_row`` wrote, but NaN and the infinities."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)

_LOOKUP_INDEXES: Final = {statement.split()[2]: statement for statement in map(str.strip, _SCHEMA.split(";"))
                          if statement.startswith("CREATE INDEX")}
"""The ``CREATE INDEX`` statements of the schema, by index name."""


def index_locations(directory: Path) -> Iterator[str]:
    """Where the index of ``directory`` may live, best first: beside the store, then a per-store
    file in the temporary directory (a read-only store), then memory."""
    yield str(directory / INDEX_NAME)
    key = hashlib.sha256(str(directory.resolve()).encode()).hexdigest()[:24]
    yield str(Path(tempfile.gettempdir()) / f"otel-trading-index-{os.getuid() if hasattr(os, 'getuid') else 0}"
              f"-{key}.sqlite3")
    yield ":memory:"


class ResourceRows:
    """The resource rows one update has met: by the decoded resource object (the records of one
    line share one), and by its JSON (the lines of one run repeat it)."""

    def __init__(self) -> None:
        self.by_object: dict[int, tuple[Any, int]] = {}
        self.by_data: dict[str, int] = {}


class StoreIndex:
    """The index of one store; ``update()`` brings it up to date, the queries read it."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.location, self._db = self._open()
        self.bytes_read = 0
        """Bytes of the store read by ``update()`` calls so far (0 when nothing was appended)."""
        self.files: dict[Signal, list[Path]] = {signal: [] for signal in _SIGNALS}
        self.unreadable: dict[Signal, list[str]] = {signal: [] for signal in _SIGNALS}
        """Problems that are no line of a file (a file that cannot be read), found by the last update."""

    def close(self) -> None:
        self._db.close()

    @property
    def db(self) -> sqlite3.Connection:
        """The index's connection, for the queries (``_store_queries.py``) to read its tables."""
        return self._db

    def resources(self) -> _Resources:
        """The resource rows, decoded once each for this reader."""
        return _Resources(self._db)

    def resources_matching(self, matches: Callable[[Mapping[str, Any]], bool]) -> list[int]:
        """The rows of the resources that ``matches``."""
        return [row for row, data in self._db.execute("SELECT id, data FROM resources") if matches(json.loads(data))]

    def __enter__(self) -> StoreIndex:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- building ---------------------------------------------------------------------------------

    def _open(self) -> tuple[str, sqlite3.Connection]:
        return open_cache(index_locations(self.directory), _SCHEMA, SCHEMA_VERSION, what="a store index", pragmas=(
            # A rollback journal, not WAL: a first indexing appends every page, which a rollback journal
            # does not copy, while WAL writes each page twice (to the log, then to the database), a
            # tenth of its time. Every reader takes the write lock to update first anyway, so WAL's
            # reads beside a writer bought nothing. (An index left in WAL mode by an older version
            # stays in it while another reader has it open: it works either way.)
            "journal_mode=DELETE",
            # Rows of about 0.5 kB, written in bulk: 64 kB pages (for a new file; an existing one
            # keeps its size) take a quarter less of SQLite's time than 4 kB ones, and make the file
            # a tenth smaller.
            "page_size=65536",
            # The default cache is 2 MB, 31 such pages: the traces' and trades' rows go in by trace id,
            # all over their key's b-tree, which then came from the file again and again.
            "cache_size=-65536",
        ))

    def update(self) -> None:
        """Indexes what was appended to the store since the last update, in one transaction."""
        with no_collection():
            self._update()

    def _update(self) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            # A first indexing loads every row at once: its lookup indexes are built after the load
            # (one sort each) rather than kept up to date row by row.
            first = not db.execute("SELECT EXISTS (SELECT 1 FROM files)").fetchone()[0]
            if first:
                for name in _LOOKUP_INDEXES:
                    db.execute(f"DROP INDEX {name}")
            for signal in _SIGNALS:
                self.files[signal], self.unreadable[signal] = [], []
                follower = _IndexingFollower(self, signal)
                follower.index_new_lines(self.files[signal])
                self.bytes_read += follower.bytes_read
            if first:
                for statement in _LOOKUP_INDEXES.values():
                    db.execute(statement)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def resource_id(self, resource: Any, seen: ResourceRows) -> int:
        """The row of ``resource`` (records of one request share one resource object)."""
        known = seen.by_object.get(id(resource))
        if known is not None:
            return known[1]
        data = _encode(resource)
        row = seen.by_data.get(data)
        if row is None:
            self._db.execute("INSERT OR IGNORE INTO resources (data) VALUES (?)", (data,))
            [(row,)] = self._db.execute("SELECT id FROM resources WHERE data = ?", (data,)).fetchall()
            seen.by_data[data] = row = int(row)
        # The object is kept with its row: while it lives, no other object can have its id.
        seen.by_object[id(resource)] = (resource, row)
        return row

    # --- reading ----------------------------------------------------------------------------------

    def contents(self, *, traces: bool = True, logs: bool = True, trace_prefix: str | None = None) -> StoreContents:
        """The indexed records, oldest file first, as ``load_store`` returns them; with
        ``trace_prefix``, only the spans and logs of the traces whose id starts with it."""
        with no_collection():
            return self._contents(traces=traces, logs=logs, trace_prefix=trace_prefix)

    def _contents(self, *, traces: bool, logs: bool, trace_prefix: str | None) -> StoreContents:
        contents = StoreContents(self.directory)
        resources = _Resources(self._db)
        for signal, wanted in (("traces", traces), ("logs", logs)):
            if not wanted:
                continue
            files = self.files[signal]  # type: ignore[index]  # signal is one of _SIGNALS
            contents.files.extend(files)
            contents.problems.extend(self._problems(signal, files))  # type: ignore[arg-type]  # as above
            table = "spans" if signal == "traces" else "logs"
            for identity in self._identities(signal, files):
                query = f"SELECT resource, data FROM {table} WHERE dev = ? AND ino = ?"  # noqa: S608 - our names
                parameters: tuple[Any, ...] = identity
                if trace_prefix is not None:
                    query += " AND trace_id >= ? AND trace_id < ?"
                    parameters = (*identity, trace_prefix, trace_prefix + "g")  # hex digits sort before "g"
                rows = self._db.execute(query + " ORDER BY id", parameters)
                if signal == "traces":
                    contents.spans.extend(_span(data, resources.get(resource)) for resource, data in rows)
                else:
                    contents.logs.extend(_log(data, resources.get(resource)) for resource, data in rows)
        return contents

    def problems(self, signal: Signal) -> list[str]:
        """What could not be read of ``signal`` (each naming its file and line), as ``contents()`` has it."""
        return self._problems(signal, self.files[signal])

    def _identities(self, signal: str, files: Sequence[Path]) -> list[FileIdentity]:
        by_path = {path: (dev, ino) for dev, ino, path in self._db.execute(
            "SELECT dev, ino, path FROM files WHERE signal = ?", (signal,))}
        return [by_path[str(path)] for path in files if str(path) in by_path]

    def _problems(self, signal: Signal, files: Sequence[Path]) -> list[str]:
        problems = list(self.unreadable[signal])
        for identity in self._identities(signal, files):
            problems.extend(message for (message,) in self._db.execute(
                "SELECT message FROM problems WHERE signal = ? AND dev = ? AND ino = ? ORDER BY id",
                (signal, *identity)))
        return problems


@contextlib.contextmanager
def no_collection() -> Iterator[None]:
    """No cyclic garbage collection while building many records: none of them is garbage, and
    collections over a few hundred thousand new objects took half the time of a large read."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class _Resources:
    """Resource rows decoded once per query, shared by the records that name them (as on load)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._decoded: dict[int, dict[str, Any]] = {}

    def get(self, row: int) -> dict[str, Any]:
        resource = self._decoded.get(row)
        if resource is None:
            [(data,)] = self._db.execute("SELECT data FROM resources WHERE id = ?", (row,)).fetchall()
            resource = self._decoded[row] = json.loads(data)
        return resource


def _span_row(span: StoredSpan, finite: bool) -> str:
    return _encode_row([span.trace_id, span.span_id, span.parent_span_id, span.name, span.kind, span.start_ns,
                    span.end_ns, span.status, span.status_message, span.attributes,
                    [[event.name, event.time_ns, event.attributes] for event in span.events], span.scope], finite)


def _span(data: str, resource: Mapping[str, Any]) -> StoredSpan:
    (trace_id, span_id, parent, name, kind, start, end, status, message, attributes, events,
     scope) = _decode_row(data)
    return new_span(trace_id, span_id, parent, name, kind, start, end, status, message, attributes,
                    tuple(new_event(*event) for event in events), resource, scope)


def _log_row(log: StoredLog, finite: bool) -> str:
    return _encode_row([log.time_ns, log.severity_number, log.severity_text, log.body, log.attributes, log.trace_id,
                        log.span_id, log.scope], finite)


def _log(data: str, resource: Mapping[str, Any]) -> StoredLog:
    time_ns, severity, severity_text, body, attributes, trace_id, span_id, scope = _decode_row(data)
    return new_log(time_ns, severity, severity_text, body, attributes, trace_id, span_id, resource, scope)


class _IndexingFollower(StoreFollower):
    """A ``StoreFollower`` whose positions live in the index and whose lines go into it."""

    def __init__(self, index: StoreIndex, signal: Signal) -> None:
        super().__init__(index.directory, signal)
        self._index = index
        self._current: FileIdentity = (0, 0)
        self._db = index._db
        self._rebuild: set[str] = set()
        """Traces some of whose spans were dropped: summarised again from the remaining ones."""
        for dev, ino, path, offset, lines, reported in self._db.execute(
                "SELECT dev, ino, path, offset, lines, truncation_reported FROM files WHERE signal = ?", (signal,)):
            self._positions[(dev, ino)] = _Position(Path(path), offset, lines, bool(reported))

    def position(self, identity: FileIdentity, path: Path, size: int) -> _Position:
        self._current = identity  # the lines read next are this file's
        return super().position(identity, path, size)

    def restarted(self, identity: FileIdentity) -> None:
        self._drop(identity)

    def forget(self, kept: set[FileIdentity]) -> None:
        known = {(dev, ino) for dev, ino in self._db.execute(
            "SELECT dev, ino FROM files WHERE signal = ?", (self.signal,))}
        for identity in known - kept:
            self._drop(identity)
            self._db.execute("DELETE FROM files WHERE signal = ? AND dev = ? AND ino = ?", (self.signal, *identity))

    def _drop(self, identity: FileIdentity) -> None:
        db = self._db
        db.execute("DELETE FROM problems WHERE signal = ? AND dev = ? AND ino = ?", (self.signal, *identity))
        if self.signal == "logs":
            db.execute("DELETE FROM logs WHERE dev = ? AND ino = ?", identity)
            return
        self._rebuild.update(trace_id for (trace_id,) in db.execute(
            "SELECT DISTINCT trace_id FROM spans WHERE dev = ? AND ino = ?", identity))
        for table in ("orders", "calls"):
            db.execute(f"DELETE FROM {table} WHERE span IN "  # noqa: S608 - our table names
                       "(SELECT id FROM spans WHERE dev = ? AND ino = ?)", identity)
        db.execute("DELETE FROM spans WHERE dev = ? AND ino = ?", identity)

    def index_new_lines(self, files_read: list[Path]) -> None:
        db = self._db
        resources = ResourceRows()
        spans: list[tuple[int, int, int, str, int, int, int, str]] = []
        logs: list[tuple[Any, ...]] = []
        journal: dict[str, list[tuple[Any, ...]]] = {"orders": [], "calls": []}
        problems: list[tuple[str, int, int, str]] = []
        traces: dict[str, TraceAccumulator] = {}
        indexed_before = db.execute("SELECT EXISTS (SELECT 1 FROM traces)").fetchone()[0]
        [(next_row,)] = db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM spans").fetchall()
        for line in self.new_lines(files_read):
            dev, ino = self._current
            if line.error is not None:
                if line.line == 0:  # the file could not be read: no line of it, found again next time
                    self._index.unreadable[self.signal].append(line.error)
                else:
                    problems.append((self.signal, dev, ino, line.error))
                continue
            line_resource: object = None
            resource = 0
            for record in line.records:
                if record.resource is not line_resource:  # the records of one line mostly share one
                    line_resource = record.resource
                    resource = self._index.resource_id(line_resource, resources)
                if isinstance(record, StoredSpan):
                    row = next_row
                    next_row += 1
                    spans.append((row, dev, ino, record.trace_id, resource, record.start_ns, record.end_ns,
                                  _span_row(record, line.finite)))
                    accumulator = traces.get(record.trace_id)
                    if accumulator is None:
                        accumulator = traces[record.trace_id] = self._accumulator(record.trace_id, indexed_before)
                    accumulator.add(record, (row, resource))
                    found = journal_row(record, row, resource)
                    if found is not None:
                        journal[found[0]].append(found[1])
                else:
                    logs.append(log_columns(record, dev, ino, resource, _log_row(record, line.finite)))
        db.executemany("INSERT INTO spans (id, dev, ino, trace_id, resource, start_ns, end_ns, data) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", spans)
        db.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", journal["orders"])
        db.executemany("INSERT INTO calls VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", journal["calls"])
        db.executemany("INSERT INTO logs (dev, ino, time_ns, severity, trace_id, trade_id, correlation_id, search, "
                       "resource, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", logs)
        db.executemany("INSERT INTO problems (signal, dev, ino, message) VALUES (?, ?, ?, ?)", problems)
        db.executemany(
            "INSERT OR REPLACE INTO files (signal, dev, ino, path, offset, lines, truncation_reported) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(self.signal, *identity, str(p.path), p.offset, p.lines, int(p.truncation_reported))
             for identity, p in self._positions.items()])
        for trace_id in self._rebuild:  # after the inserts: from every span of the trace still in the store
            traces[trace_id] = self._accumulator(trace_id, True)
        self._save(traces, replacing=bool(indexed_before))

    def _accumulator(self, trace_id: str, indexed_before: bool) -> TraceAccumulator:
        """A trace's accumulator, seeded with its spans already indexed (in store order)."""
        accumulator = TraceAccumulator(trace_id)
        if indexed_before:
            resources = _Resources(self._db)
            for row, resource, data in self._db.execute(
                    "SELECT id, resource, data FROM spans WHERE trace_id = ? ORDER BY id", (trace_id,)):
                accumulator.add(_span(data, resources.get(resource)), (row, resource))
        return accumulator

    def _save(self, traces: dict[str, TraceAccumulator], *, replacing: bool) -> None:
        db = self._db
        if replacing:
            gone = [(trace_id,) for trace_id in traces]
            for table in ("traces", "trace_keys", "trades"):
                db.executemany(f"DELETE FROM {table} WHERE trace_id = ?", gone)  # noqa: S608 - our table names
        summaries: list[tuple[Any, ...]] = []
        keys: list[tuple[str, str]] = []
        trades: list[tuple[Any, ...]] = []
        for accumulator in traces.values():
            if accumulator.empty:
                continue  # every span of it went away
            facts = accumulator.facts()
            summaries.append(_trace_columns(facts))
            keys.extend((key, facts.trace_id) for key in facts.trade_ids)
            if accumulator.trade is not None:
                row, resource = cast("tuple[int, int]", accumulator.trade_ref)  # given with the trade
                trades.append(trade_row(accumulator.trade, row, resource))
        db.executemany("INSERT INTO traces VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", summaries)
        db.executemany("INSERT INTO trace_keys VALUES (?, ?)", keys)
        db.executemany("INSERT INTO trades VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", trades)


def _trace_columns(facts: TraceFacts) -> tuple[Any, ...]:
    return (facts.trace_id, facts.name, facts.service, facts.run, facts.start_ns, facts.end_ns, int(facts.partial),
            facts.span_count, facts.error_count, facts.error, facts.symbol,
            orjson.dumps(facts.trade_ids).decode(),  # texts
            _encode_row(facts.head_attributes, _finite(facts.head_attributes.values())))


def _finite(values: Iterable[Any]) -> bool:
    """``values`` are texts, integers, booleans, None or finite floats: ``orjson`` writes them as ``_encode``."""
    return all(type(value) in _SCALARS or (type(value) is float and math.isfinite(value)) for value in values)


_SCALARS: Final = frozenset({str, int, bool, type(None)})


TRACE_COLUMNS: Final = ("trace_id, name, service, run, start_ns, end_ns, partial, span_count, error_count, error, "
                        "symbol, trade_ids, head")
"""The columns of ``traces`` that ``trace_facts`` reads, in its order."""


def trace_facts(row: Sequence[Any]) -> TraceFacts:
    """A ``traces`` row (``SELECT {TRACE_COLUMNS}``) as ``TraceFacts``."""
    (trace_id, name, service, run, start_ns, end_ns, partial, span_count, error_count, error, symbol, trade_ids,
     head) = row
    return new_trace_facts(trace_id, name, service, run, start_ns, end_ns, bool(partial), span_count, error_count,
                           error, symbol, tuple(json.loads(trade_ids)), json.loads(head))


@contextlib.contextmanager
def updated_index(directory: str | Path) -> Iterator[StoreIndex | None]:
    """The index of the store at ``directory``, brought up to date; None when there is no store."""
    path = Path(directory)
    if not path.is_dir():
        yield None
        return
    with contextlib.closing(StoreIndex(path)) as index:
        index.update()
        yield index


def span_of(data: str, resource: Mapping[str, Any]) -> StoredSpan:
    """A ``spans.data`` column as the record."""
    return _span(data, resource)


def log_of(data: str, resource: Mapping[str, Any]) -> StoredLog:
    """A ``logs.data`` column as the record."""
    return _log(data, resource)


def load_indexed(directory: str | Path, *, traces: bool = True, logs: bool = True,
                 trace_prefix: str | None = None) -> StoreContents:
    """The store at ``directory`` as ``load_store`` reads it, through its index (brought up to date)."""
    path = Path(directory)
    if not path.is_dir():
        return StoreContents(path)
    with contextlib.closing(StoreIndex(path)) as index:
        index.update()
        return index.contents(traces=traces, logs=logs, trace_prefix=trace_prefix)
