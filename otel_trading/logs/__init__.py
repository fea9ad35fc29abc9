"""Correlated structured logs: structlog loggers and the stdlib logging bridge."""

from otel_trading.logs._logger import StdlibBridge, get_logger
from otel_trading.logs._processors import PROCESSORS

__all__ = ["PROCESSORS", "StdlibBridge", "get_logger"]
