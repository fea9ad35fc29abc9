"""What the bot passes to the trading API, checked where it enters: never raises into the bot.

A side is recorded as ``buy`` or ``sell`` (its accepted spellings folded), anything else as
``unknown``; an amount or price must be a finite number > 0. A bad value is logged once on
the SDK's logger (per distinct side; per call, field and problem for numbers) naming the call, the
field, the value and what was expected; the caller decides what the value may still feed.
"""

from __future__ import annotations

import datetime as _dt
import logging
import math
import numbers
import threading
from typing import Any, Final, TypeAlias

from otel_trading._state import STATE, Slot

_LOG = logging.getLogger("otel_trading.trading")
UNKNOWN_SIDE: Final = "unknown"
_SIDES: Final = {"buy": "buy", "long": "buy", "bid": "buy", "sell": "sell", "short": "sell", "ask": "sell"}
# A bot that sends a new bad value on every call must not grow this set without bound.
_MAX_REPORTED: Final = 1000
_REPORTED: Final[Slot[set[tuple[str, ...]]]] = Slot("bad trading inputs reported", set)
_reported_lock = threading.Lock()

Timestamp: TypeAlias = _dt.datetime | int
"""When an event happened: int nanoseconds since the Unix epoch (OTel's ``start_time``/``end_time``,
``time.time_ns()``) or a ``datetime`` (aware, or naive meaning UTC)."""
_EPOCH: Final = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
# Nanoseconds before 1971 are almost surely seconds or milliseconds passed by mistake.
_EARLIEST_NS: Final = 365 * 86_400 * 10**9
# The largest signed 64-bit nanosecond count (2262-04-11): what OTel exporters and the store encode.
_LATEST_NS: Final = 2**63 - 1


def _first_time(key: tuple[str, ...]) -> bool:
    with _reported_lock:
        reported = _REPORTED.get()
        if key in reported or len(reported) >= _MAX_REPORTED:
            return False
        reported.add(key)
        return True


def warn_once(key: tuple[str, ...], message: str, *args: object) -> None:
    """Logs ``message`` as a warning the first time ``key`` is seen (bounded like the bad values)."""
    if _first_time(key):
        _LOG.warning(message, *args)


def _shown(value: object) -> str:
    """``repr(value)``, shortened and scrubbed: a log line must not carry a secret the bot mixed in."""
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a user's __repr__ may raise; the type name is enough
        text = f"<{type(value).__name__}>"
    if len(text) > 80:
        text = text[:77] + "..."
    return STATE.redactor.scrub_text(text)


def canonical_side(side: object, where: str) -> str:
    """``buy``/``sell`` for buy/long/bid and sell/short/ask in any case; ``unknown`` otherwise, logged once."""
    if isinstance(side, str):
        canonical = _SIDES.get(side) or _SIDES.get(side.strip().lower())
        if canonical is not None:
            return canonical
    shown = _shown(side)
    if _first_time(("side", shown)):
        _LOG.warning(
            "%s: side %s is not 'buy' or 'sell' (nor long/short/bid/ask); recorded as side 'unknown', "
            "its fills are not applied to a portfolio and get no slippage (logged once per value)",
            where, shown,
        )
    return UNKNOWN_SIDE


def side_sign_or_none(side: str) -> int | None:
    """+1 for a canonical ``buy``, -1 for ``sell``, None for ``unknown``."""
    return 1 if side == "buy" else -1 if side == "sell" else None


def _as_float(value: Any) -> float | None:
    """A number (int, float, Decimal, numpy scalar) as a float; None for anything else, text included."""
    if isinstance(value, (str, bytes, bool)):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _problem(number: float | None) -> str:
    """The kind of a bad number: few kinds, so logging once per kind stays bounded however many values."""
    if number is None:
        return "not a number"
    return "not finite" if not math.isfinite(number) else "not positive"


def positive_number(value: object, field: str, where: str, consequence: str) -> float | None:
    """``value`` as a float if it is a finite number > 0; otherwise None, logged once per call, field, problem."""
    if type(value) is float and 0 < value < math.inf:  # the hot path: a plain valid float
        return value
    number = _as_float(value)
    if number is not None and math.isfinite(number) and number > 0:
        return number
    if _first_time(("number", where, field, _problem(number))):
        _LOG.warning("%s: %s must be a finite number > 0, got %s; %s (logged once per call, field and problem)",
                     where, field, _shown(value), consequence)
    return None


def finite_number(value: object, field: str, where: str, consequence: str) -> float | None:
    """``value`` as a float if it is a finite number (of any sign); otherwise None, logged once."""
    if type(value) is float and math.isfinite(value):  # the hot path: a plain valid float
        return value
    number = _as_float(value)
    if number is not None and math.isfinite(number):
        return number
    if _first_time(("number", where, field, _problem(number))):
        _LOG.warning("%s: %s must be a finite number, got %s; %s (logged once per call, field and problem)",
                     where, field, _shown(value), consequence)
    return None


def finite_or_zero(value: object, field: str, where: str) -> float:
    """``value`` as a float if it is a finite number (a fee may be negative: a rebate); else 0.0, logged once."""
    number = finite_number(value, field, where, "0 is used")
    return 0.0 if number is None else number


def _datetime_nanos(value: _dt.datetime) -> int:
    """Exact Unix nanoseconds of an aware datetime, or of a naive one taken as UTC."""
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=_dt.timezone.utc)
    delta = value - _EPOCH
    nanos = getattr(delta, "nanoseconds", 0)  # pandas.Timestamp keeps nanoseconds; datetime has none
    return ((delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds) * 1_000 + int(nanos)


def unix_nanos(value: object, field: str, where: str) -> int | None:
    """``value`` (a :data:`Timestamp`) as Unix nanoseconds; None, logged once per call, field and
    problem, when it is not one (a float, text, a time before 1971 or after 2262)."""
    if type(value) is int and _EARLIEST_NS <= value <= _LATEST_NS:  # the hot path: a plain valid int
        return value
    nanos: int | None = None
    try:
        if isinstance(value, _dt.datetime):
            nanos = _datetime_nanos(value)
        elif isinstance(value, bool):
            nanos = None  # True is an int to Python, not a time
        elif isinstance(value, numbers.Integral):  # int, numpy integers
            nanos = int(value)
    except (ArithmeticError, TypeError, ValueError):  # an out-of-range datetime, a broken tzinfo
        nanos = None
    if nanos is not None and _EARLIEST_NS <= nanos <= _LATEST_NS:
        return nanos
    if nanos is not None:
        problem = "out of range"
        expected = ("a time between 1971 and 2262 (seconds or milliseconds given as nanoseconds? "
                    "multiply seconds by 10**9)")
    else:
        problem = "not a time"
        expected = ("int nanoseconds since the Unix epoch (as OTel's start_time/end_time, time.time_ns()) "
                    "or a datetime (naive means UTC); a float is not accepted: seconds or milliseconds?")
    if _first_time(("time", where, field, problem)):
        _LOG.warning("%s: %s must be %s, got %s; the call is recorded as if no %s were given "
                     "(logged once per call, field and problem)", where, field, expected, _shown(value), field)
    return None
