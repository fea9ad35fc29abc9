"""The file channel: appends one JSON object per notification (the webhook v4 payload) to a file."""

from __future__ import annotations

import json
import os
import threading
from typing import Any

from otel_trading.alerts._model import Notification
from otel_trading.alerts._paths import file_path
from otel_trading.alerts.channels._base import Channel
from otel_trading.alerts.channels._payload import webhook_payload

_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _lock_for(path: str) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(path, threading.Lock())


class FileChannel(Channel):
    """JSON lines at ``path`` (directories created); opened per write, so log rotation just works."""

    kind = "file"

    def __init__(self, name: str, *, path: str | os.PathLike[str], external_url: str = "", **options: Any) -> None:
        super().__init__(name, **options)
        try:
            self.path = file_path(path)
        except ValueError as exc:
            raise ValueError(f"path: {exc}") from None
        self.external_url = external_url

    def send(self, notification: Notification, timeout_s: float) -> None:  # noqa: ARG002 - a local append has no network to wait on
        line = json.dumps(webhook_payload(notification, external_url=self.external_url), ensure_ascii=False)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with _lock_for(str(self.path.resolve())), self.path.open("a", encoding="utf-8") as handle:
                handle.write(line + "\n")
        except (PermissionError, IsADirectoryError, NotADirectoryError) as exc:
            raise self.error(f"cannot write {self.path.name}: {exc.strerror}", permanent=True) from None
        except OSError as exc:
            raise self.error(f"cannot write {self.path.name}: {exc.strerror or type(exc).__name__}") from None
