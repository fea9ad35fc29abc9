"""Telegram bots: ``sendMessage`` with an HTML-formatted text.

``POST {api_url}/bot<token>/sendMessage`` with ``chat_id``, ``text`` (≤ 4096 characters),
``parse_mode: "HTML"`` and ``disable_web_page_preview``. Every label and annotation value is
HTML-escaped (``&``, ``<``, ``>``; quotes too inside ``href``), as the Bot API requires, and
cut before escaping so an entity or tag is never split. Flood control answers 429 with
``parameters.retry_after``; that wait is honoured.
"""

from __future__ import annotations

import html
import json
from typing import Any, Final

from otel_trading.alerts._model import Alert, Notification
from otel_trading.alerts.channels._http import HttpChannel, check_http_url
from otel_trading.alerts.channels._text import ELLIPSIS, description, label_text, summary, title, utf16_len

TEXT_LIMIT: Final = 4096
DEFAULT_API_URL: Final = "https://api.telegram.org"
# Per-part caps (escaped length) so that one alert always fits with the headline.
_NAME, _SUMMARY, _DESCRIPTION, _LABELS, _HEADLINE = 200, 1000, 1500, 800, 300


def escape_within(text: str, limit: int) -> str:
    """``text`` HTML-escaped, cut between characters so the escaped form (with "…") is ≤ ``limit``."""
    escaped = html.escape(text, quote=False)
    if utf16_len(escaped) <= limit:
        return escaped
    pieces, used, budget = [], 0, limit - utf16_len(ELLIPSIS)
    for char in text:
        piece = html.escape(char, quote=False)
        used += utf16_len(piece)
        if used > budget:
            break
        pieces.append(piece)
    return "".join(pieces) + ELLIPSIS


def _alert_html(alert: Alert) -> str:
    lines = [f"<b>{alert.status.upper()}</b> {html.escape(alert.severity.value)} "
             f"<b>{escape_within(alert.name, _NAME)}</b>", escape_within(summary(alert), _SUMMARY)]
    if details := description(alert):
        lines.append(f"<i>{escape_within(details, _DESCRIPTION)}</i>")
    if labels := label_text(alert.labels):
        lines.append(f"<code>{escape_within(labels, _LABELS)}</code>")
    if alert.generator_url.startswith(("http://", "https://")) and len(alert.generator_url) <= 1024:
        lines.append(f'<a href="{html.escape(alert.generator_url, quote=True)}">source</a>')
    return "\n".join(lines)


def telegram_text(notification: Notification) -> str:
    headline = f"<b>{escape_within(title(notification), _HEADLINE)}</b> ({notification.severity.value})"
    parts = [headline]
    used = utf16_len(headline)
    alerts = notification.alerts
    for index, alert in enumerate(alerts):
        block = _alert_html(alert)
        more = f"\n\n…and {len(alerts) - index} more alerts"
        room = TEXT_LIMIT - used - 2 - (utf16_len(more) if index < len(alerts) - 1 else 0)
        if utf16_len(block) > room:
            parts.append(more.strip())
            break
        parts.append(block)
        used += utf16_len(block) + 2
    return "\n\n".join(parts)


class TelegramChannel(HttpChannel):
    """``token`` is the bot token (a secret); ``chat_id`` a chat id or ``@channelname``."""

    kind = "telegram"

    def __init__(self, name: str, *, token: str, chat_id: int | str, api_url: str = DEFAULT_API_URL,
                 disable_notification: bool = False, **options: Any) -> None:
        super().__init__(name, **options)
        if not token:
            raise ValueError("token must not be empty")
        self._token = token
        self.chat_id = chat_id
        self.api_url = check_http_url(api_url, "api_url").rstrip("/")
        self.disable_notification = disable_notification

    def secrets(self) -> tuple[str, ...]:
        return (*super().secrets(), self._token)

    def credential_urls(self) -> tuple[str, ...]:
        return (self._endpoint(),)

    def _endpoint(self) -> str:
        return f"{self.api_url}/bot{self._token}/sendMessage"

    def retry_after_from_body(self, body: bytes) -> float | None:
        """The Bot API's ``{"ok": false, "parameters": {"retry_after": 5}}``."""
        try:
            value = json.loads(body).get("parameters", {}).get("retry_after")
        except (ValueError, AttributeError):
            return None
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    def message(self, notification: Notification) -> dict[str, Any]:
        return {"chat_id": self.chat_id, "text": telegram_text(notification), "parse_mode": "HTML",
                "disable_web_page_preview": True, "disable_notification": self.disable_notification}

    def send(self, notification: Notification, timeout_s: float) -> None:
        body = self.post_json(self._endpoint(), self.message(notification), timeout_s)
        try:
            answer = json.loads(body)
        except ValueError:
            raise self.error("answer is not JSON", permanent=True) from None
        if not isinstance(answer, dict) or answer.get("ok") is not True:
            said = answer.get("description", "") if isinstance(answer, dict) else ""
            raise self.error(f"not accepted: {said}", permanent=True)
