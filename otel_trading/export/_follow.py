"""Following the local store as it grows, like ``tail -f``: only what was appended since.

``StoreFollower.poll()`` reads each file of a signal from where the previous poll stopped.
Files are tracked by identity (device, inode), not by name, so rotation, which renames the
live file to ``<signal>-<stamp>.jsonl`` and starts a new live file, loses nothing: the rest
of the renamed file is read under its new name, then the new file from its start. Only
complete lines are consumed; a line being written stays for the next poll.

Lines come out in file order. If a rotation happens between listing the files and opening
the live one, the new file's first lines can come out one poll before the renamed file's last
ones; and a file rotated and deleted (total size bound) between two polls is never seen.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from otel_trading.export._local_store import store_files
from otel_trading.export._reader import DecodedLine, decode_store_line, unfinished_line
from otel_trading.export._records import StoreContents, StoredSpan

FileIdentity = tuple[int, int]


@dataclass
class _Position:
    """How far one file has been read."""

    path: Path
    offset: int = 0
    lines: int = 0
    """Complete lines consumed, so that problems name the right line."""
    truncation_reported: bool = False


class StoreFollower:
    """Incremental reader of one signal of the store; the first poll returns everything."""

    def __init__(self, directory: str | Path, signal: Literal["traces", "logs"], *,
                 containing: str | None = None) -> None:
        """``containing``: parse only the lines with this text (any case), a pre-filter far cheaper
        than parsing: with a trace id (or its start), only the lines that can hold that trace's
        records. Damaged lines without it are skipped unreported."""
        self.directory = Path(directory)
        self.signal = signal
        self._wanted = re.compile(re.escape(containing.encode()), re.IGNORECASE) if containing else None
        self._live = self.directory / f"{signal}.jsonl"
        self._positions: dict[FileIdentity, _Position] = {}
        self._reported: set[str] = set()  # unreadable files, reported once rather than at every poll
        self.bytes_read = 0
        """Bytes read from the store's files so far: what an incremental reader saves, observable."""

    def poll(self) -> StoreContents:
        """Records appended since the last poll, oldest first, and the new problems."""
        contents = StoreContents(self.directory)
        collect(self.new_lines(contents.files), contents)
        return contents

    def new_lines(self, files_read: list[Path] | None = None) -> Iterator[DecodedLine]:
        """The lines appended since the last call, decoded (malformed ones with ``error``)."""
        seen: set[FileIdentity] = set()
        for path in store_files(self.directory, self.signal):
            try:
                handle = open(path, "rb")  # noqa: SIM115 - closed by the with below; open() errors handled here
            except FileNotFoundError:  # rotated or deleted since the listing: the next poll finds it
                continue
            except OSError as exc:  # permissions, a directory in the file's place, I/O error
                yield from self._report_once(path, f"{path}: cannot read: {exc.strerror or exc}")
                continue
            with handle:
                try:
                    identity, size = self._identity(handle)
                except OSError as exc:
                    yield from self._report_once(path, f"{path}: cannot read: {exc.strerror or exc}")
                    continue
                seen.add(identity)
                position = self.position(identity, path, size)
                if files_read is not None:
                    files_read.append(path)
                try:
                    yield from self._read_from(handle, position, is_live=path == self._live)
                except OSError as exc:  # a directory opened fine but cannot be read (EISDIR)
                    yield from self._report_once(path, f"{path}: cannot read: {exc.strerror or exc}")
        # Forget deleted files: their inode numbers may be reused by new files.
        self._positions = {key: value for key, value in self._positions.items() if key in seen}
        self.forget(set(self._positions))

    def forget(self, kept: set[FileIdentity]) -> None:
        """Called after each pass with the files still tracked; a persistent reader drops the rest."""

    @staticmethod
    def _identity(handle: BinaryIO) -> tuple[FileIdentity, int]:
        status = os.fstat(handle.fileno())
        return (status.st_dev, status.st_ino), status.st_size

    def position(self, identity: FileIdentity, path: Path, size: int) -> _Position:
        """Where to read ``identity`` from; a new position when it is new, truncated or replaced."""
        position = self._positions.get(identity)
        # A known file that shrank was truncated or replaced; a rotated file never becomes the
        # live one again, so an identity seen rotated and now live is a new file (inode reuse).
        if position is None or size < position.offset or (path == self._live and position.path != self._live):
            position = _Position(path)
            self._positions[identity] = position
            self.restarted(identity)
        position.path = path
        return position

    def restarted(self, identity: FileIdentity) -> None:
        """Called when ``identity`` is read from its start again (new, truncated or replaced)."""

    def _read_from(self, handle: BinaryIO, position: _Position, *, is_live: bool) -> Iterator[DecodedLine]:
        handle.seek(position.offset)
        data = handle.read()
        self.bytes_read += len(data)
        complete = data.rfind(b"\n") + 1
        rest = data[complete:]
        for raw in data[:complete].split(b"\n")[:-1]:
            position.lines += 1
            if raw.strip() and (self._wanted is None or self._wanted.search(raw)):
                yield decode_store_line(position.path, position.lines, raw, self.signal)  # bytes: orjson reads them
        position.offset += complete
        if rest.strip() and not position.truncation_reported:
            text = rest.decode("utf-8", errors="replace")
            last = unfinished_line(position.path, position.lines + 1, text, live=is_live)
            if last is not None:
                position.truncation_reported = True
                yield decode_store_line(position.path, position.lines + 1, text, self.signal) \
                    if last == "parse" else DecodedLine(position.path, position.lines + 1, [], last)

    def _report_once(self, path: Path, problem: str) -> Iterator[DecodedLine]:
        if problem not in self._reported:
            self._reported.add(problem)
            yield DecodedLine(path, 0, [], problem)


def collect(lines: Iterator[DecodedLine], contents: StoreContents) -> None:
    """Appends the spans, logs and problems of ``lines`` to ``contents``."""
    spans, logs = contents.spans, contents.logs
    for line in lines:
        if line.error is not None:
            contents.problems.append(line.error)
        elif line.records and isinstance(line.records[0], StoredSpan):
            spans.extend(line.records)
        else:
            logs.extend(line.records)  # type: ignore[arg-type]  # a line holds one kind of record
