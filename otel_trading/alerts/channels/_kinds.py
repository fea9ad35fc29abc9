"""The built-in channel kinds: each a :class:`ChannelKind` with its YAML fields and Alertmanager receiver.

Kinds of other packages come through the ``otel_trading_alert_channel`` entry points (see
``_registry``); nothing else lists kinds.
"""

from __future__ import annotations

from typing import Final

from otel_trading.alerts.channels import _alertmanager_receivers as am
from otel_trading.alerts.channels import _convert as c
from otel_trading.alerts.channels._alertmanager import AlertmanagerChannel
from otel_trading.alerts.channels._console import ConsoleChannel
from otel_trading.alerts.channels._discord import DiscordChannel
from otel_trading.alerts.channels._email import SECURITY_MODES, EmailChannel
from otel_trading.alerts.channels._file import FileChannel
from otel_trading.alerts.channels._kind import ChannelField as Field
from otel_trading.alerts.channels._kind import ChannelKind
from otel_trading.alerts.channels._pagerduty import PagerDutyChannel
from otel_trading.alerts.channels._slack import SlackChannel
from otel_trading.alerts.channels._telegram import TelegramChannel
from otel_trading.alerts.channels._webhook import WebhookChannel

_URL = "https://example.com/hook"
COMMON: Final[dict[str, Field]] = {  # the fields of every kind: Channel's own constructor arguments
    "timeout": Field(c.duration, keyword="timeout_s"),
    "retries": Field(c.integer(0, "3")),
    "rate_limit": Field(c.rate),
    "send_resolved": Field(c.boolean),
}
_HEADERS = Field(c.text_map("{X-Api-Key: ${API_KEY}}"), secret=True)
_BEARER = Field(c.text("${WEBHOOK_TOKEN}"), secret=True)

BUILTIN_KINDS: Final[tuple[ChannelKind, ...]] = (
    ChannelKind("console", ConsoleChannel, alertmanager_note="prints to the bot's stderr; Alertmanager has no "
                                                               "such integration"),
    ChannelKind("file", FileChannel, {"path": Field(c.text("alerts.jsonl"), required=True),
                                      "external_url": Field(c.text(_URL))},
                alertmanager_note="appends JSON lines to a file of the bot; Alertmanager has no file integration "
                                  "(a webhook to a small collector can write them)"),
    ChannelKind("webhook", WebhookChannel, {
        "url": Field(c.text(_URL), required=True, secret=True),
        "headers": _HEADERS, "bearer_token": _BEARER,
        "max_alerts": Field(c.integer(0, "20")),
        "external_url": Field(c.text(_URL)),
    }, am.webhook),
    ChannelKind("slack", SlackChannel, {"url": Field(c.text("${SLACK_WEBHOOK_URL}"), required=True, secret=True)},
                am.slack),
    ChannelKind("discord", DiscordChannel, {
        "url": Field(c.text("${DISCORD_WEBHOOK_URL}"), required=True, secret=True),
        "username": Field(c.text("otel-trading")),
    }, am.discord),
    ChannelKind("telegram", TelegramChannel, {
        "token": Field(c.text("${TELEGRAM_BOT_TOKEN}"), required=True, secret=True),
        "chat_id": Field(c.chat_id, required=True),
        "api_url": Field(c.text("https://api.telegram.org")),
        "disable_notification": Field(c.boolean),
    }, am.telegram),
    ChannelKind("email", EmailChannel, {
        "host": Field(c.text("smtp.example.com"), required=True),
        "port": Field(c.integer(1, "587")),
        "security": Field(c.choice(*SECURITY_MODES)),
        "username": Field(c.text("alerts@example.com")),
        "password": Field(c.text("${SMTP_PASSWORD}"), secret=True),
        "from": Field(c.text("alerts@example.com"), required=True, keyword="sender"),
        "to": Field(c.text_list("[ops@example.com]"), required=True),
        "ca_file": Field(c.text("/etc/ssl/certs/ca.pem")),
    }, am.email),
    ChannelKind("pagerduty", PagerDutyChannel, {
        "routing_key": Field(c.text("${PAGERDUTY_ROUTING_KEY}"), required=True, secret=True),
        "url": Field(c.text("https://events.pagerduty.com/v2/enqueue")),
        "source": Field(c.text("trading-bot-1")),
        "component": Field(c.text("strategy")),
        "group": Field(c.text("trading")),
        "class": Field(c.text("drawdown"), keyword="event_class"),
        "client_url": Field(c.text("https://grafana.example.com")),
    }, am.pagerduty),
    ChannelKind("alertmanager", AlertmanagerChannel, {
        "url": Field(c.text("http://alertmanager:9093"), required=True, secret=True),
        "headers": _HEADERS, "bearer_token": _BEARER,
        "resolve_timeout": Field(c.duration, keyword="resolve_timeout_s"),
    }, alertmanager_note="pushes to an Alertmanager, this one presumably: the alerts are already here, "
                         "nothing more to send"),
)
