"""Parsing of configure() arguments and OTEL_* values.

Every failure is a ``ConfigurationError`` naming the argument or variable and what was expected.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Final
from urllib.parse import unquote

MAX_SECONDS: Final = 86_400.0
"""Longest duration any setting takes (one day): far past any sensible delay or timeout, and
well within what thread waits accept (longer ones raise OverflowError past threading.TIMEOUT_MAX)."""


class ConfigurationError(ValueError):
    """An argument or environment variable of configure() has an invalid value."""


def env(name: str, environ: Mapping[str, str]) -> str | None:
    value = environ.get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


def parse_bool(value: str, source: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise ConfigurationError(f"{source}: expected true or false, got {value!r}")


def parse_key_values(value: str, source: str) -> dict[str, str]:
    """Parses ``k1=v1,k2=v2`` (W3C baggage style, percent-decoded) as OTEL_* variables use."""
    result: dict[str, str] = {}
    for index, item in enumerate(filter(None, (p.strip() for p in value.split(","))), start=1):
        key, sep, val = item.partition("=")
        if not sep or not key.strip():
            # The value may be a credential (headers): name its position, never echo it.
            raise ConfigurationError(f"{source}: item {index} is not of the form key=value")
        result[unquote(key.strip())] = unquote(val.strip())
    return result


def parse_number(
    value: object, source: str, *, minimum: float = 0, maximum: float | None = None, integer: bool = False,
    unit: str = "",
) -> float:
    """A finite number (an int when ``integer``) from ``minimum`` to ``maximum``, from a string or a number.

    nan and infinities are refused everywhere: as a delay they make a thread spin (nan) or die
    (inf), as a timeout they give up at once or overflow. The message states the allowed range.
    """
    number = _finite_number(value, integer=integer)
    if number is None or number < minimum or (maximum is not None and number > maximum):
        kind = "an integer" if integer else "a number"
        bounds = f"from {_shown(minimum)} to {_shown(maximum)}" if maximum is not None else f">= {_shown(minimum)}"
        raise ConfigurationError(f"{source}: expected {kind} {bounds}{f' ({unit})' if unit else ''}, got {value!r}")
    return number


def _finite_number(value: object, *, integer: bool) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None  # True is an int to Python, never a meant number
    try:
        if integer:
            if isinstance(value, float):
                return int(value) if value.is_integer() else None  # is_integer() is False for nan and inf
            return int(value)
        number = float(value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _shown(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() else str(bound)
