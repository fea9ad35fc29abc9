"""Names and units of the metrics ``otel_trading.health`` emits (see docs/health.md).

Market-data staleness is not here: ``otel_trading.health._market_data.ages()`` is the store
the trading metrics read for ``trading.market_data.staleness``.
"""

from __future__ import annotations

from typing import Final

HEALTH_STATUS: Final = "otel_trading.health.status"
HEALTH_CHECK_DURATION: Final = "otel_trading.health.check.duration"
HEALTH_CHECK_FAILURES: Final = "otel_trading.health.check.failures"
