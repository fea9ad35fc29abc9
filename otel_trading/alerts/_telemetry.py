"""The engine's own telemetry: each transition logged (correlated by fingerprint) and counted."""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from typing import Final

from otel_trading._state import STATE, Slot
from otel_trading.alerts._model import Alert
from otel_trading.alerts._state import RuleState, Transition
from otel_trading.context._correlation import bound
from otel_trading.logs._logger import get_logger
from otel_trading.metrics._local import observe_process_gauge
from otel_trading.metrics._names import DURATION_BUCKETS_SECONDS

TRANSITIONS = "otel_trading.alerts.transitions"
ACTIVE = "otel_trading.alerts.active"
EVALUATION_DURATION = "otel_trading.alerts.evaluation.duration"
EVALUATION_FAILURES = "otel_trading.alerts.evaluation.failures"
_LEVELS = {"firing": "warning", "pending": "info", "inactive": "info"}


class AlertTelemetry:
    def __init__(self) -> None:
        self._log = get_logger("otel_trading.alerts")
        self.active: dict[tuple[str, str, str], int] = {}
        self._live = _LIVE.get()  # the set it counts in, even once an isolated block has ended
        self._live.add(self)

    def transition(self, transition: Transition, alert: Alert) -> None:
        state = "resolved" if transition.after == "inactive" else transition.after
        STATE.local_metrics.counter(TRANSITIONS, "{transition}", "Alert state changes, by rule and new state").add(
            1, {"alertname": alert.name, "state": state})
        with bound(correlation_id=alert.fingerprint):
            getattr(self._log, _LEVELS[transition.after])(
                f"alert {state}", alertname=alert.name, alert_state=state, severity=alert.severity.value,
                value=alert.value,
                labels=",".join(f"{k}={v}" for k, v in sorted(alert.labels.items())),
                summary=alert.annotations.get("summary", ""),
            )

    def evaluated(self, duration_s: float, states: Iterable[RuleState]) -> None:
        STATE.local_metrics.histogram(EVALUATION_DURATION, DURATION_BUCKETS_SECONDS, "s",
                                      "Duration of each alert evaluation cycle").record(duration_s)
        active: dict[tuple[str, str, str], int] = {}
        for state in states:
            for alert in state.active.values():
                key = (state.rule.name, alert.state, state.rule.severity.value)
                active[key] = active.get(key, 0) + 1
        self.active = active

    def close(self) -> None:
        """A stopped engine no longer counts in ``otel_trading.alerts.active``."""
        self._live.discard(self)
        _LIVE.get().discard(self)  # the copy of an isolated block it was carried into

    def evaluation_failed(self, where: str) -> None:
        STATE.local_metrics.counter(EVALUATION_FAILURES, "{failure}", "Failed collections or rule evaluations").add(
            1, {"rule": where})


# Engines made before an isolated block still evaluate in it, so its gauge counts them too; the
# engines made inside it count in its copy only.
_LIVE: Final[Slot[weakref.WeakSet[AlertTelemetry]]] = Slot(
    "alert engines counted as active", weakref.WeakSet, isolate=lambda outer: weakref.WeakSet(outer or ()))


def _active_points() -> Iterable[tuple[dict[str, str], float]]:
    totals: dict[tuple[str, str, str], int] = {}
    for telemetry in list(_LIVE.get()):
        for key, count in list(telemetry.active.items()):
            totals[key] = totals.get(key, 0) + count
    return [({"alertname": n, "state": s, "severity": v}, c) for (n, s, v), c in totals.items()]


observe_process_gauge(ACTIVE, _active_points, "{alert}", "Alerts pending or firing now, by rule and state")
