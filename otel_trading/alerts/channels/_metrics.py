"""Delivery self-telemetry: notifications by channel and outcome, and how long each attempt took.

Outcomes of ``otel_trading.alerts.notifications``: ``delivered`` (the service took it),
``retried`` (an attempt failed and another follows; once per retry), ``failed`` (given up:
last attempt or a permanent error), ``dropped`` (never finished: queue full, or still
pending at close), ``dead_lettered`` (written to the dead-letter file, for failed and
dropped ones alike). Attributes are the channel's name and the outcome - never a credential.
"""

from __future__ import annotations

from typing import Final, Literal

from otel_trading._state import STATE
from otel_trading.metrics._names import DURATION_BUCKETS_SECONDS

NOTIFICATIONS: Final = "otel_trading.alerts.notifications"
DELIVERY_DURATION: Final = "otel_trading.alerts.delivery.duration"
Outcome = Literal["delivered", "retried", "failed", "dead_lettered", "dropped"]


def count_notification(channel: str, outcome: Outcome) -> None:
    # Looked up at each call, not cached: configure() replaces STATE.local_metrics.
    STATE.local_metrics.counter(
        NOTIFICATIONS, "{notification}", "Alert notifications by channel and delivery outcome",
    ).add(1, {"channel": channel, "outcome": outcome})


def record_attempt_duration(channel: str, duration_s: float) -> None:
    STATE.local_metrics.histogram(
        DELIVERY_DURATION, DURATION_BUCKETS_SECONDS, "s", "Duration of each attempt to deliver an alert notification",
    ).record(duration_s, {"channel": channel})
