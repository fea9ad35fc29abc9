"""New log lines of a store for the console's live tail: only what is written after it starts."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from otel_trading.export._follow import StoreFollower, _Position
from otel_trading.export._local_store import store_files

FileIdentity = tuple[int, int]


class LogTail(StoreFollower):
    """A ``StoreFollower`` of the logs that skips what the files held when it was made.

    A stream opened on a 500 MB store must not read (nor send) the store's history: the page
    asks ``/api/logs`` for that. Rotation is followed as the follower follows it.
    """

    def __init__(self, directory: str | Path) -> None:
        super().__init__(directory, "logs")
        self._skip: dict[FileIdentity, int] = {}
        for path in store_files(self.directory, "logs"):
            try:
                status = os.stat(path)
            except OSError:
                continue
            self._skip[(status.st_dev, status.st_ino)] = status.st_size

    def position(self, identity: FileIdentity, path: Path, size: int) -> _Position:
        position = super().position(identity, path, size)
        start = self._skip.pop(identity, None)
        if start is not None and position.offset == 0 and start <= size:
            position.offset = start
        return position

    def new_records(self) -> list[Any]:
        return list(self.poll().logs)
