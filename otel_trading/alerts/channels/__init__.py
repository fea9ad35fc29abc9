"""Notification channels for alerts and their delivery.

Channels (``kind``): console, file, webhook (Alertmanager webhook payload v4), slack,
discord, telegram, email, pagerduty (Events API v2) and alertmanager (API v2 push). Each is
built from YAML with :func:`build_channel` or constructed directly with keyword arguments;
a :class:`Dispatcher` delivers to them on background threads with retries, rate limits and
a dead-letter file, so whoever raises alerts never waits for a network.

Each ``type:`` is a :class:`ChannelKind`; another package adds one through the
``otel_trading_alert_channel`` entry-point group, an application with
:func:`register_channel_kind` (see docs/alert-channels.md, "Writing a channel").
"""

from otel_trading.alerts.channels._alertmanager import AlertmanagerChannel
from otel_trading.alerts.channels._base import Channel, DeliveryError, RateLimit
from otel_trading.alerts.channels._config import build_channel
from otel_trading.alerts.channels._console import ConsoleChannel
from otel_trading.alerts.channels._delivery import Dispatcher
from otel_trading.alerts.channels._discord import DiscordChannel
from otel_trading.alerts.channels._email import EmailChannel
from otel_trading.alerts.channels._file import FileChannel
from otel_trading.alerts.channels._http import HttpChannel
from otel_trading.alerts.channels._kind import AlertmanagerTarget, ChannelField, ChannelKind
from otel_trading.alerts.channels._pagerduty import PagerDutyChannel
from otel_trading.alerts.channels._registry import (
    ENTRY_POINT_GROUP,
    channel_kind,
    channel_kind_names,
    register_channel_kind,
)
from otel_trading.alerts.channels._slack import SlackChannel
from otel_trading.alerts.channels._telegram import TelegramChannel
from otel_trading.alerts.channels._webhook import WebhookChannel

__all__ = [
    "ENTRY_POINT_GROUP",
    "AlertmanagerChannel",
    "AlertmanagerTarget",
    "Channel",
    "ChannelField",
    "ChannelKind",
    "ConsoleChannel",
    "DeliveryError",
    "DiscordChannel",
    "Dispatcher",
    "EmailChannel",
    "FileChannel",
    "HttpChannel",
    "PagerDutyChannel",
    "RateLimit",
    "SlackChannel",
    "TelegramChannel",
    "WebhookChannel",
    "build_channel",
    "channel_kind",
    "channel_kind_names",
    "register_channel_kind",
]
