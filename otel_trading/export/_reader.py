"""Reading the local store back, tolerant of a live writer, rotation and damaged files."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otel_trading.export._local_store import store_files
from otel_trading.export._otlp_decode import decode_records
from otel_trading.export._otlp_json import parse_json_line
from otel_trading.export._records import StoredLog, StoredSpan


@dataclass(frozen=True)
class StoreRecord:
    """One line of the store: its parsed request, or the problem with it."""

    path: Path
    line: int
    request: ExportTraceServiceRequest | ExportLogsServiceRequest | None
    error: str | None = None


def read_store(directory: str | Path, signal: Literal["traces", "logs"]) -> Iterator[StoreRecord]:
    """Yields every line of ``signal`` in the store, oldest first.

    A malformed line is yielded with ``error`` set (naming file and line) instead of
    raising; a truncated last line of the live file (a write in progress) is skipped.
    """
    files = store_files(Path(directory), signal)
    for path in files:
        try:
            text = path.read_bytes().decode("utf-8", errors="replace")  # no newline translation: "\r" is no line end
        except FileNotFoundError:  # rotated away between listing and reading
            continue
        except OSError as exc:  # unreadable (permissions, a directory in its place, I/O error)
            yield StoreRecord(path, 0, None, f"{path}: cannot read: {exc.strerror or exc}")
            continue
        lines = text.split("\n")
        for number, line in enumerate(lines[:-1], start=1):
            if line.strip():
                yield parse_line(path, number, line, signal)
        last = unfinished_line(path, len(lines), lines[-1], live=path == files[-1])
        if last is not None:
            yield parse_line(path, len(lines), lines[-1], signal) if last is _PARSE else \
                StoreRecord(path, len(lines), None, last)


def parse_line(path: Path, number: int, text: str, signal: Literal["traces", "logs"]) -> StoreRecord:
    """Line ``number`` of ``path`` as a record; malformed, with the reason after ``file:line:``."""
    try:
        return StoreRecord(path, number, parse_json_line(text, signal))
    except ValueError as exc:
        return StoreRecord(path, number, None, f"{path}:{number}: {exc}")


@dataclass(frozen=True, slots=True)
class DecodedLine:
    """One line of the store as flat records, or the problem with it (after ``file:line:``)."""

    path: Path
    line: int
    records: list[StoredSpan] | list[StoredLog]
    error: str | None = None
    finite: bool = False
    """``orjson`` can write its records' values back as they are (``decode_records``)."""


def decode_store_line(path: Path, number: int, text: str | bytes, signal: Literal["traces", "logs"]) -> DecodedLine:
    """Line ``number`` of ``path`` decoded straight to flat records (no protobuf on the way); as the
    file's bytes (orjson reads UTF-8 itself, a tenth of the decoding's time saved) or as text."""
    try:
        records, finite = decode_records(text, signal)
        return DecodedLine(path, number, records, finite=finite)
    except ValueError as exc:
        return DecodedLine(path, number, [], f"{path}:{number}: {exc}")


_PARSE: Literal["parse"] = "parse"


def unfinished_line(path: Path, number: int, text: str, *, live: bool) -> str | None:
    """What to make of the text after a file's last newline: None (nothing to report), ``"parse"``
    (report it as the line it is) or the problem to report.

    In the live file it is a write in progress if it can be one: the start of a JSON object without
    a NUL byte (JSON escapes NUL, so no writer leaves one; NULs are what a crash leaves in a file's
    preallocated blocks). Anything else there is garbage, reported. In a rotated file, which nothing
    writes any more, it is a line cut short.
    """
    if not text.strip():
        return None
    if "\x00" in text or not text.lstrip().startswith("{"):
        return _PARSE
    return None if live else f"{path}:{number}: truncated last line"
