"""The check types shared by the registry and the runner, and how a check's return value becomes a result.

A registered check carries both its settings, validated once at registration, and the state
of its runs, so the registry and the runner pass one object around instead of re-checking
arguments or keeping parallel tables. Checks are user code: they may return almost anything,
raise anything, or put credentials in their messages, so everything a run produces passes
through ``outcome_of()`` before it is stored, and the endpoints, logs and metrics only ever
see a bounded, JSON-ready and redacted detail.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from otel_trading._state import STATE
from otel_trading.tracing._operation import error_type

Kind = Literal["readiness", "liveness"]
KINDS: Final = ("readiness", "liveness")
DEFAULT_TIMEOUT_S: Final = 2.0
DEFAULT_INTERVAL_S: Final = 5.0
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
class Outcome:
    """The stored result of one run of a check."""

    ok: bool
    detail: str | dict[str, Any] | None
    duration_s: float
    finished: float  # time.monotonic()
    finished_wall: float  # time.time()
    reason: str | None  # why it failed: "unhealthy", "error" or "timeout"


class RegisteredCheck:
    """One check's settings (fixed at registration) and its run state (guarded by the registry's lock)."""

    def __init__(self, name: str, fn: Callable[[], Any], *, timeout: float, interval: float, critical: bool,
                 kind: Kind, loop: asyncio.AbstractEventLoop | None) -> None:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"a health check needs a non-empty name, got {name!r}")
        if not callable(fn):
            raise TypeError(f"health check {name!r}: expected a callable, got {type(fn).__name__}")
        require_positive_seconds(timeout, f"health check {name!r}: timeout")
        require_positive_seconds(interval, f"health check {name!r}: interval")
        if kind not in KINDS:
            raise ValueError(f"health check {name!r}: kind must be 'readiness' or 'liveness', got {kind!r}")
        if loop is not None and not isinstance(loop, asyncio.AbstractEventLoop):
            raise TypeError(f"health check {name!r}: loop must be an asyncio event loop")
        self.name = name
        self.fn = fn
        self.timeout = float(timeout)
        self.interval = float(interval)
        self.critical = bool(critical)
        self.kind = kind
        self.loop = loop
        self.is_async = is_async_callable(fn)
        self.stale_after = 2 * self.interval + self.timeout + _STALE_GRACE_S
        self.outcome: Outcome | None = None
        self.running_since: float | None = None
        self.next_due = 0.0
        self.skipped_runs = 0
        self.skipped_this_run = 0
        self.consecutive_failures = 0
        self.last_success_wall: float | None = None
        self.removed = False


def is_async_callable(fn: Any) -> bool:
    """Whether calling ``fn`` gives a coroutine: an async function, or an object with an async ``__call__``."""
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(getattr(fn, "__call__", None))  # noqa: B004 - an object with an async __call__ is an async check


def require_positive_seconds(value: float, what: str) -> None:
    """Raises ValueError naming ``what`` unless ``value`` is a finite number above zero (bool excluded)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{what} must be a positive number of seconds, got {value!r}")


def outcome_of(result: tuple[bool, Any], duration: float, now: float) -> Outcome:
    """The outcome of a run that ended: ``result`` is (True, returned value) or (False, exception)."""
    returned, value = result
    if not returned:
        if isinstance(value, asyncio.CancelledError):
            detail: str | dict[str, Any] | None = "cancelled"
        else:
            detail = exception_text(value)
        return Outcome(False, detail, duration, now, time.time(), "error")
    ok, detail = interpret(value)
    return Outcome(ok, detail, duration, now, time.time(), None if ok else "unhealthy")


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
    """``text`` with credentials scrubbed out, bounded in length."""
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


def detail_text(detail: str | dict[str, Any] | None) -> str:
    """A stored detail as one log-ready string."""
    if detail is None:
        return "no detail"
    return detail if isinstance(detail, str) else json.dumps(detail)
