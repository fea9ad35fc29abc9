"""The console channel: one line per alert on stderr (severity, status, name, summary)."""

from __future__ import annotations

import sys
import threading
from typing import Any, TextIO

from otel_trading.alerts._model import Notification
from otel_trading.alerts.channels._base import Channel
from otel_trading.alerts.channels._text import alert_line, label_text

_WRITE_LOCK = threading.Lock()  # one notification's lines stay together on a shared stream


class ConsoleChannel(Channel):
    """Writes ``[alert] FIRING critical HighDrawdown: summary {labels}`` lines to ``stream`` (stderr)."""

    kind = "console"

    def __init__(self, name: str, *, stream: TextIO | None = None, **options: Any) -> None:
        super().__init__(name, **options)
        self._stream = stream

    def lines(self, notification: Notification) -> list[str]:
        result = []
        for alert in notification.alerts:
            labels = label_text(alert.labels)
            line = f"[alert] {alert_line(alert)}" + (f" {{{labels}}}" if labels else "")
            result.append(" ".join(line.splitlines()))  # one alert, one line
        return result

    def send(self, notification: Notification, timeout_s: float) -> None:  # noqa: ARG002 - a local write has no network to wait on
        stream = self._stream or sys.stderr  # looked up at each send: tests and daemons swap stderr
        text = "".join(f"{line}\n" for line in self.lines(notification))
        try:
            with _WRITE_LOCK:
                stream.write(text)
                stream.flush()
        except (OSError, ValueError) as exc:  # ValueError: the stream was closed
            raise self.error(f"cannot write to the console: {type(exc).__name__}", permanent=True) from None
