"""Callbacks on fire and resolve (kill switches, position flattening), run off the engine thread.

A callback may be sync or async. Async ones run on the event loop given to ``on_fire`` /
``on_resolve`` (the bot's own loop, so they can touch its state safely) or, without one, on
a private loop. A callback that raises or times out is logged and reported to
``failed(name, alert, error)`` (the engine raises an ``AlertActionFailed`` alert); it never
reaches the engine loop.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Final

from otel_trading.alerts._model import Alert

_LOG = logging.getLogger("otel_trading.alerts")
_STOP: Final = object()
Callback = Callable[[Alert], Any]


@dataclass(frozen=True)
class Action:
    callback: Callback
    on: str  # "firing" or "resolved"
    rule: str | None = None
    loop: asyncio.AbstractEventLoop | None = None
    timeout_s: float = 10.0

    @property
    def name(self) -> str:
        return getattr(self.callback, "__qualname__", None) or repr(self.callback)

    def wants(self, alert: Alert) -> bool:
        return alert.status == self.on and (self.rule is None or self.rule == alert.name)


class ActionRunner:
    """One worker thread running callbacks in order; ``submit`` never blocks."""

    def __init__(self, failed: Callable[[str, Alert, BaseException | None], None]) -> None:
        self.actions: list[Action] = []
        self._failed = failed
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, alert: Alert) -> None:
        for action in self.actions:
            if action.wants(alert):
                self._ensure_started()
                self._queue.put((action, alert))

    def _ensure_started(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="otel-trading-alert-actions", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while (item := self._queue.get()) is not _STOP:
            pair: tuple[Action, Alert] = item  # type: ignore[assignment]  # the queue holds pairs and _STOP
            self.run(*pair)

    def run(self, action: Action, alert: Alert) -> None:
        try:
            result = action.callback(alert)
            if inspect.isawaitable(result):
                self._await(result, action)
        except Exception as exc:  # noqa: BLE001 - a user's callback must not stop the alert engine
            _LOG.error("alert action %s failed for %s: %s: %s", action.name, alert.name, type(exc).__name__, exc)
            self._failed(action.name, alert, exc)
            return
        self._failed(action.name, alert, None)

    @staticmethod
    def _await(result: Any, action: Action) -> None:
        async def wrapped() -> Any:
            return await result

        if action.loop is not None and action.loop.is_running():
            future: Future[Any] = asyncio.run_coroutine_threadsafe(wrapped(), action.loop)
            future.result(timeout=action.timeout_s)
        else:
            asyncio.run(asyncio.wait_for(wrapped(), action.timeout_s))

    def close(self, timeout_s: float = 5.0) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(_STOP)
            thread.join(timeout_s)
