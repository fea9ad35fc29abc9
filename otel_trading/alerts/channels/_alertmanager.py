"""Pushes alerts to a Prometheus Alertmanager: ``POST {url}/api/v2/alerts``.

The body is a JSON list of postable alerts (``labels``, ``annotations``, ``startsAt``,
``endsAt``, ``generatorURL``), as Alertmanager's OpenAPI v2 defines them; Alertmanager then
groups, silences, inhibits and routes them itself. A resolved alert is sent with its
``endsAt``; a firing one without ``endsAt`` (Alertmanager applies its ``resolve_timeout``)
unless ``resolve_timeout`` is given here, which sets ``endsAt`` to now + that long. Label
names are sanitised to Prometheus' ``[a-zA-Z_][a-zA-Z0-9_]*`` (Alertmanager rejects others)
and empty label values are dropped (in Prometheus an empty label is an absent one).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

from otel_trading.alerts._model import Alert, Notification
from otel_trading.alerts.channels._http import HttpChannel, check_http_url
from otel_trading.alerts.channels._text import rfc3339

_INVALID_LABEL_CHARACTERS: Final = re.compile(r"[^a-zA-Z0-9_]")


def label_name(name: str) -> str:
    sanitised = _INVALID_LABEL_CHARACTERS.sub("_", name)
    return f"_{sanitised}" if not sanitised or sanitised[0].isdigit() else sanitised


def _labels(labels: Mapping[str, str]) -> dict[str, str]:
    return {label_name(key): value for key, value in labels.items() if value != ""}


def postable_alert(alert: Alert, *, now: float, resolve_timeout_s: float | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"labels": _labels(alert.labels), "annotations": dict(alert.annotations),
                            "startsAt": rfc3339(alert.starts_at)}
    if alert.status == "resolved":
        body["endsAt"] = rfc3339(alert.ends_at if alert.ends_at is not None else now)
    elif resolve_timeout_s is not None:
        body["endsAt"] = rfc3339(now + resolve_timeout_s)
    if alert.generator_url:
        body["generatorURL"] = alert.generator_url
    return body


class AlertmanagerChannel(HttpChannel):
    """``url`` is the Alertmanager's base URL (``http://alertmanager:9093``)."""

    kind = "alertmanager"

    def __init__(self, name: str, *, url: str, resolve_timeout_s: float | None = None,
                 clock: Callable[[], float] = time.time, **options: Any) -> None:
        super().__init__(name, **options)
        self._url = check_http_url(url).rstrip("/")
        if resolve_timeout_s is not None and resolve_timeout_s <= 0:
            raise ValueError(f"resolve_timeout must be > 0 seconds, got {resolve_timeout_s!r}")
        self.resolve_timeout_s = resolve_timeout_s
        self._clock = clock

    def credential_urls(self) -> tuple[str, ...]:
        return (self._url,)

    def alerts(self, notification: Notification) -> list[dict[str, Any]]:
        now = self._clock()
        return [postable_alert(alert, now=now, resolve_timeout_s=self.resolve_timeout_s)
                for alert in notification.alerts]

    def send(self, notification: Notification, timeout_s: float) -> None:
        self.post_json(f"{self._url}/api/v2/alerts", self.alerts(notification), timeout_s)
