"""Correlated structured logs: structlog loggers and the stdlib logging bridge."""

from otel_trading.logs._logger import CorrelationFilter, StdlibBridge, get_logger
from otel_trading.logs._processors import PROCESSORS, STRUCTLOG_PROCESSORS

__all__ = ["PROCESSORS", "STRUCTLOG_PROCESSORS", "CorrelationFilter", "StdlibBridge", "get_logger"]
