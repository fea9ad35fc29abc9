"""otel-trading's log processing inside an application's own logging setup (docs/logging.md,
"Your own structlog or logging setup"): a ``structlog.configure()`` chain with
``STRUCTLOG_PROCESSORS`` before its renderer, and a stdlib ``dictConfig`` with
``CorrelationFilter`` and ``StdlibBridge(console=False)``. Each event is correlated with the
current span, redacted, exported once, and printed only by the application's own renderer.
"""

from __future__ import annotations

import io
import json
import logging
import logging.config
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from otel_trading import bound, span
from otel_trading.logs import STRUCTLOG_PROCESSORS, CorrelationFilter, StdlibBridge
from otel_trading.testing import capture

PRIVATE_FIELDS = {"_time_ns", "_span_context", "_code", "_internal", "_otel_trading_added"}


@pytest.fixture
def structlog_reset() -> Iterator[None]:
    yield
    structlog.reset_defaults()


@pytest.fixture
def bot_logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger("bot")
    yield logger
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    for log_filter in list(logger.filters):
        logger.removeFilter(log_filter)
    logger.setLevel(logging.NOTSET)
    logger.propagate = True


def _hex_ids(current: Any) -> tuple[str, str]:
    context = current.get_span_context()
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def test_an_applications_structlog_chain_gets_correlation_redaction_and_export(
    structlog_reset: None, capsys: pytest.CaptureFixture[str]
) -> None:
    out = io.StringIO()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            *STRUCTLOG_PROCESSORS,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    with capture(system_metrics=False, log_console="json") as otel:
        log = structlog.get_logger().bind(logger="strategy")
        with bound(strategy="momentum"), span("on_tick") as current:
            log.info("signal", symbol="BTC/USDT", api_key="k-live-123")
        log.debug("idle")  # the application's level (debug) decides, not log_level
        printed = [json.loads(line) for line in out.getvalue().splitlines()]
        records = [r.log_record for r in otel.logs]
        scopes = [r.instrumentation_scope.name for r in otel.logs]

    trace_id, span_id = _hex_ids(current)
    signal, idle = printed
    assert (signal["event"], signal["level"], signal["trace_id"], signal["span_id"]) == (
        "signal", "info", trace_id, span_id)
    assert signal["correlation_id"] == current.attributes["correlation_id"]
    assert signal["strategy"] == "momentum" and signal["api_key"] == "[REDACTED]"
    assert not PRIVATE_FIELDS & set(signal) and "trace_id" not in idle
    # Exported once each, tied to the span, with the same fields; printed only by the application.
    assert [r.body for r in records] == ["signal", "idle"] and scopes == ["strategy", "strategy"]
    assert records[0].trace_id == current.get_span_context().trace_id
    assert records[0].span_id == current.get_span_context().span_id
    assert records[0].attributes["api_key"] == "[REDACTED]" and records[0].attributes["strategy"] == "momentum"
    assert records[1].severity_text == "DEBUG"
    assert capsys.readouterr().err == ""


def test_an_applications_stdlib_setup_gets_correlation_redaction_and_export(
    bot_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    out = io.StringIO()
    logging.config.dictConfig({
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"otel": {"()": CorrelationFilter}},
        "formatters": {"plain": {"format": "%(levelname)s %(name)s %(message)s "
                                           "trace=%(trace_id)s span=%(span_id)s cid=%(correlation_id)s"}},
        "handlers": {
            "console": {"class": "logging.StreamHandler", "stream": out, "formatter": "plain", "filters": ["otel"]},
            "otel": {"()": StdlibBridge, "console": False},
        },
        "loggers": {"bot": {"handlers": ["console", "otel"], "level": "INFO", "propagate": False}},
    })
    # The application's handlers print and export: otel-trading adds no root handler of its own.
    with capture(system_metrics=False, log_console="json", capture_stdlib_logging=False) as otel:
        with span("submit_order") as current:
            bot_logger.info("order sent %s", "BTC/USDT", extra={"venue": "binance", "token": "t-0123456789"})
        bot_logger.warning("no span here")
        records = [r.log_record for r in otel.logs]

    trace_id, span_id = _hex_ids(current)
    cid = current.attributes["correlation_id"]
    assert out.getvalue().splitlines() == [
        f"INFO bot order sent BTC/USDT trace={trace_id} span={span_id} cid={cid}",
        "WARNING bot no span here trace= span= cid=",
    ]
    assert [r.body for r in records] == ["order sent BTC/USDT", "no span here"]
    sent = records[0]
    assert sent.trace_id == current.get_span_context().trace_id and sent.span_id == current.get_span_context().span_id
    assert sent.attributes["venue"] == "binance" and sent.attributes["token"] == "[REDACTED]"
    assert sent.attributes["correlation_id"] == cid
    # What the filter added for the format is not a field of the record: no empty correlation_id outside a span.
    assert not PRIVATE_FIELDS & set(sent.attributes) and "correlation_id" not in records[1].attributes
    assert capsys.readouterr().err == ""


def test_an_explicit_field_wins_over_the_filter(bot_logger: logging.Logger) -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(message)s cid=%(correlation_id)s"))
    handler.addFilter(CorrelationFilter())
    bot_logger.addHandler(handler)
    bot_logger.addHandler(StdlibBridge(console=False))
    bot_logger.propagate = False
    with capture(system_metrics=False, capture_stdlib_logging=False) as otel, span("fill"):
        bot_logger.warning("filled", extra={"correlation_id": "order-8812"})
        [record] = otel.logs
    assert out.getvalue() == "filled cid=order-8812\n"
    assert record.log_record.attributes["correlation_id"] == "order-8812"


def test_structlog_through_the_standard_library_is_exported_once_by_the_bridge(
    structlog_reset: None, bot_logger: logging.Logger
) -> None:
    # structlog handing its events to stdlib logging: our processors stay out of its chain, and the
    # bridge that configure() puts on the root logger exports each record, fields included.
    structlog.configure(
        processors=[structlog.stdlib.add_log_level, structlog.stdlib.render_to_log_kwargs],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    with capture(system_metrics=False) as otel:
        with span("on_fill") as current:
            structlog.get_logger("bot").warning("partial fill", filled=0.4, order_id="o-17")
        [record] = otel.logs
    assert record.log_record.body == "partial fill" and record.instrumentation_scope.name == "bot"
    assert record.log_record.trace_id == current.get_span_context().trace_id
    assert record.log_record.attributes["filled"] == 0.4 and record.log_record.attributes["order_id"] == "o-17"
