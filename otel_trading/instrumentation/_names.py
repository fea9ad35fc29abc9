"""Names, units and buckets of what the exchange instrumentation emits (see docs/instrumentation.md).

Metric attributes are bounded by construction: an exchange id, a ccxt method name from a fixed
list and an error class from a fixed list. Order ids and symbols are span attributes only.
"""

from __future__ import annotations

from typing import Final

# The trading attributes are the trading layer's own names: one convention for both.
from otel_trading.trading._names import (
    EXCHANGE,
    LATENCY_BUCKETS_SECONDS,
    ORDER_AMOUNT,
    ORDER_CLIENT_ID,
    ORDER_PRICE,
    ORDER_STATUS,
    ORDER_TYPE,
    ORDER_VENUE_ID,
    SIDE,
    SYMBOL,
)

# Metrics
EXCHANGE_REQUESTS: Final = "trading.exchange.requests"
EXCHANGE_REQUEST_DURATION: Final = "trading.exchange.request.duration"
EXCHANGE_ERRORS: Final = "trading.exchange.errors"
EXCHANGE_ERRORS_CONSECUTIVE: Final = "trading.exchange.errors.consecutive"
EXCHANGE_RATE_LIMIT_INTERVAL: Final = "trading.exchange.rate_limit.interval"
EXCHANGE_RATE_LIMIT_QUEUED: Final = "trading.exchange.rate_limit.queued"

# 1 ms ... 60 s, as the order latencies: a co-located REST call answers in milliseconds, a congested venue's in tens.
EXCHANGE_LATENCY_BUCKETS_SECONDS: Final = LATENCY_BUCKETS_SECONDS

# Span and metric attributes
METHOD: Final = "ccxt.method"
ERROR_TYPE: Final = "error.type"
# Span attributes only (besides the trading ones imported above)
TIMEFRAME: Final = "ccxt.timeframe"
RESULT_COUNT: Final = "ccxt.result.count"

CCXT_SPAN_PREFIX: Final = "ccxt."

__all__ = [
    "CCXT_SPAN_PREFIX", "ERROR_TYPE", "EXCHANGE", "EXCHANGE_ERRORS", "EXCHANGE_ERRORS_CONSECUTIVE",
    "EXCHANGE_LATENCY_BUCKETS_SECONDS",
    "EXCHANGE_RATE_LIMIT_INTERVAL", "EXCHANGE_RATE_LIMIT_QUEUED", "EXCHANGE_REQUESTS", "EXCHANGE_REQUEST_DURATION",
    "METHOD", "ORDER_AMOUNT", "ORDER_CLIENT_ID", "ORDER_PRICE", "ORDER_STATUS", "ORDER_TYPE", "ORDER_VENUE_ID",
    "RESULT_COUNT", "SIDE", "SYMBOL", "TIMEFRAME",
]
