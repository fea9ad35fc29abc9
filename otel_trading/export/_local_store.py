"""The local store: OTLP/JSON lines on disk, size-rotated, with a bound on total size.

Layout of the store directory (default ``./.otel-trading``)::

    traces.jsonl                     the file being written
    traces-20261121T120501123456.jsonl  rotated files (UTC, microseconds), oldest deleted past the bound
    logs.jsonl / logs-*.jsonl

The size bounds apply to each signal separately.

Point a Collector's ``otlp_json_file`` receiver at ``include: [".otel-trading/*.jsonl"]`` to
replay a store into any backend.
"""

from __future__ import annotations

import datetime as _dt
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")
DEFAULT_MAX_FILE_BYTES = 32 * 1024 * 1024
DEFAULT_MAX_TOTAL_BYTES = 512 * 1024 * 1024


def rotated_files(directory: Path, signal: str) -> list[Path]:
    """Rotated files of ``signal``, oldest first (their names sort by time)."""
    return sorted(directory.glob(f"{signal}-*.jsonl"))


def store_files(directory: Path, signal: str) -> list[Path]:
    """Every file of ``signal`` in reading order: rotated ones oldest first, then the live one."""
    live = directory / f"{signal}.jsonl"
    return [*rotated_files(directory, signal), *([live] if live.exists() else [])]


def unusable_store_dir(directory: Path) -> str | None:
    """Why a store cannot be written in ``directory``, or None when it can: it is a writable
    directory, or the nearest existing ancestor is one it can be created in. Creates nothing."""
    existing = directory
    while not (existing.exists() or existing.is_symlink()) and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        return f"{str(existing)!r} is not a directory"
    if not os.access(existing, os.W_OK | os.X_OK):
        where = "" if existing == directory else f" (needed to create {str(directory)!r})"
        return f"{str(existing)!r} is not writable{where}"
    return None


_WRITEV: Callable[[int, Sequence[bytes]], int] | None = getattr(os, "writev", None)


def _write_line(fd: int, data: bytes) -> None:
    """``data`` and its newline in one system call where there is writev (one append, as one write)."""
    if _WRITEV is not None:
        _WRITEV(fd, (data, b"\n"))
    else:  # Windows: no writev
        os.write(fd, data + b"\n")


class LocalStoreWriter(Generic[T]):
    """Appends one encoded line per batch to ``<directory>/<signal>.jsonl``."""

    def __init__(
        self,
        directory: Path,
        signal: str,
        encode: Callable[[Sequence[T]], str],
        *,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
    ) -> None:
        if max_file_bytes <= 0 or max_total_bytes < max_file_bytes:
            raise ValueError(
                f"store sizes: max_file_bytes must be > 0 and <= max_total_bytes "
                f"(got {max_file_bytes} and {max_total_bytes})"
            )
        self.directory = directory
        self.signal = signal
        self._encode = encode
        self._max_file_bytes = max_file_bytes
        self._max_total_bytes = max_total_bytes
        self._lock = threading.Lock()
        self.path = directory / f"{signal}.jsonl"

    def export(self, batch: Sequence[T]) -> bool:
        # The line is megabytes: encoded once, its newline written beside it (no copy to add it).
        data = self._encode(batch).encode("utf-8")
        with self._lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            # One write() per batch on an O_APPEND descriptor: a reader never sees half of a
            # line from a healthy writer, and forked children can share the file.
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                _write_line(fd, data)
                size = os.fstat(fd).st_size
            finally:
                os.close(fd)
            if size >= self._max_file_bytes:
                self._rotate()
        return True

    def _rotate(self) -> None:
        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S%f")
        target = self.directory / f"{self.signal}-{stamp}.jsonl"
        os.replace(self.path, target)
        files = rotated_files(self.directory, self.signal)
        total = sum(f.stat().st_size for f in files)
        while files and total > self._max_total_bytes - self._max_file_bytes:
            oldest = files.pop(0)
            total -= oldest.stat().st_size
            oldest.unlink(missing_ok=True)

    def shutdown(self) -> None:
        """Nothing is held open between batches."""
