"""PagerDuty Events API v2: one event per notification, deduplicated per alert group.

``dedup_key`` is the SHA-256 of the notification's ``group_key`` (as Alertmanager does): a
group is one PagerDuty alert, re-triggers of the group update it, and the group's resolved
notification resolves it; an acknowledged notification sends ``acknowledge``. Severities map
one to one by rank: info→info, warning→warning, critical→error, emergency→critical.
``payload.summary`` is cut to PagerDuty's 1024 characters.
"""

from __future__ import annotations

import hashlib
import socket
from typing import Any, Final

from otel_trading.alerts._model import Notification, Severity
from otel_trading.alerts.channels._http import HttpChannel, check_http_url
from otel_trading.alerts.channels._text import counts, label_text, rfc3339, summary, title, truncate

EVENTS_URL: Final = "https://events.pagerduty.com/v2/enqueue"
SUMMARY_LIMIT: Final = 1024
SEVERITIES: Final = {Severity.INFO: "info", Severity.WARNING: "warning", Severity.CRITICAL: "error",
                     Severity.EMERGENCY: "critical"}


def dedup_key(notification: Notification) -> str:
    return hashlib.sha256(notification.group_key.encode("utf-8")).hexdigest()


def event_action(notification: Notification) -> str:
    if notification.status == "resolved":
        return "resolve"
    return "acknowledge" if notification.acknowledged else "trigger"


def _details(notification: Notification) -> dict[str, Any]:
    firing, resolved = counts(notification)
    return {
        "firing": [f"{alert.name}: {summary(alert)} [{label_text(alert.labels)}]"
                   for alert in notification.alerts if alert.status == "firing"],
        "num_firing": firing,
        "num_resolved": resolved,
        "group_labels": dict(notification.group_labels),
        "common_labels": notification.common_labels,
        "common_annotations": notification.common_annotations,
    }


class PagerDutyChannel(HttpChannel):
    """``routing_key`` is the Events API v2 integration key (a secret)."""

    kind = "pagerduty"

    def __init__(self, name: str, *, routing_key: str, url: str = EVENTS_URL, source: str = "",
                 component: str = "", group: str = "", event_class: str = "", client_url: str = "",
                 **options: Any) -> None:
        super().__init__(name, **options)
        if not routing_key:
            raise ValueError("routing_key must not be empty")
        self._routing_key = routing_key
        self.url = check_http_url(url)
        self.source = source or socket.gethostname()
        self.component, self.group, self.event_class, self.client_url = component, group, event_class, client_url

    def secrets(self) -> tuple[str, ...]:
        return (*super().secrets(), self._routing_key)

    def event(self, notification: Notification) -> dict[str, Any]:
        action = event_action(notification)
        event: dict[str, Any] = {"routing_key": self._routing_key, "event_action": action,
                                 "dedup_key": dedup_key(notification)}
        if action != "trigger":
            return event
        payload: dict[str, Any] = {
            "summary": truncate(f"{title(notification)}: {summary(notification.alerts[0])}"
                                if notification.alerts else title(notification), SUMMARY_LIMIT),
            "source": self.source,
            "severity": SEVERITIES[notification.severity],
            "custom_details": _details(notification),
        }
        if notification.alerts:
            payload["timestamp"] = rfc3339(min(alert.starts_at for alert in notification.alerts))
        for key, value in (("component", self.component), ("group", self.group), ("class", self.event_class)):
            if value:
                payload[key] = value
        event.update(payload=payload, client="otel-trading")
        if self.client_url:
            event["client_url"] = self.client_url
        links = [{"href": a.generator_url, "text": a.name} for a in notification.alerts
                 if a.generator_url.startswith(("http://", "https://"))]
        if links:
            event["links"] = links[:10]
        return event

    def send(self, notification: Notification, timeout_s: float) -> None:
        self.post_json(self.url, self.event(notification), timeout_s)
