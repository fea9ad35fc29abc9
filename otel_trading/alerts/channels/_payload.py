"""The Alertmanager webhook payload, version "4": what the webhook and file channels write.

Field for field as Alertmanager's ``webhook_config`` documents it, so a receiver written
for Alertmanager (or ``amtool``-style tooling) reads our notifications unchanged.
"""

from __future__ import annotations

from typing import Any

from otel_trading.alerts._model import Alert, Notification
from otel_trading.alerts.channels._text import rfc3339


def webhook_alert(alert: Alert) -> dict[str, Any]:
    return {
        "status": alert.status,
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "startsAt": rfc3339(alert.starts_at),
        "endsAt": rfc3339(alert.ends_at if alert.status == "resolved" else None),
        "generatorURL": alert.generator_url,
        "fingerprint": alert.fingerprint,
    }


def webhook_payload(notification: Notification, *, external_url: str = "", max_alerts: int = 0) -> dict[str, Any]:
    """The version-4 body; ``max_alerts`` > 0 keeps that many alerts and counts the rest as truncated."""
    alerts = notification.alerts
    kept = alerts[:max_alerts] if 0 < max_alerts < len(alerts) else alerts
    return {
        "version": "4",
        "groupKey": notification.group_key,
        "truncatedAlerts": len(alerts) - len(kept),
        "status": notification.status,
        "receiver": notification.receiver,
        "groupLabels": dict(notification.group_labels),
        "commonLabels": notification.common_labels,
        "commonAnnotations": notification.common_annotations,
        "externalURL": external_url,
        "alerts": [webhook_alert(alert) for alert in kept],
    }
