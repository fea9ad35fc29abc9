"""ccxt exceptions: their bounded ``error.type``, and their message and stack trace as recorded.

ccxt messages carry the request URL (with ``signature=...`` for signed calls) and the
exchange's response body, and their ``__context__`` chain repeats the URL in the HTTP
library's own message: both are recorded only through ``_secrets.scrub``.
"""

from __future__ import annotations

import traceback
from types import ModuleType
from typing import Any, Final

from otel_trading._state import STATE
from otel_trading.instrumentation.ccxt._secrets import scrub

# Most specific first: each is checked with isinstance in this order, so a subclass never
# falls into its parent's bucket (OrderNotFound is an InvalidOrder; in ccxt < 4.2,
# RateLimitExceeded is a DDoSProtection).
ERROR_CLASSES: Final = (
    "RateLimitExceeded",
    "DDoSProtection",
    "RequestTimeout",
    "ExchangeNotAvailable",
    "NetworkError",
    "AuthenticationError",
    "InsufficientFunds",
    "OrderNotFound",
    "InvalidOrder",
    "ExchangeError",
)
OTHER: Final = "other"
_MAX_CACHED_TYPES: Final = 256


class ErrorClassifier:
    """Maps an exception to one of ``ERROR_CLASSES`` or ``"other"``, cached per exception type."""

    __slots__ = ("_cache", "_classes")

    def __init__(self, errors: ModuleType) -> None:
        classes: list[tuple[str, type[BaseException]]] = []
        for name in ERROR_CLASSES:
            kind = getattr(errors, name, None)
            if isinstance(kind, type) and issubclass(kind, BaseException):
                classes.append((name, kind))
        self._classes = tuple(classes)
        self._cache: dict[type[BaseException], str] = {}

    def __call__(self, exc: BaseException) -> str:
        kind = type(exc)
        name = self._cache.get(kind)
        if name is None:
            name = next((n for n, cls in self._classes if isinstance(exc, cls)), OTHER)
            if len(self._cache) < _MAX_CACHED_TYPES:
                self._cache[kind] = name
        return name


def describe(exc: BaseException, exchange: Any) -> tuple[str, str]:
    """The scrubbed message and stack trace (with chained exceptions) of ``exc``."""
    try:
        message = str(exc)
    except Exception:  # noqa: BLE001 - an exception's __str__ may raise; the type name is recorded anyway
        message = ""
    stacktrace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    limit = STATE.max_attribute_length
    return scrub(message, exchange)[:limit], scrub(stacktrace, exchange)
