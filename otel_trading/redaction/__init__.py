"""Secret redaction applied to every attribute, log field and exception text we export."""

from otel_trading.redaction._redactor import REDACTED, Redactor

__all__ = ["REDACTED", "Redactor"]
