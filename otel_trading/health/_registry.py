"""Registered health checks, the background runner that executes them, and their latest results.

Checks never run on the caller's thread nor on a request. One daemon thread,
``otel-trading-health``, owns an asyncio loop that starts every check at its interval:
async checks run on that loop (or on the loop given at registration), sync checks each in a
short-lived daemon thread, so a check stuck in a blocking call holds one thread and nothing
else. A check still running when it is due again is not started again (the skipped run is
counted), so a hung check cannot pile up threads or tasks.

Endpoints and gauges only read the latest results under a lock. They judge "now": a run
past its timeout is reported as timed out even before the runner notices, and a result
that should have been refreshed long ago is reported stale.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Final, Literal

from otel_trading._state import STATE
from otel_trading.health._names import HEALTH_CHECK_DURATION, HEALTH_CHECK_FAILURES, HEALTH_STATUS
from otel_trading.metrics._local import observe_process_gauge
from otel_trading.metrics._names import DURATION_BUCKETS_SECONDS
from otel_trading.tracing._operation import error_type, report_instrumentation_failure

_LOG = logging.getLogger("otel_trading.health")

Kind = Literal["readiness", "liveness"]
KINDS: Final = ("readiness", "liveness")
DEFAULT_TIMEOUT_S: Final = 2.0
DEFAULT_INTERVAL_S: Final = 5.0
# The runner is woken when checks change; this only bounds its sleep, defensively.
_MAX_SLEEP_S: Final = 1.0
# A result older than 2 intervals + timeout + this is stale: the runner is not running checks.
_STALE_GRACE_S: Final = 1.0
_MAX_DETAIL_CHARS: Final = 500
_MAX_DETAIL_JSON_CHARS: Final = 2000
_SCRUB_WINDOW_CHARS: Final = 4000  # scrubbed before truncation, far past what is kept


@dataclass(frozen=True)
class CheckResult:
    """What a check returns to say *why* it is unhealthy, or to attach details when healthy."""

    healthy: bool
    detail: str | Mapping[str, Any] | None = None


@dataclass
class _Outcome:
    ok: bool
    detail: str | dict[str, Any] | None
    duration_s: float
    finished: float  # time.monotonic()
    finished_wall: float  # time.time()
    reason: str | None  # why it failed: "unhealthy", "error" or "timeout"


class _Check:
    def __init__(self, name: str, fn: Callable[[], Any], *, timeout: float, interval: float, critical: bool,
                 kind: Kind, loop: asyncio.AbstractEventLoop | None) -> None:
        self.name = name
        self.fn = fn
        self.timeout = timeout
        self.interval = interval
        self.critical = critical
        self.kind = kind
        self.loop = loop
        self.is_async = _is_async_callable(fn)
        self.stale_after = 2 * interval + timeout + _STALE_GRACE_S
        # Run state, guarded by the registry's lock.
        self.outcome: _Outcome | None = None
        self.running_since: float | None = None
        self.next_due = 0.0
        self.skipped_runs = 0
        self.skipped_this_run = 0
        self.consecutive_failures = 0
        self.last_success_wall: float | None = None
        self.removed = False


def _is_async_callable(fn: Any) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(getattr(fn, "__call__", None))  # noqa: B004 - an object with an async __call__ is an async check


class HealthRegistry:
    """The checks of the process, their latest results and the runner executing them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._checks: dict[str, _Check] = {}
        self._runner: _Runner | None = None

    # --- registration ---

    def add(self, name: str, check: Callable[[], Any], *, timeout: float = DEFAULT_TIMEOUT_S,
            interval: float = DEFAULT_INTERVAL_S, critical: bool = True, kind: Kind = "readiness",
            loop: asyncio.AbstractEventLoop | None = None) -> None:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"a health check needs a non-empty name, got {name!r}")
        if not callable(check):
            raise TypeError(f"health check {name!r}: expected a callable, got {type(check).__name__}")
        _require_positive(name, "timeout", timeout)
        _require_positive(name, "interval", interval)
        if kind not in KINDS:
            raise ValueError(f"health check {name!r}: kind must be 'readiness' or 'liveness', got {kind!r}")
        if loop is not None and not isinstance(loop, asyncio.AbstractEventLoop):
            raise TypeError(f"health check {name!r}: loop must be an asyncio event loop")
        entry = _Check(name, check, timeout=float(timeout), interval=float(interval), critical=bool(critical),
                       kind=kind, loop=loop)
        with self._lock:
            previous = self._checks.get(name)
            if previous is not None:
                previous.removed = True
            self._checks[name] = entry
            runner = self._ensure_runner()
        runner.wake()

    def remove(self, name: str) -> bool:
        with self._lock:
            check = self._checks.pop(name, None)
            if check is None:
                return False
            check.removed = True
            return True

    def clear(self, timeout: float = 1.0) -> None:
        """Removes every check and stops the runner thread (waiting up to ``timeout`` s)."""
        with self._lock:
            for check in self._checks.values():
                check.removed = True
            self._checks.clear()
            runner, self._runner = self._runner, None
        if runner is not None:
            runner.stop(timeout)

    def _ensure_runner(self) -> _Runner:
        runner = self._runner
        if runner is None or not runner.alive():
            runner = self._runner = _Runner(self)
        return runner

    def _revive(self) -> None:
        """Restarts the runner if it is gone (a forked child, or a crash) while checks exist."""
        runner = self._runner
        if self._checks and (runner is None or not runner.alive()):
            with self._lock:
                if self._checks:
                    self._ensure_runner().wake()

    def after_fork_in_child(self) -> None:
        self._lock = threading.Lock()
        self._runner = None
        for check in self._checks.values():
            check.running_since = None
            check.next_due = 0.0
            check.skipped_this_run = 0

    # --- reading ---

    def evaluate(self, probe: Kind) -> tuple[bool, dict[str, Any]]:
        """(passes, body) of ``probe``: liveness judges liveness checks, readiness all of them."""
        self._revive()
        now = time.monotonic()
        checks: dict[str, Any] = {}
        failing = degraded = False
        with self._lock:
            for check in self._checks.values():
                if probe == "liveness" and check.kind != "liveness":
                    continue
                status, detail = self._status_of(check, now)
                checks[check.name] = self._entry(check, status, detail)
                # A check that has not finished its first run keeps the bot unready, but
                # does not get it restarted.
                if status == "ok" or (status == "pending" and probe == "liveness"):
                    continue
                if check.critical:
                    failing = True
                else:
                    degraded = True
        overall = "fail" if failing else "degraded" if degraded else "ok"
        return not failing, {"status": overall, "checks": checks}

    @staticmethod
    def _status_of(check: _Check, now: float) -> tuple[str, Any]:
        outcome = check.outcome
        running = check.running_since
        if running is not None and now - running > check.timeout:
            detail = f"timed out after {check.timeout:g}s; still running after {now - running:.1f}s"
            if check.skipped_this_run:
                detail += f", {check.skipped_this_run} run(s) skipped"
            return "fail", detail
        if outcome is None:
            return "pending", "not run yet"
        if running is None and now - outcome.finished > check.stale_after:
            return "fail", (f"stale: last result {now - outcome.finished:.1f}s ago, "
                            f"expected every {check.interval:g}s (health runner stalled)")
        return ("ok" if outcome.ok else "fail"), outcome.detail

    @staticmethod
    def _entry(check: _Check, status: str, detail: Any) -> dict[str, Any]:
        outcome = check.outcome
        return {
            "status": status,
            "kind": check.kind,
            "critical": check.critical,
            "detail": detail,
            "duration_ms": round(outcome.duration_s * 1000, 3) if outcome is not None else None,
            "last_run": _iso(outcome.finished_wall) if outcome is not None else None,
            "last_success": _iso(check.last_success_wall) if check.last_success_wall is not None else None,
            "consecutive_failures": check.consecutive_failures,
            "skipped_runs": check.skipped_runs,
        }

    # --- metrics ---

    def status_points(self) -> list[tuple[dict[str, str], float]]:
        now = time.monotonic()
        points: list[tuple[dict[str, str], float]] = []
        with self._lock:
            for check in self._checks.values():
                status, _ = self._status_of(check, now)
                if status != "pending":
                    points.append(({"check": check.name}, 1.0 if status == "ok" else 0.0))
        return points

    # --- the runner's side ---

    def take_due(self, now: float) -> tuple[list[_Check], float]:
        """Checks to start now (marked running), and when the runner must look again."""
        due: list[_Check] = []
        wake_at = now + _MAX_SLEEP_S
        with self._lock:
            for check in self._checks.values():
                if check.next_due <= now:
                    if check.running_since is not None:
                        check.skipped_runs += 1
                        check.skipped_this_run += 1
                    else:
                        check.running_since = now
                        check.skipped_this_run = 0
                        due.append(check)
                    check.next_due = now + check.interval
                wake_at = min(wake_at, check.next_due)
        return due, wake_at

    def timed_out(self, check: _Check, started: float) -> None:
        now = time.monotonic()
        self._record(check, _Outcome(False, f"timed out after {check.timeout:g}s", now - started, now, time.time(),
                                     "timeout"), finished_run=False)

    def finished(self, check: _Check, started: float, result: tuple[bool, Any], *, after_timeout: bool) -> None:
        """A run ended (``result`` is (returned, value) or (False, exception))."""
        now = time.monotonic()
        duration = now - started
        if not check.removed:
            STATE.local_metrics.histogram(
                HEALTH_CHECK_DURATION, DURATION_BUCKETS_SECONDS, "s", "Duration of each health check run",
            ).record(duration, {"check": check.name})
        if not after_timeout:
            self._record(check, _make_outcome(result, duration, now), finished_run=True)
            return
        with self._lock:
            self._end_run(check, now)
            if check.outcome is not None and check.outcome.reason == "timeout":
                check.outcome.detail = f"timed out after {check.timeout:g}s (the run ended after {duration:.1f}s)"

    def _end_run(self, check: _Check, now: float) -> None:
        check.running_since = None
        if check.skipped_this_run:
            check.next_due = now  # it overran: refresh the result right away

    def _record(self, check: _Check, outcome: _Outcome, *, finished_run: bool) -> None:
        with self._lock:
            previous = check.outcome
            failures = check.consecutive_failures
            check.outcome = outcome
            if outcome.ok:
                check.consecutive_failures = 0
                check.last_success_wall = outcome.finished_wall
            else:
                check.consecutive_failures += 1
            if finished_run:
                self._end_run(check, outcome.finished)
        if check.removed:
            return
        if not outcome.ok:
            STATE.local_metrics.counter(
                HEALTH_CHECK_FAILURES, "{failure}", "Health check runs that failed, by reason",
            ).add(1, {"check": check.name, "reason": outcome.reason or "unhealthy"})
            if previous is None or previous.ok:
                _LOG.warning("health check %s is failing: %s", check.name, _detail_text(outcome.detail))
        elif previous is not None and not previous.ok:
            _LOG.info("health check %s passes again, after %d failed run(s)", check.name, failures)


def _require_positive(name: str, what: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"health check {name!r}: {what} must be a positive number of seconds, got {value!r}")


def _iso(wall: float) -> str:
    return datetime.fromtimestamp(wall, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- results ---


def _make_outcome(result: tuple[bool, Any], duration: float, now: float) -> _Outcome:
    returned, value = result
    if not returned:
        if isinstance(value, asyncio.CancelledError):
            detail: str | dict[str, Any] | None = "cancelled"
        else:
            detail = exception_text(value)
        return _Outcome(False, detail, duration, now, time.time(), "error")
    ok, detail = interpret(value)
    return _Outcome(ok, detail, duration, now, time.time(), None if ok else "unhealthy")


def interpret(value: Any) -> tuple[bool, str | dict[str, Any] | None]:
    """(healthy, scrubbed detail) of what a check returned.

    None or True: healthy. False: unhealthy. A string or a mapping: healthy, with that
    detail. A ``CheckResult``: as it says. Anything else: healthy when truthy.
    """
    if value is None:
        return True, None
    if isinstance(value, CheckResult):
        return bool(value.healthy), clean_detail(value.detail)
    if isinstance(value, bool):
        return value, None
    if isinstance(value, (str, Mapping)):
        return True, clean_detail(value)
    try:
        return bool(value), None
    except Exception as exc:  # noqa: BLE001 - a result whose truth cannot be told is a failure, not a crash
        return False, exception_text(exc)


def exception_text(exc: BaseException) -> str:
    """``module.Type: message`` with credentials scrubbed out, bounded in length."""
    try:
        message = str(exc)
    except Exception:  # noqa: BLE001 - a user's __str__ may raise; the type name is enough
        message = ""
    kind = error_type(exc)
    return clean_text(f"{kind}: {message}" if message else kind)


def clean_text(text: str) -> str:
    scrubbed = STATE.redactor.scrub_text(text[:_SCRUB_WINDOW_CHARS])
    return scrubbed if len(scrubbed) <= _MAX_DETAIL_CHARS else scrubbed[: _MAX_DETAIL_CHARS - 1] + "…"


def clean_detail(detail: Any) -> str | dict[str, Any] | None:
    """A JSON-ready, scrubbed copy of a check's detail (a string or a mapping)."""
    if detail is None:
        return None
    if isinstance(detail, Mapping):
        try:
            plain = json.loads(json.dumps(detail, default=str, allow_nan=False))
        except (TypeError, ValueError):
            plain = None
        if isinstance(plain, dict):
            scrubbed = STATE.redactor.scrub_mapping(plain)
            encoded = json.dumps(scrubbed)
            return scrubbed if len(encoded) <= _MAX_DETAIL_JSON_CHARS else clean_text(encoded)
    try:
        text = detail if isinstance(detail, str) else str(detail)
    except Exception:  # noqa: BLE001 - a user's __str__ may raise
        text = type(detail).__name__
    return clean_text(text)


def _detail_text(detail: str | dict[str, Any] | None) -> str:
    if detail is None:
        return "no detail"
    return detail if isinstance(detail, str) else json.dumps(detail)


# --- the runner ---


class _Runner:
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

    async def _run(self, check: _Check) -> None:
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

    def _launch(self, check: _Check) -> asyncio.Future[Any]:
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

    def _call_sync(self, check: _Check, future: asyncio.Future[Any]) -> None:
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


def _settled(check: _Check, future: asyncio.Future[Any]) -> tuple[bool, Any]:
    if future.cancelled():
        return False, asyncio.CancelledError()
    exc = future.exception()
    if exc is not None:
        return False, exc
    if check.is_async:
        return True, future.result()
    result: tuple[bool, Any] = future.result()
    return result


# --- the process-wide registry and its functions ---

REGISTRY: Final = HealthRegistry()
# Registered once for the process: every LocalMetrics, including those of later configure()
# calls, reads it at each collection.
observe_process_gauge(HEALTH_STATUS, REGISTRY.status_points, "1", "1 while the health check passes, 0 while it fails")
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=REGISTRY.after_fork_in_child)


def add_check(
    name: str,
    check: Callable[[], Any],
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    interval: float = DEFAULT_INTERVAL_S,
    critical: bool = True,
    kind: Kind = "readiness",
    loop: asyncio.AbstractEventLoop | None = None,
) -> None:
    """Registers (or replaces) the health check ``name``; it first runs right away, in the background.

    ``check`` is a sync or async callable taking no argument. It passes when it returns None,
    True, a string or a mapping (shown as the detail), and fails when it returns False or
    ``CheckResult(False, detail)``, raises, or runs past ``timeout`` seconds. It runs every
    ``interval`` seconds, never twice at once. A failing non-``critical`` check makes the
    probes report ``degraded`` without failing them. ``kind="liveness"`` checks count for
    ``/healthz`` (failure means "restart me") and ``/readyz``; ``"readiness"`` checks only
    for ``/readyz``. Async checks run on the health thread's own event loop, or on ``loop``
    (for objects bound to the bot's loop, such as a ``ccxt.async_support`` exchange).
    """
    REGISTRY.add(name, check, timeout=timeout, interval=interval, critical=critical, kind=kind, loop=loop)


def remove_check(name: str) -> bool:
    """Unregisters the check ``name``; False if there was none."""
    return REGISTRY.remove(name)


def clear_checks() -> None:
    """Unregisters every check and stops the background runner (until the next ``add_check``)."""
    REGISTRY.clear()


def report(probe: Kind = "readiness") -> dict[str, Any]:
    """The JSON body ``/readyz`` (or ``/healthz`` for ``"liveness"``) would answer now."""
    if probe not in KINDS:
        raise ValueError(f"probe must be 'readiness' or 'liveness', got {probe!r}")
    return REGISTRY.evaluate(probe)[1]

