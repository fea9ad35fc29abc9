"""A generic webhook: POSTs the Alertmanager webhook payload (version "4") as JSON."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from otel_trading.alerts._model import Notification
from otel_trading.alerts.channels._http import HttpChannel, check_http_url
from otel_trading.alerts.channels._payload import webhook_payload


class WebhookChannel(HttpChannel):
    """``url`` receives exactly what Alertmanager's ``webhook_config`` would send.

    ``max_alerts`` > 0 caps the alerts per message (the rest counted in ``truncatedAlerts``);
    ``external_url`` fills ``externalURL``; ``headers`` / ``bearer_token`` are sent as given.
    """

    kind = "webhook"

    def __init__(self, name: str, *, url: str, headers: Mapping[str, str] | None = None,
                 bearer_token: str | None = None, max_alerts: int = 0, external_url: str = "",
                 **options: Any) -> None:
        super().__init__(name, headers=headers, bearer_token=bearer_token, **options)
        self._url = check_http_url(url)
        if max_alerts < 0:
            raise ValueError(f"max_alerts must be ≥ 0, got {max_alerts!r}")
        self.max_alerts = max_alerts
        self.external_url = external_url

    def credential_urls(self) -> tuple[str, ...]:
        return (self._url,)

    def payload(self, notification: Notification) -> dict[str, Any]:
        return webhook_payload(notification, external_url=self.external_url, max_alerts=self.max_alerts)

    def send(self, notification: Notification, timeout_s: float) -> None:
        self.post_json(self._url, self.payload(notification), timeout_s)
