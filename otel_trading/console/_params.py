"""Query-string and body values of the console API, checked where they enter.

A bad value is a 400 whose message names the parameter and what was expected, never a
traceback nor a silently ignored filter.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Final, TypeVar

Query = Mapping[str, Sequence[str]]
MAX_LIMIT: Final = 10_000


class ApiError(Exception):
    """An answer other than 200: ``status`` and a message for the ``{"error": ...}`` body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def text(query: Query, name: str) -> str | None:
    values = query.get(name)
    if not values:
        return None
    value = values[-1].strip()
    return value or None


Choice = TypeVar("Choice", bound=str)


def choice(query: Query, name: str, allowed: Sequence[Choice]) -> Choice | None:
    """The parameter's value, one of ``allowed`` (typed as they are: a Literal stays one), else None."""
    value = text(query, name)
    if value is None:
        return None
    for option in allowed:
        if option == value:
            return option
    raise ApiError(400, f"{name}={value!r}: expected one of {', '.join(allowed)}")


def integer(query: Query, name: str, *, minimum: int = 0, maximum: int | None = None) -> int | None:
    value = text(query, name)
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        raise ApiError(400, f"{name}={value[:40]!r}: expected a whole number") from None
    if number < minimum or (maximum is not None and number > maximum):
        upper = f" and {maximum}" if maximum is not None else ""
        raise ApiError(400, f"{name}={number}: expected a number between {minimum}{upper or ' and more'}")
    return number


def number(query: Query, name: str) -> float | None:
    value = text(query, name)
    if value is None:
        return None
    try:
        result = float(value)
    except ValueError:
        raise ApiError(400, f"{name}={value[:40]!r}: expected a number") from None
    if not math.isfinite(result) or result < 0:
        raise ApiError(400, f"{name}={value[:40]!r}: expected a finite number >= 0")
    return result


def limit(query: Query, default: int | None = 100) -> int | None:
    given = integer(query, "limit", minimum=1, maximum=MAX_LIMIT)
    return default if given is None else given


def pairs(query: Query, name: str) -> list[tuple[str, str]]:
    """``name=k=v`` (repeatable) as (k, v) pairs."""
    found = []
    for raw in query.get(name, ()):
        key, sep, value = raw.partition("=")
        if not sep or not key.strip():
            raise ApiError(400, f"{name}={raw[:60]!r}: expected key=value")
        found.append((key.strip(), value))
    return found


def body_text(body: Mapping[str, Any], name: str, *, required: bool = False, max_length: int = 500) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise ApiError(400, f"body field {name!r} is required")
        return None
    if not isinstance(value, str) or len(value) > max_length:
        raise ApiError(400, f"body field {name!r}: expected text of at most {max_length} characters")
    return value


def body_seconds(body: Mapping[str, Any], name: str, *, maximum: float) -> float:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not 0 < value <= maximum:
        raise ApiError(400, f"body field {name!r}: expected seconds > 0 and at most {maximum:g}, got {value!r}")
    return float(value)
