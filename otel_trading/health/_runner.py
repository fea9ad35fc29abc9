"""The background runner: the ``otel-trading-health`` thread and the asyncio loop that starts checks.

Checks never run on the caller's thread nor on a request. One daemon thread owns an
asyncio loop that starts every check at its interval: async checks run on that loop (or on
the loop given at registration), sync checks each in a short-lived daemon thread, so a
check stuck in a blocking call holds one thread and nothing else. Which checks are due,
and what their runs produced, is the registry's business: the runner only asks it and
tells it, so all run state stays under the registry's lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import threading
import time
from typing import TYPE_CHECKING, Any

from otel_trading.health._check_types import RegisteredCheck
from otel_trading.tracing._operation import report_instrumentation_failure

if TYPE_CHECKING:
    from otel_trading.health._registry import HealthRegistry


class Runner:
    """The ``otel-trading-health`` thread and its event loop."""

    def __init__(self, registry: HealthRegistry) -> None:
        self._registry = registry
        self.loop = asyncio.new_event_loop()
        self._event: asyncio.Event | None = None
        self._stopping = False
        self._tasks: set[asyncio.Future[Any]] = set()
        self.pid = os.getpid()
        self.thread = threading.Thread(target=self._main, name="otel-trading-health", daemon=True)
        self.thread.start()

    def alive(self) -> bool:
        return self.pid == os.getpid() and self.thread.is_alive() and not self._stopping

    def wake(self) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: the runner has stopped
            self.loop.call_soon_threadsafe(self._set)

    def _set(self) -> None:
        if self._event is not None:
            self._event.set()

    def stop(self, timeout: float) -> None:
        self._stopping = True
        self.wake()
        if threading.current_thread() is not self.thread:
            self.thread.join(timeout)

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._schedule())
        except Exception:  # noqa: BLE001 - logged; the next health call restarts the runner
            report_instrumentation_failure("health check runner")
        finally:
            self._close()

    def _close(self) -> None:
        pending = [task for task in asyncio.all_tasks(self.loop) if not task.done()]
        for task in pending:
            task.cancel()
        if pending:
            with contextlib.suppress(Exception):
                self.loop.run_until_complete(asyncio.wait(pending, timeout=0.5))
        self.loop.close()

    async def _schedule(self) -> None:
        self._event = event = asyncio.Event()
        registry = self._registry
        while not self._stopping:
            due, wake_at = registry.take_due(time.monotonic())
            for check in due:
                task = asyncio.ensure_future(self._run(check))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(event.wait(), max(0.0, wake_at - time.monotonic()))
            event.clear()

    async def _run(self, check: RegisteredCheck) -> None:
        registry = self._registry
        started = check.running_since if check.running_since is not None else time.monotonic()
        try:
            future = self._launch(check)
        except Exception as exc:  # noqa: BLE001 - calling the check failed: that is its result
            registry.finished(check, started, (False, exc), after_timeout=False)
            self._set()
            return
        done, _ = await asyncio.wait({future}, timeout=check.timeout)
        if not done:
            registry.timed_out(check, started)
            if check.is_async:
                future.cancel()  # a sync check's thread cannot be stopped: it is waited for below
            await asyncio.wait({future})
        registry.finished(check, started, _settled(check, future), after_timeout=not done)
        self._set()

    def _launch(self, check: RegisteredCheck) -> asyncio.Future[Any]:
        if check.is_async:
            awaitable = check.fn()
            target = check.loop
            if target is None or target is self.loop:
                task: asyncio.Future[Any] = asyncio.ensure_future(awaitable)
                return task
            coroutine = _awaited(awaitable)
            try:
                return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, target))
            except BaseException:
                coroutine.close()
                raise
        future: asyncio.Future[Any] = self.loop.create_future()
        threading.Thread(target=self._call_sync, args=(check, future), daemon=True,
                         name=f"otel-trading-health-check:{check.name}").start()
        return future

    def _call_sync(self, check: RegisteredCheck, future: asyncio.Future[Any]) -> None:
        outcome: tuple[bool, Any]
        try:
            value = check.fn()
            if inspect.isawaitable(value):  # a sync callable that returned a coroutine
                pending = asyncio.run_coroutine_threadsafe(_awaited(value), check.loop or self.loop)
                try:
                    value = pending.result(check.timeout)
                finally:
                    pending.cancel()
            outcome = (True, value)
        except BaseException as exc:  # noqa: BLE001 - whatever the check raises is its result
            outcome = (False, exc)
        with contextlib.suppress(RuntimeError):  # the runner stopped and closed its loop meanwhile
            self.loop.call_soon_threadsafe(_settle, future, outcome)


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


def _settle(future: asyncio.Future[Any], outcome: tuple[bool, Any]) -> None:
    if not future.done():
        future.set_result(outcome)


def _settled(check: RegisteredCheck, future: asyncio.Future[Any]) -> tuple[bool, Any]:
    if future.cancelled():
        return False, asyncio.CancelledError()
    exc = future.exception()
    if exc is not None:
        return False, exc
    if check.is_async:
        return True, future.result()
    result: tuple[bool, Any] = future.result()
    return result
