"""Capture helpers for your own tests: real SDK in-memory exporters and reader.

    from otel_trading.testing import capture

    def test_order_is_traced():
        with capture() as otel:
            place_order("BTC/USDT", 0.1)
        span = otel.span("place_order")
        assert span.attributes["trading.symbol"] == "BTC/USDT"

With pytest, the ``otel_capture`` fixture does the same (registered automatically).

The names are loaded when first used, so that the pytest plugin (which imports this package
in every pytest run of a project that installs otel-trading) costs nothing until a test asks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from otel_trading._lazy import lazy_attributes

if TYPE_CHECKING:
    from otel_trading.testing._capture import TelemetryCapture, capture, isolated_state
    from otel_trading.testing._deterministic import IncrementingClock, SequentialIdGenerator

_WHERE = {
    "TelemetryCapture": "otel_trading.testing._capture",
    "capture": "otel_trading.testing._capture",
    "isolated_state": "otel_trading.testing._capture",
    "IncrementingClock": "otel_trading.testing._deterministic",
    "SequentialIdGenerator": "otel_trading.testing._deterministic",
}


__getattr__, __dir__ = lazy_attributes(globals(), _WHERE)


__all__ = ["IncrementingClock", "SequentialIdGenerator", "TelemetryCapture", "capture", "isolated_state"]
