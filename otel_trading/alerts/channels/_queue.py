"""A channel's bounded FIFO of notifications: ``put`` never waits, ``take`` waits for work or close."""

from __future__ import annotations

import threading
from collections import deque

from otel_trading.alerts._model import Notification


class NotificationQueue:
    def __init__(self, size: int) -> None:
        self.size = size
        self._items: deque[Notification] = deque()
        self._changed = threading.Condition()
        self._closed = False

    def put(self, notification: Notification) -> str | None:
        """None when queued, else why not (closed, or full)."""
        with self._changed:
            if self._closed:
                return "dispatcher closed"
            if len(self._items) >= self.size:
                return f"queue full ({self.size} pending)"
            self._items.append(notification)
            self._changed.notify()
            return None

    def take(self) -> Notification | None:
        """The oldest notification, waiting for one; None once closed and empty."""
        with self._changed:
            while not self._items and not self._closed:
                self._changed.wait()
            return self._items.popleft() if self._items else None

    def close(self) -> None:
        """Refuses new notifications; ``take`` still hands out what is queued."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def drain(self) -> list[Notification]:
        """Empties the queue and returns what was in it."""
        with self._changed:
            items, self._items = list(self._items), deque()
            self._changed.notify_all()
            return items
