"""Keeping an exchange's credentials out of everything recorded, not only its calls.

The credentials of an exchange are registered with the SDK's redactor when the exchange is
first called (and again when an error or a ccxt log record is scrubbed), so the redactor cuts
them out literally wherever they appear afterwards: a venue echoing them in free text, the
bot logging them by mistake, an exception message. The redactor's patterns then remove
secret-looking ``key=value`` pairs, quoted ``'key': 'value'`` pairs (ccxt's DEBUG log of
request headers), ``Bearer`` tokens and URL user info.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable, Iterable
from typing import Any, Final

from otel_trading._state import STATE
from otel_trading.redaction import MIN_SECRET_LENGTH, Redactor
from otel_trading.tracing._operation import report_instrumentation_failure

# Attributes of a ccxt exchange that hold credentials (ccxt's ``requiredCredentials`` keys,
# less the public wallet address).
_CREDENTIAL_ATTRIBUTES: Final = ("apiKey", "secret", "password", "uid", "login", "privateKey", "token", "twofa")
_PRUNE_AT: Final = 256


def credentials(exchange: Any) -> list[str]:
    values = []
    for attribute in _CREDENTIAL_ATTRIBUTES:
        value = getattr(exchange, attribute, None)
        if isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH:
            values.append(value)
    return values


class CredentialRegistry:
    """Registers each called exchange's credentials with the redactor in force, once per
    exchange and redactor: the hot path is a dict lookup and a weakref call."""

    def __init__(self) -> None:
        self._seen: dict[int, tuple[weakref.ref[Any], Redactor]] = {}
        self._lock = threading.Lock()

    def register(self, exchange: Any) -> None:
        redactor = STATE.redactor
        seen = self._seen.get(id(exchange))
        if seen is not None and seen[1] is redactor and seen[0]() is exchange:
            return
        redactor.add_secret_values(credentials(exchange))
        try:
            ref = weakref.ref(exchange)
        except TypeError:  # not weak-referenceable: registered again on each call (a set lookup)
            return
        with self._lock:
            if len(self._seen) >= _PRUNE_AT:
                self._seen = {key: entry for key, entry in self._seen.items() if entry[0]() is not None}
            self._seen[id(exchange)] = (ref, redactor)


REGISTRY: Final = CredentialRegistry()


def scrub(text: str, exchange: Any) -> str:
    # Registered again: credentials set after the exchange's first call are covered too.
    STATE.redactor.add_secret_values(credentials(exchange))
    return STATE.redactor.scrub_text(text)


class CredentialFilter(logging.Filter):
    """Cuts the credentials of known exchanges out of ccxt's own log records.

    Attached to ccxt's logger while instrumented. ccxt only logs requests at DEBUG, and a
    logger filter runs only for records that level lets through, so it costs nothing otherwise.
    """

    def __init__(self, exchanges: Callable[[], Iterable[Any]]) -> None:
        super().__init__()
        self._exchanges = exchanges

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            redactor = STATE.redactor
            redactor.add_secret_values(v for e in self._exchanges() for v in credentials(e))
            message = record.getMessage()
            cleaned = redactor.scrub_text(message)
            if cleaned != message:
                record.msg, record.args = cleaned, ()
        except Exception:  # noqa: BLE001 - the record is still logged, and pattern-scrubbed at export
            report_instrumentation_failure("ccxt log filter")
        return True
