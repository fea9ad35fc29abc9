"""The heartbeat: proof of life for "bot is silent" alerts."""

from __future__ import annotations

import time
from typing import Final

from otel_trading._state import STATE, Slot
from otel_trading.metrics._names import HEARTBEAT, HEARTBEATS


class _LastBeat:
    # Kept here as well as in the gauge: it survives configure() (which replaces the local
    # metrics) and works with telemetry off, for the heartbeat_fresh() health check.
    at: float | None = None


_LAST: Final = Slot("last heartbeat", _LastBeat)


def heartbeat() -> None:
    """Marks the bot as alive now: alert when ``otel_trading.heartbeat.timestamp`` gets old.

    Call it from the bot's main loop (each tick or cycle); it costs a bound-handle update.
    """
    now = time.time()
    _LAST.get().at = now
    local = STATE.local_metrics
    local.gauge(HEARTBEAT, "s", "Unix time of the last heartbeat").bind().set(now)
    local.counter(HEARTBEATS, "{beat}", "Heartbeats since start").bind().add(1)


def last_heartbeat() -> float | None:
    """Unix time of the last ``heartbeat()`` call in this process, None before the first."""
    return _LAST.get().at
