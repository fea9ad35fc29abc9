"""Correlation ids and bound log context that follow work across tasks and threads."""

from otel_trading.context._correlation import (
    CORRELATION_KEY,
    ContextExecutor,
    bound,
    bound_context,
    correlation_id,
    run_in_context,
    with_context,
)

__all__ = [
    "CORRELATION_KEY",
    "ContextExecutor",
    "bound",
    "bound_context",
    "correlation_id",
    "run_in_context",
    "with_context",
]
