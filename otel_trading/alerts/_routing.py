"""From alert transitions to notifications: routes, grouping, timing, silences, inhibition, acks.

Alertmanager's model, in-process: each route (first match wins unless ``continue``) sends
to its channels, grouped by ``group_by`` labels. A new group waits ``group_wait`` before
its first notification (to gather a burst); a group already notified sends changes
(new alerts, resolutions) at most every ``group_interval`` and repeats while still firing
every ``repeat_interval``. Silenced and inhibited alerts are not sent; acknowledged ones
are not repeated nor escalated. Escalation: an alert still firing and unacknowledged
``after`` its start is sent once more, one severity higher, to the escalation's channels.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from otel_trading.alerts._model import Alert, Notification, Status, fingerprint

Send = Callable[[str, Notification], object]


@dataclass(frozen=True)
class Matcher:
    """Label matchers: equality (``match``) and full-string regular expressions (``match_re``)."""

    equal: Mapping[str, str] = field(default_factory=dict)
    regex: Mapping[str, re.Pattern[str]] = field(default_factory=dict)

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(k, "") == v for k, v in self.equal.items()) and all(
            pattern.fullmatch(labels.get(k, "")) for k, pattern in self.regex.items()
        )


@dataclass(frozen=True)
class Route:
    channels: tuple[str, ...]
    matcher: Matcher = field(default_factory=Matcher)
    group_by: tuple[str, ...] = ("alertname",)
    group_wait_s: float = 5.0
    group_interval_s: float = 60.0
    repeat_interval_s: float = 4 * 3600.0
    continue_: bool = False


def _silence_id() -> str:
    return uuid.uuid4().hex[:16]


@dataclass(frozen=True)
class Silence:
    """Mutes the alerts ``matcher`` matches from ``starts_at`` to ``ends_at`` (Unix seconds).

    ``id`` names it for ``AlertEngine.expire_silence()`` (a fresh one unless given).
    """

    matcher: Matcher
    ends_at: float
    starts_at: float = 0.0
    comment: str = ""
    created_by: str = ""
    id: str = field(default_factory=_silence_id)

    def active(self, now: float) -> bool:
        return self.starts_at <= now < self.ends_at

    def state(self, now: float) -> str:
        """``pending`` (not started yet), ``active`` or ``expired``, as Alertmanager names them."""
        return "pending" if now < self.starts_at else "active" if now < self.ends_at else "expired"


@dataclass(frozen=True)
class Inhibition:
    """While an alert matching ``source`` fires, alerts matching ``target`` with the same ``equal`` labels are muted."""

    source: Matcher
    target: Matcher
    equal: tuple[str, ...] = ()


@dataclass(frozen=True)
class Escalation:
    after_s: float
    channels: tuple[str, ...]


@dataclass
class Group:
    route_index: int
    key: str
    labels: dict[str, str]
    alerts: dict[str, Alert] = field(default_factory=dict)
    created_at: float = 0.0
    last_sent_at: float | None = None
    sent: dict[str, str] = field(default_factory=dict)  # fingerprint -> status last sent


@dataclass
class Router:
    """Decides what to send and when; ``send(channel, notification)`` must not block (a Dispatcher)."""

    routes: Sequence[Route]
    send: Send
    silences: list[Silence] = field(default_factory=list)
    inhibitions: Sequence[Inhibition] = ()
    escalations: Sequence[Escalation] = ()
    acknowledged: dict[str, float] = field(default_factory=dict)  # fingerprint -> acknowledged at
    escalated: set[str] = field(default_factory=set)
    groups: dict[str, Group] = field(default_factory=dict)

    def update(self, alert: Alert, now: float) -> None:
        """Records a firing alert or its resolution in every group its routes put it in."""
        for index, route in self._routes_for(alert.labels):
            labels = {k: alert.labels.get(k, "") for k in route.group_by}
            key = f"{index}:" + fingerprint(labels)
            group = self.groups.get(key)
            if group is None:
                if alert.status == "resolved":
                    continue  # never notified: nothing to resolve
                group = self.groups[key] = Group(index, key, labels, created_at=now)
            group.alerts[alert.fingerprint] = alert
        if alert.status == "resolved":
            self.acknowledged.pop(alert.fingerprint, None)
            self.escalated.discard(alert.fingerprint)

    def _routes_for(self, labels: Mapping[str, str]) -> list[tuple[int, Route]]:
        chosen = []
        for index, route in enumerate(self.routes):
            if route.matcher.matches(labels):
                chosen.append((index, route))
                if not route.continue_:
                    break
        return chosen

    def muted(self, alert: Alert, now: float, firing: Sequence[Alert]) -> bool:
        if any(s.active(now) and s.matcher.matches(alert.labels) for s in self.silences):
            return True
        return any(
            rule.target.matches(alert.labels) and any(
                rule.source.matches(source.labels) and source.fingerprint != alert.fingerprint
                and all(source.labels.get(k) == alert.labels.get(k) for k in rule.equal)
                for source in firing
            )
            for rule in self.inhibitions
        )

    def flush(self, now: float) -> None:
        """Sends whatever is due at ``now``; call after each evaluation (and between, for timely waits)."""
        firing = [a for g in self.groups.values() for a in g.alerts.values() if a.status == "firing"]
        for key, group in list(self.groups.items()):
            route = self.routes[group.route_index]
            visible = {fp: a for fp, a in group.alerts.items() if not self.muted(a, now, firing)}
            changed = any(group.sent.get(fp) != a.status for fp, a in visible.items())
            due = self._due(group, route, now, changed, visible)
            if due:
                self._notify(group, route, visible, now)
            if not any(a.status == "firing" for a in group.alerts.values()) and (due or not visible):
                del self.groups[key]
        self._escalate(now, firing)

    def _due(self, group: Group, route: Route, now: float, changed: bool, visible: Mapping[str, Alert]) -> bool:
        if not visible:
            return False
        if group.last_sent_at is None:
            return now - group.created_at >= route.group_wait_s
        if changed:
            return now - group.last_sent_at >= route.group_interval_s
        repeatable = any(a.status == "firing" and fp not in self.acknowledged for fp, a in visible.items())
        return repeatable and now - group.last_sent_at >= route.repeat_interval_s

    def _notify(self, group: Group, route: Route, visible: Mapping[str, Alert], now: float) -> None:
        alerts = tuple(visible.values())
        status: Status = "firing" if any(a.status == "firing" for a in alerts) else "resolved"
        notification = Notification(route.channels[0] if route.channels else "", status, alerts, group.key,
                                    dict(group.labels))
        for channel in route.channels:
            self.send(channel, replace(notification, receiver=channel))
        group.last_sent_at = now
        group.sent = {fp: a.status for fp, a in visible.items()}
        for fp, alert in list(group.alerts.items()):
            if alert.status == "resolved" and fp in visible:
                del group.alerts[fp]

    def _escalate(self, now: float, firing: Sequence[Alert]) -> None:
        for alert in firing:
            fp = alert.fingerprint
            if fp in self.acknowledged or fp in self.escalated or self.muted(alert, now, firing):
                continue
            for escalation in self.escalations:
                if now - alert.starts_at >= escalation.after_s:
                    self.escalated.add(fp)
                    raised = replace(alert, labels={**alert.labels, "severity": alert.severity.raised().value})
                    notification = Notification("", "firing", (raised,), f"escalation:{fp}", escalated=True)
                    for channel in escalation.channels:
                        self.send(channel, replace(notification, receiver=channel))
                    break

    def acknowledge(self, alerts: Sequence[Alert], now: float) -> None:
        """Stops repeats and escalation of ``alerts``; channels that track acknowledgement are told."""
        for alert in alerts:
            self.acknowledged[alert.fingerprint] = now
        for index, route in enumerate(self.routes):
            mine = [a for a in alerts if route.matcher.matches(a.labels)]
            if mine:
                notification = Notification("", "firing", tuple(mine), f"ack:{index}", acknowledged=True)
                for channel in route.channels:
                    self.send(channel, replace(notification, receiver=channel))
