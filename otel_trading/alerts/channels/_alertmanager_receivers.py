"""The built-in channel kinds as Alertmanager 0.25 receiver entries (``rules export --format alertmanager``).

Each function renders one channel (an :class:`AlertmanagerTarget`) as its ``*_configs``
entry. Secrets are never read: a field Alertmanager can read from a file becomes
``*_file``, the others a :data:`PLACEHOLDER` that still passes ``amtool check-config``.
"""

from __future__ import annotations

from typing import Any, Final

from otel_trading.alerts.channels._email import DEFAULT_PORTS
from otel_trading.alerts.channels._kind import AlertmanagerTarget

PLACEHOLDER: Final = "REPLACE_ME"


def webhook(channel: AlertmanagerTarget) -> tuple[str, dict[str, Any]]:
    entry: dict[str, Any] = {"url": channel.placeholder("url", "url", f"https://webhook.invalid/{PLACEHOLDER}")}
    if channel.values.get("max_alerts"):
        entry["max_alerts"] = channel.values["max_alerts"]
    if "bearer_token" in channel.secrets:
        path = channel.secret_file("bearer_token", "http_config.authorization.credentials_file")
        entry["http_config"] = {"authorization": {"type": "Bearer", "credentials_file": path}}
    if "headers" in channel.secrets:
        channel.warn(f"channel {channel.name}: headers left out (Alertmanager 0.25 webhooks cannot send "
                     "custom headers)")
    if channel.values.get("external_url"):
        channel.note("  external_url: Alertmanager sets externalURL from its --web.external-url flag")
    return "webhook_configs", entry


def slack(channel: AlertmanagerTarget) -> tuple[str, dict[str, Any]]:
    return "slack_configs", {"api_url_file": channel.secret_file("url", "api_url_file")}


def discord(channel: AlertmanagerTarget) -> tuple[str, dict[str, Any]]:
    url = channel.placeholder("url", "webhook_url", f"https://discord.invalid/api/webhooks/{PLACEHOLDER}")
    if channel.values.get("username"):
        channel.note("  username: Alertmanager 0.25 Discord messages use the webhook's own name")
    return "discord_configs", {"webhook_url": url}


def telegram(channel: AlertmanagerTarget) -> tuple[str, dict[str, Any]]:
    entry: dict[str, Any] = {"bot_token": channel.placeholder("token", "bot_token", PLACEHOLDER)}
    chat = channel.values["chat_id"]
    if isinstance(chat, str):  # @channelname: Alertmanager 0.25 takes only the numeric id
        channel.warn(f"channel {channel.name}: replace chat_id -1 with the numeric id of {chat} "
                     "(Alertmanager 0.25 takes only numeric chat ids)")
        chat = -1
    entry["chat_id"] = chat
    if channel.values.get("api_url"):
        entry["api_url"] = channel.values["api_url"]
    entry["parse_mode"] = "HTML"
    if channel.values.get("disable_notification"):
        entry["disable_notifications"] = True
    return "telegram_configs", entry


def email(channel: AlertmanagerTarget) -> tuple[str, dict[str, Any]]:
    values = channel.values
    security = values.get("security", "starttls")
    port = values.get("port") or DEFAULT_PORTS[security]
    entry: dict[str, Any] = {"to": ", ".join(values["to"]), "from": values["from"],
                             "smarthost": f"{values['host']}:{port}", "require_tls": security == "starttls"}
    if security == "ssl" and port != DEFAULT_PORTS["ssl"]:
        channel.warn(f"channel {channel.name}: TLS from the first byte on port {port}: Alertmanager does that "
                     "only on port 465")
    if values.get("username"):
        entry["auth_username"] = values["username"]
    if "password" in channel.secrets:
        entry["auth_password_file"] = channel.secret_file("password", "auth_password_file")
    if values.get("ca_file"):
        entry["tls_config"] = {"ca_file": values["ca_file"]}
    return "email_configs", entry


def pagerduty(channel: AlertmanagerTarget) -> tuple[str, dict[str, Any]]:
    entry: dict[str, Any] = {"routing_key_file": channel.secret_file("routing_key", "routing_key_file")}
    for key in ("url", "client_url", "source", "component", "group", "class"):
        if channel.values.get(key):
            entry[key] = channel.values[key]
    return "pagerduty_configs", entry
