"""Spans: the ``@traced`` decorator and the ``span()`` context manager."""

from otel_trading.tracing._decorator import traced
from otel_trading.tracing._span import span

__all__ = ["span", "traced"]
