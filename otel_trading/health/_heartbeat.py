"""The heartbeat: proof of life for "bot is silent" alerts."""

from __future__ import annotations

import time

from otel_trading._state import STATE
from otel_trading.metrics._names import HEARTBEAT, HEARTBEATS


def heartbeat() -> None:
    """Marks the bot as alive now: alert when ``otel_trading.heartbeat.timestamp`` gets old.

    Call it from the bot's main loop (each tick or cycle); it costs a bound-handle update.
    """
    local = STATE.local_metrics
    local.gauge(HEARTBEAT, "s", "Unix time of the last heartbeat").bind().set(time.time())
    local.counter(HEARTBEATS, "{beat}", "Heartbeats since start").bind().add(1)
