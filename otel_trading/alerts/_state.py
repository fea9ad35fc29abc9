"""The life of each alert, with Prometheus' semantics (rules/alerting.go, 2.42+).

Each evaluation: a matching series with no active alert starts one, pending, at that time;
a pending alert fires once it has been active for ``for``; an alert whose series stopped
matching ends (pending: silently; firing: resolved), unless ``keep_firing_for`` holds it
firing that much longer after the last match.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from otel_trading.alerts._model import Alert, Status, fingerprint, scrubbed
from otel_trading.alerts._promql import Vector
from otel_trading.alerts._rules import Rule
from otel_trading.alerts._template import render

State = Literal["inactive", "pending", "firing"]


@dataclass
class ActiveAlert:
    rule: str
    labels: dict[str, str]
    annotations: dict[str, str]
    value: float
    active_at: float
    state: State = "pending"
    fired_at: float | None = None
    resolved_at: float | None = None
    keep_firing_since: float | None = None

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.labels)

    def as_alert(self) -> Alert:
        status: Status = "resolved" if self.state == "inactive" else "firing"
        return Alert(self.labels, self.annotations, status, self.value, self.active_at, self.resolved_at)


@dataclass(frozen=True)
class Transition:
    alert: ActiveAlert
    before: State
    after: State


def alert_labels(rule: Rule, series: Mapping[str, str]) -> dict[str, str]:
    labels = {k: v for k, v in series.items() if k != "__name__"}
    labels.update(rule.labels)
    labels["severity"] = rule.severity.value
    labels["alertname"] = rule.name
    return labels


@dataclass
class RuleState:
    rule: Rule
    active: dict[str, ActiveAlert] = field(default_factory=dict)

    def evaluate(self, vector: Vector, t: float) -> list[Transition]:
        """Applies one evaluation's result at time ``t``; returns what changed state."""
        before = {key: alert.state for key, alert in self.active.items()}
        matched: set[str] = set()
        for series, value in vector:
            labels = scrubbed(alert_labels(self.rule, dict(series)))
            key = fingerprint(labels)
            matched.add(key)
            annotations = scrubbed({k: render(v, labels, value) for k, v in self.rule.annotations.items()})
            alert = self.active.get(key)
            if alert is not None and alert.state != "inactive":
                alert.value, alert.annotations = value, annotations
                alert.keep_firing_since = None
                continue
            self.active[key] = ActiveAlert(self.rule.name, labels, annotations, value, active_at=t)
            before.setdefault(key, "inactive")
        transitions = []
        for key, alert in list(self.active.items()):
            if key not in matched and not self._keeps_firing(alert, t):
                if alert.state == "firing":
                    alert.state, alert.resolved_at = "inactive", t
                    transitions.append(Transition(alert, "firing", "inactive"))
                del self.active[key]
                continue
            if alert.state == "pending" and t - alert.active_at >= self.rule.for_s:
                alert.state, alert.fired_at = "firing", t
            if before.get(key, "inactive") != alert.state:
                transitions.append(Transition(alert, before.get(key, "inactive"), alert.state))
        return transitions

    def _keeps_firing(self, alert: ActiveAlert, t: float) -> bool:
        if alert.state != "firing" or self.rule.keep_firing_for_s <= 0:
            return False
        if alert.keep_firing_since is None:
            alert.keep_firing_since = t
        return t - alert.keep_firing_since < self.rule.keep_firing_for_s
