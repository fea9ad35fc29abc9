"""The ``otel-trading`` command."""

from otel_trading.cli._main import main

__all__ = ["main"]
