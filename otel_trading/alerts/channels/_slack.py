"""Slack incoming webhooks: a ``text`` fallback plus Block Kit sections in a coloured attachment.

Slack's documented limits: ``text`` ≤ 40 000 characters, a ``section`` block's text ≤ 3000,
at most 50 blocks per message. ``&``, ``<`` and ``>`` are escaped as Slack's mrkdwn asks,
so label values cannot become links or mentions.
"""

from __future__ import annotations

from typing import Any, Final

from otel_trading.alerts._model import Alert, Notification
from otel_trading.alerts.channels._http import HttpChannel, check_http_url
from otel_trading.alerts.channels._text import colour, description, label_text, summary, title, truncate

TEXT_LIMIT: Final = 40_000
SECTION_LIMIT: Final = 3000
BLOCKS_LIMIT: Final = 50


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, SECTION_LIMIT)}}


def _alert_text(alert: Alert) -> str:
    lines = [f"*{alert.status.upper()}* · {escape(alert.severity.value)} · *{escape(alert.name)}*",
             escape(summary(alert))]
    if details := description(alert):
        lines.append(f"_{escape(details)}_")
    if labels := label_text(alert.labels):
        lines.append(f"`{escape(labels)}`")
    if alert.generator_url.startswith(("http://", "https://")):
        lines.append(f"<{escape(alert.generator_url)}|source>")
    return "\n".join(lines)


def slack_message(notification: Notification) -> dict[str, Any]:
    headline = f"{title(notification)} ({notification.severity.value})"
    alerts = notification.alerts
    room = BLOCKS_LIMIT - 1  # the headline section comes first
    shown = alerts if len(alerts) <= room else alerts[:room - 1]
    blocks = [_section(f"*{escape(headline)}*"), *(_section(_alert_text(alert)) for alert in shown)]
    if len(shown) < len(alerts):
        blocks.append(_section(f"…and {len(alerts) - len(shown)} more alerts"))
    fallback = truncate("\n".join([headline, *(summary(alert) for alert in alerts)]), TEXT_LIMIT)
    return {
        "text": fallback,
        "attachments": [{"color": f"#{colour(notification):06X}", "fallback": fallback, "blocks": blocks}],
    }


class SlackChannel(HttpChannel):
    """``url`` is the incoming-webhook URL Slack gave you (a secret: it is the credential)."""

    kind = "slack"

    def __init__(self, name: str, *, url: str, **options: Any) -> None:
        super().__init__(name, **options)
        self._url = check_http_url(url)

    def credential_urls(self) -> tuple[str, ...]:
        return (self._url,)

    def send(self, notification: Notification, timeout_s: float) -> None:
        self.post_json(self._url, slack_message(notification), timeout_s)
