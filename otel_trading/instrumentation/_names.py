"""Names, units and buckets of what the exchange instrumentation emits (see docs/instrumentation.md).

Metric attributes are bounded by construction: an exchange id, a ccxt method name from a fixed
list and an error class from a fixed list. Order ids and symbols are span attributes only.
"""

from __future__ import annotations

from typing import Final

# Metrics
EXCHANGE_REQUESTS: Final = "trading.exchange.requests"
EXCHANGE_REQUEST_DURATION: Final = "trading.exchange.request.duration"
EXCHANGE_ERRORS: Final = "trading.exchange.errors"
EXCHANGE_RATE_LIMIT_INTERVAL: Final = "trading.exchange.rate_limit.interval"
EXCHANGE_RATE_LIMIT_QUEUED: Final = "trading.exchange.rate_limit.queued"

# 1 ms ... 60 s: a co-located REST call answers in milliseconds, a congested venue's in tens of seconds.
EXCHANGE_LATENCY_BUCKETS_SECONDS: Final = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)

# Span and metric attributes
EXCHANGE: Final = "trading.exchange"
METHOD: Final = "ccxt.method"
ERROR_TYPE: Final = "error.type"
# Span attributes only
SYMBOL: Final = "trading.symbol"
SIDE: Final = "trading.side"
ORDER_TYPE: Final = "trading.order.type"
ORDER_AMOUNT: Final = "trading.order.amount"
ORDER_PRICE: Final = "trading.order.price"
ORDER_VENUE_ID: Final = "trading.order.venue_id"
ORDER_CLIENT_ID: Final = "trading.order.client_id"
ORDER_STATUS: Final = "trading.order.status"
TIMEFRAME: Final = "ccxt.timeframe"
RESULT_COUNT: Final = "ccxt.result.count"

CCXT_SPAN_PREFIX: Final = "ccxt."
