"""Secret redaction applied to every attribute, log field and exception text we export."""

from otel_trading.redaction._redactor import MIN_SECRET_LENGTH, REDACTED, Redactor

__all__ = ["MIN_SECRET_LENGTH", "REDACTED", "Redactor"]
