"""The local store as plain records: spans and log lines with hex ids and Python values.

``load_store()`` reads every file of the store (rotated ones first), turns each OTLP
request into flat ``StoredSpan`` / ``StoredLog`` records and collects what could not be
read as ``problems`` (each naming the file and line) instead of raising. It reads through the
store's index (``_index.py``), so only what was appended since the last read is decoded.
"""

from __future__ import annotations

from pathlib import Path

from otel_trading.export._follow import StoreFollower
from otel_trading.export._index import load_indexed
from otel_trading.export._otlp_decode import attributes_of, logs_of, spans_of, value_of
from otel_trading.export._records import SpanEvent, StoreContents, StoredLog, StoredSpan

__all__ = ["SpanEvent", "StoreContents", "StoredLog", "StoredSpan", "attributes_of", "load_store", "logs_of",
           "spans_of", "value_of"]


def load_store(directory: str | Path, *, traces: bool = True, logs: bool = True,
               indexed: bool = True) -> StoreContents:
    """Reads the store at ``directory``; a missing directory is an empty store, not an error.

    ``indexed=False`` reads every file from its start without the index (the same records)."""
    if indexed:
        return load_indexed(directory, traces=traces, logs=logs)
    path = Path(directory)
    contents = StoreContents(path)
    for signal, wanted in (("traces", traces), ("logs", logs)):
        if wanted:
            found = StoreFollower(path, signal).poll()  # type: ignore[arg-type]  # signal is a Literal
            contents.files.extend(found.files)
            contents.spans.extend(found.spans)
            contents.logs.extend(found.logs)
            contents.problems.extend(found.problems)
    return contents
