"""Discord webhooks: a ``content`` headline and one embed per alert, coloured by severity.

Discord's documented limits: ``content`` ≤ 2000 characters, ≤ 10 embeds, an embed title
≤ 256 and description ≤ 4096, and 6000 characters over all embeds of a message. Mentions
are switched off (``allowed_mentions``) so an alert text can never ping ``@everyone``.
"""

from __future__ import annotations

import json
from typing import Any, Final

from otel_trading.alerts._model import Alert, Notification
from otel_trading.alerts.channels._http import HttpChannel, check_http_url
from otel_trading.alerts.channels._text import (
    colour_of,
    description,
    label_text,
    rfc3339,
    summary,
    title,
    truncate,
    utf16_len,
)

CONTENT_LIMIT: Final = 2000
EMBEDS_LIMIT: Final = 10
TITLE_LIMIT: Final = 256
DESCRIPTION_LIMIT: Final = 4096
EMBEDS_TOTAL_LIMIT: Final = 6000


def _embed(alert: Alert, budget: int) -> dict[str, Any]:
    embed_title = truncate(f"{alert.status.upper()} · {alert.severity.value} · {alert.name}", TITLE_LIMIT)
    lines = [summary(alert)]
    if details := description(alert):
        lines.append(details)
    if labels := label_text(alert.labels):
        lines.append(f"`{labels}`")
    room = max(1, min(DESCRIPTION_LIMIT, budget - utf16_len(embed_title)))
    embed: dict[str, Any] = {
        "title": embed_title,
        "description": truncate("\n".join(lines), room),
        "color": colour_of(alert.status, alert.severity),
        "timestamp": rfc3339(alert.ends_at if alert.status == "resolved" else alert.starts_at),
    }
    if alert.generator_url.startswith(("http://", "https://")):
        embed["url"] = alert.generator_url
    return embed


def discord_message(notification: Notification, username: str = "") -> dict[str, Any]:
    alerts = notification.alerts[:EMBEDS_LIMIT]
    content = f"**{title(notification)}** ({notification.severity.value})"
    if len(notification.alerts) > len(alerts):
        content += f" - showing {len(alerts)} of {len(notification.alerts)} alerts"
    budget = EMBEDS_TOTAL_LIMIT // max(1, len(alerts))
    message: dict[str, Any] = {
        "content": truncate(content, CONTENT_LIMIT),
        "embeds": [_embed(alert, budget) for alert in alerts],
        "allowed_mentions": {"parse": []},
    }
    if username:
        message["username"] = username
    return message


class DiscordChannel(HttpChannel):
    """``url`` is the channel webhook's URL (a secret: it embeds the webhook token)."""

    kind = "discord"

    def __init__(self, name: str, *, url: str, username: str = "", **options: Any) -> None:
        super().__init__(name, **options)
        self._url = check_http_url(url)
        self.username = username

    def credential_urls(self) -> tuple[str, ...]:
        return (self._url,)

    def retry_after_from_body(self, body: bytes) -> float | None:
        """Discord's 429 body: ``{"retry_after": 1.5, ...}`` in seconds."""
        try:
            value = json.loads(body).get("retry_after")
        except (ValueError, AttributeError):
            return None
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    def send(self, notification: Notification, timeout_s: float) -> None:
        self.post_json(self._url, discord_message(notification, self.username), timeout_s)
