"""The process's health checks, their latest results, and the probe reports built from them.

The registry is the one place run state is read and written, under one lock: the runner
(``_runner``) asks it which checks are due and reports back what each run produced, while
the endpoints and the ``otel_trading.health.status`` gauge only read. A check still running
when it is due again is not started again (the skipped run is counted), so a hung check
cannot pile up threads or tasks. Readers judge "now": a run past its timeout is reported as
timed out even before the runner notices, and a result that should have been refreshed long
ago is reported stale.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, Final

from otel_trading._state import Slot
from otel_trading.health._check_types import (
    DEFAULT_INTERVAL_S,
    DEFAULT_TIMEOUT_S,
    Kind,
    Outcome,
    RegisteredCheck,
    detail_text,
    outcome_of,
)
from otel_trading.health._metrics import count_check_failure, observe_check_status, record_check_duration
from otel_trading.health._runner import Runner

_LOG = logging.getLogger("otel_trading.health")

# The runner is woken when checks change; this only bounds its sleep, defensively.
_MAX_SLEEP_S: Final = 1.0


class HealthRegistry:
    """The checks of the process, their latest results and the runner executing them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._checks: dict[str, RegisteredCheck] = {}
        self._runner: Runner | None = None

    # --- registration ---

    def add(self, name: str, check: Callable[[], Any], *, timeout: float = DEFAULT_TIMEOUT_S,
            interval: float = DEFAULT_INTERVAL_S, critical: bool = True, kind: Kind = "readiness",
            loop: asyncio.AbstractEventLoop | None = None) -> None:
        entry = RegisteredCheck(name, check, timeout=timeout, interval=interval, critical=critical, kind=kind,
                                loop=loop)
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

    def _ensure_runner(self) -> Runner:
        runner = self._runner
        if runner is None or not runner.alive():
            runner = self._runner = Runner(self)
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
    def _status_of(check: RegisteredCheck, now: float) -> tuple[str, Any]:
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
    def _entry(check: RegisteredCheck, status: str, detail: Any) -> dict[str, Any]:
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

    def take_due(self, now: float) -> tuple[list[RegisteredCheck], float]:
        """Checks to start now (marked running), and when the runner must look again."""
        due: list[RegisteredCheck] = []
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

    def timed_out(self, check: RegisteredCheck, started: float) -> None:
        now = time.monotonic()
        self._record(check, Outcome(False, f"timed out after {check.timeout:g}s", now - started, now, time.time(),
                                    "timeout"), finished_run=False)

    def finished(self, check: RegisteredCheck, started: float, result: tuple[bool, Any], *,
                 after_timeout: bool) -> None:
        """A run ended (``result`` is (returned, value) or (False, exception))."""
        now = time.monotonic()
        duration = now - started
        if not check.removed:
            record_check_duration(check.name, duration)
        if not after_timeout:
            self._record(check, outcome_of(result, duration, now), finished_run=True)
            return
        with self._lock:
            self._end_run(check, now)
            if check.outcome is not None and check.outcome.reason == "timeout":
                check.outcome.detail = f"timed out after {check.timeout:g}s (the run ended after {duration:.1f}s)"

    def _end_run(self, check: RegisteredCheck, now: float) -> None:
        check.running_since = None
        if check.skipped_this_run:
            check.next_due = now  # it overran: refresh the result right away

    def _record(self, check: RegisteredCheck, outcome: Outcome, *, finished_run: bool) -> None:
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
            count_check_failure(check.name, outcome.reason or "unhealthy")
            if previous is None or previous.ok:
                _LOG.warning("health check %s is failing: %s", check.name, detail_text(outcome.detail))
        elif previous is not None and not previous.ok:
            _LOG.info("health check %s passes again, after %d failed run(s)", check.name, failures)


def _iso(wall: float) -> str:
    return datetime.fromtimestamp(wall, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _stop(registry: HealthRegistry) -> None:
    registry.clear(timeout=_MAX_SLEEP_S)


# --- the registry in force (the package's functions and the server use it) ---

REGISTRY: Final = Slot("health checks", HealthRegistry, release=_stop, after_fork=HealthRegistry.after_fork_in_child)
"""The checks of ``STATE``: an isolated block (``testing.capture()``) has its own, stopped at its end."""
observe_check_status(lambda: REGISTRY.get().status_points())
