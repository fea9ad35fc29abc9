"""Keeping an exchange's credentials out of what is recorded about its calls.

Two layers: the exchange's own credential values are cut out literally (a venue may echo
them in free text, which no pattern recognises), then the SDK's redactor removes
secret-looking ``key=value`` pairs, quoted ``'key': 'value'`` pairs (ccxt's DEBUG log of
request headers), ``Bearer`` tokens and URL user info.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any, Final

from otel_trading._state import STATE
from otel_trading.redaction import REDACTED
from otel_trading.tracing._operation import report_instrumentation_failure

# Attributes of a ccxt exchange that hold credentials (ccxt's ``requiredCredentials`` keys,
# less the public wallet address).
_CREDENTIAL_ATTRIBUTES: Final = ("apiKey", "secret", "password", "uid", "login", "privateKey", "token", "twofa")
_MIN_CREDENTIAL_LENGTH: Final = 4  # shorter values would cut ordinary words out of messages


def credentials(exchange: Any) -> list[str]:
    values = []
    for attribute in _CREDENTIAL_ATTRIBUTES:
        value = getattr(exchange, attribute, None)
        if isinstance(value, str) and len(value) >= _MIN_CREDENTIAL_LENGTH:
            values.append(value)
    # Longest first, so a credential that contains another is removed whole.
    return sorted(values, key=len, reverse=True)


def scrub(text: str, exchange: Any) -> str:
    for value in credentials(exchange):
        text = text.replace(value, REDACTED)
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
            values = sorted({v for e in self._exchanges() for v in credentials(e)}, key=len, reverse=True)
            if values:
                message = record.getMessage()
                cleaned = message
                for value in values:
                    cleaned = cleaned.replace(value, REDACTED)
                if cleaned != message:
                    record.msg, record.args = cleaned, ()
        except Exception:  # noqa: BLE001 - the record is still logged, and pattern-scrubbed at export
            report_instrumentation_failure("ccxt log filter")
        return True
