"""``get_logger()``: structlog loggers wired to our processor chain, and the stdlib bridge."""

from __future__ import annotations

import logging
from typing import Any, Final

import structlog
from opentelemetry import trace
from structlog.typing import FilteringBoundLogger

from otel_trading.context._correlation import CORRELATION_KEY, correlation_id
from otel_trading.logs._processors import CONSOLE, PROCESSORS, process


class _ConsoleSink:
    """The structlog 'logger' at the end of the chain: writes the rendered line."""

    def msg(self, message: str) -> None:
        CONSOLE.write(message)

    debug = info = warning = warn = error = critical = exception = fatal = log = msg


_SINK: Final = _ConsoleSink()
_WRAPPER: Final = structlog.make_filtering_bound_logger(0)


def get_logger(name: str | None = None, **initial_context: Any) -> FilteringBoundLogger:
    """A structlog logger whose events carry timestamp, level, logger, trace/span ids,
    correlation id and bound context, go to the console (JSON lines or pretty) and are
    exported as OTel log records tied to the current span.

    Usable before ``configure()``: it follows the configuration in force at each call.
    """
    logger: FilteringBoundLogger = structlog.wrap_logger(
        _SINK,
        processors=list(PROCESSORS),
        wrapper_class=_WRAPPER,
        context_class=dict,
        cache_logger_on_first_use=True,
    )
    # "logger" is also wrap_logger's own parameter name, so bind it rather than pass it.
    return logger.bind(logger=name or "app", **initial_context)


# Loggers whose records describe the export machinery itself: shown on the console but never
# exported, or a failing exporter would feed itself.
_NOT_EXPORTED: Final = ("opentelemetry", "otel_trading", "urllib3", "grpc")
_STANDARD_RECORD_KEYS: Final = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "taskName",
}


# Set on a record by CorrelationFilter: the attributes it added, which are not the record's own fields.
_ADDED_BY_FILTER: Final = "_otel_trading_added"


class StdlibBridge(logging.Handler):
    """Gives stdlib ``logging`` records (ccxt, urllib3, the user's) the same enrichment and sinks.

    ``configure()`` puts one on the root logger (``capture_stdlib_logging``). An application with
    its own handlers can add one itself instead, with ``console=False``: records are then
    correlated, redacted and exported, and printed only by the application's own handlers.
    """

    def __init__(self, level: int = logging.NOTSET, *, console: bool = True) -> None:
        super().__init__(level)
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fields = vars(record)
            skipped = fields.get(_ADDED_BY_FILTER, ())
            event_dict: dict[str, Any] = {
                key: value for key, value in fields.items()
                if key not in _STANDARD_RECORD_KEYS and key not in skipped and key != _ADDED_BY_FILTER
            }
            event_dict["event"] = record.getMessage()
            event_dict["logger"] = record.name
            event_dict["level"] = record.levelname.lower()
            event_dict["_time_ns"] = int(record.created * 1e9)
            event_dict["_code"] = (record.pathname, record.funcName, record.lineno)
            if record.exc_info and record.exc_info[1] is not None:
                event_dict["exc_info"] = record.exc_info[1]
            if record.name.startswith(_NOT_EXPORTED):
                event_dict["_internal"] = True
            process(record.levelname.lower(), event_dict, console=self.console)
        except Exception:  # noqa: BLE001 - the logging contract: a handler never raises
            self.handleError(record)


class CorrelationFilter(logging.Filter):
    """Adds ``trace_id``, ``span_id`` and ``correlation_id`` to stdlib records, for formats such as
    ``"%(message)s trace=%(trace_id)s"``: the current span's ids, ``""`` outside a span, and
    the current correlation id or ``""``. A record that already has one of them keeps it.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        fields = vars(record)
        if _ADDED_BY_FILTER in fields:  # another handler's filter got here first
            return True
        span_context = trace.get_current_span().get_span_context()
        valid = span_context.is_valid
        correlation = {
            "trace_id": format(span_context.trace_id, "032x") if valid else "",
            "span_id": format(span_context.span_id, "016x") if valid else "",
            CORRELATION_KEY: correlation_id() or "",
        }
        added = tuple(key for key in correlation if key not in fields)
        for key in added:
            fields[key] = correlation[key]
        fields[_ADDED_BY_FILTER] = added
        return True
