"""The dead-letter file (JSON lines of the notifications that could not be delivered), and giving up.

Each line: ``time`` (RFC 3339), ``channel``, ``kind``, ``outcome`` (``failed`` or
``dropped``), ``reason`` (already scrubbed by the channel), ``attempts`` and
``notification`` - the webhook v4 payload (labels and annotations; channels' credentials
are not part of a notification, so none can be written here).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from otel_trading.alerts._model import Notification
from otel_trading.alerts.channels._base import Channel
from otel_trading.alerts.channels._metrics import Outcome, count_notification
from otel_trading.alerts.channels._payload import webhook_payload
from otel_trading.alerts.channels._text import rfc3339

_LOG = logging.getLogger("otel_trading.alerts")


class DeadLetterFile:
    def __init__(self, path: str | os.PathLike[str], *, now: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self._now = now
        self._lock = threading.Lock()

    def write(self, channel: Channel, notification: Notification, *, outcome: str, reason: str,
              attempts: int) -> bool:
        """Appends one record; False (and a log line) when the file cannot be written."""
        record = {
            "time": rfc3339(self._now()),
            "channel": channel.name,
            "kind": channel.kind,
            "outcome": outcome,
            "reason": channel.scrub(reason),
            "attempts": attempts,
            "notification": webhook_payload(notification),
        }
        line = json.dumps(record, ensure_ascii=False) + "\n"
        try:
            with self._lock:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a", encoding="utf-8") as handle:
                    handle.write(line)
        except OSError as exc:
            _LOG.error("cannot write the alert dead-letter file %s: %s", self.path, exc.strerror or exc)
            return False
        return True


def give_up(channel: Channel, notification: Notification, *, outcome: Outcome, reason: str, attempts: int,
            dead_letters: DeadLetterFile | None, log: bool = True) -> None:
    """A notification that will not be delivered: counted, logged (scrubbed), dead-lettered if there is a file.

    ``log=False`` for the 2nd..nth of a burst (queue overflow, close) that the caller logs once.
    """
    count_notification(channel.name, outcome)
    if log:
        _LOG.warning("alert notification %s after %d attempt(s): %s", outcome, attempts, channel.scrub(reason))
    if dead_letters is not None and dead_letters.write(channel, notification, outcome=outcome, reason=reason,
                                                       attempts=attempts):
        count_notification(channel.name, "dead_lettered")
