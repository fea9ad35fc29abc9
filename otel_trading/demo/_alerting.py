"""The default trading rule pack, running beside the demo bot: its alerts appear in the progress.

Evaluation runs on the engine's own thread, as in a real bot. The pack's ``for`` delays are
set to zero for the demo: at ``--speed 20`` a crash or an error burst lasts seconds of real
time, and the point is to see the alerts fire and resolve in one short run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Final

from otel_trading import alerts
from otel_trading.alerts import Notification
from otel_trading.alerts.channels import Channel
from otel_trading.alerts.channels._text import summary
from otel_trading.demo._progress import Progress

DEMO_OVERRIDES: Final = {name: {"for": "0s"} for name in ("DailyLossLimit", "DrawdownLimit", "MarketDataStale")}
EVALUATION_INTERVAL_S: Final = 0.2


class ProgressChannel(Channel):
    """Prints each alert that fires or resolves as a progress event, and tallies them."""

    kind = "demo"

    def __init__(self, progress: Progress, market_time: Callable[[], float]) -> None:
        super().__init__("demo")
        self._progress = progress
        self._market_time = market_time
        self.fired: Counter[str] = Counter()
        self.resolved: Counter[str] = Counter()

    def send(self, notification: Notification, timeout_s: float) -> None:  # noqa: ARG002 - printing cannot time out
        for alert in notification.alerts:
            (self.fired if alert.status == "firing" else self.resolved)[alert.name] += 1
            self._progress.event(self._market_time(), f"alert {alert.status}: {alert.name} ({alert.severity.value})"
                                                      f": {summary(alert)}")  # resolved: "resolved (was: ...)"

    def tally(self) -> str:
        fired = ", ".join(f"{name} {count}" for name, count in sorted(self.fired.items())) or "none"
        resolved = ", ".join(f"{name} {count}" for name, count in sorted(self.resolved.items())) or "none"
        return f"alerts fired: {fired}; resolved: {resolved}"


def start_alerts(progress: Progress, market_time: Callable[[], float]) -> ProgressChannel:
    channel = ProgressChannel(progress, market_time)
    route = alerts.Route(("demo",), group_by=("alertname", "trading_symbol", "trading_exchange"), group_wait_s=0,
                         group_interval_s=0)
    alerts.start(default_pack=True, overrides=DEMO_OVERRIDES, interval=EVALUATION_INTERVAL_S,
                 channels={"demo": channel}, routes=[route])
    return channel
