"""Bounded shutdown at interpreter exit, on SIGTERM and in forked children."""

from __future__ import annotations

import atexit
import logging
import math
import multiprocessing.util
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable
from types import FrameType
from typing import Any

from otel_trading.config._parse import MAX_SECONDS

_LOG = logging.getLogger("otel_trading")


def bounded_timeout(timeout_s: float) -> float:
    """A caller's timeout made safe to wait on: from 0 to MAX_SECONDS, nan as 0.

    Thread waits raise OverflowError past threading.TIMEOUT_MAX (so ``shutdown(timeout=inf)``
    would raise into the bot) and return at once on nan.
    """
    return 0.0 if math.isnan(timeout_s) else min(max(timeout_s, 0.0), MAX_SECONDS)


def run_bounded(tasks: Iterable[tuple[str, Callable[[], object]]], timeout_s: float) -> bool:
    """Runs each task on its own daemon thread; returns whether all finished within the timeout.

    Used for every shutdown step, because an exporter talking to a black-hole collector can
    block far longer than a bot may take to stop. A task returning False counts as failed.
    """
    deadline = time.monotonic() + timeout_s
    threads = []
    failed: list[str] = []
    for name, task in tasks:
        thread = threading.Thread(target=_guarded(name, task, failed), name=f"otel-trading-shutdown-{name}",
                                  daemon=True)
        thread.start()
        threads.append((name, thread))
    finished = True
    for name, thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            finished = False
            _LOG.warning("shutdown of %s did not finish within %.1fs; giving up on it", name, timeout_s)
    return finished and not failed


def _guarded(name: str, task: Callable[[], object], failed: list[str]) -> Callable[[], None]:
    def run() -> None:
        try:
            if task() is False:
                failed.append(name)
        except Exception:  # noqa: BLE001 - one failing exporter must not stop the others
            failed.append(name)
            _LOG.exception("shutdown of %s failed", name)

    return run


class ExitHooks:
    """Installed once per process; calls ``shutdown(timeout)`` of whatever is configured then."""

    def __init__(self, shutdown: Callable[[], object]) -> None:
        self._shutdown = shutdown
        self._installed = False
        self._signals_installed = False
        self._previous_sigterm: Any = None

    def install(self, *, signals: bool) -> None:
        if signals and not self._signals_installed and threading.current_thread() is threading.main_thread():
            self._signals_installed = True
            self._previous_sigterm = signal.getsignal(signal.SIGTERM)
            signal.signal(signal.SIGTERM, self._on_sigterm)
        if self._installed:
            return
        self._installed = True
        atexit.register(self._shutdown)
        # multiprocessing clears its finalizer registry when a forked child starts, so a
        # Finalize registered from os.register_at_fork would be lost; this hook runs after that.
        multiprocessing.util.register_after_fork(self, ExitHooks._after_fork_in_child)

    def _after_fork_in_child(self) -> None:
        # multiprocessing children leave through os._exit(), which skips atexit; its own
        # finalizers still run, so flush from there too.
        multiprocessing.util.Finalize(None, self._shutdown, exitpriority=100)

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        # Flush on a helper thread: the signal may have interrupted the main thread while it
        # held a lock that the flush needs.
        run_bounded([("sigterm-flush", self._shutdown)], timeout_s=30.0)
        previous = self._previous_sigterm
        if callable(previous):
            previous(signum, frame)
        elif previous in (signal.SIG_DFL, None):
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
