"""Notification channels against real loopback servers: exact payloads, limits, errors, secrets.

Each channel posts to a recording ``http.server`` (or aiosmtpd, or the real Alertmanager);
the assertions are on what arrived on the wire, field by field, as each service documents.
"""

from __future__ import annotations

import email
import email.policy
import html.parser
import io
import json
import time
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from alert_receivers import RecordingHttpServer, Reply, SmtpServer, self_signed_certificate
from binaries import require
from daemons import AlertmanagerProcess
from otlp_receiver import BlackHoleServer, closed_port

from otel_trading.alerts._model import Alert, Notification
from otel_trading.alerts._yaml import RulesError, load_yaml
from otel_trading.alerts.channels import (
    AlertmanagerChannel,
    Channel,
    ConsoleChannel,
    DeliveryError,
    DiscordChannel,
    EmailChannel,
    FileChannel,
    PagerDutyChannel,
    SlackChannel,
    TelegramChannel,
    WebhookChannel,
    build_channel,
)
from otel_trading.alerts.channels._http import retry_after_seconds
from otel_trading.alerts.channels._pagerduty import dedup_key

CANARY = "CANARY-TOKEN-123"
T0 = 1_714_564_800.0  # 2024-05-01T12:00:00Z
RFC3339 = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"


def make_alert(name: str = "HighDrawdown", severity: str = "critical", status: str = "firing",
               summary: str = "drawdown above 10%", value: float = 0.12, **labels: str) -> Alert:
    return Alert(
        labels={"alertname": name, "severity": severity, "strategy": "mean-reversion", **labels},
        annotations={"summary": summary, "description": f"{name} is {status}"},
        status=status,  # type: ignore[arg-type]
        value=value,
        starts_at=T0,
        ends_at=T0 + 90 if status == "resolved" else None,
        generator_url="http://127.0.0.1:9464/graph?g0.expr=trading_drawdown",
    )


def make_notification(*alerts: Alert, group_key: str = '{}:{alertname="HighDrawdown"}',
                      acknowledged: bool = False) -> Notification:
    alerts = alerts or (make_alert(),)
    status = "firing" if any(a.status == "firing" for a in alerts) else "resolved"
    return Notification(receiver="ops", status=status, alerts=alerts, group_key=group_key,  # type: ignore[arg-type]
                        group_labels={"alertname": alerts[0].name}, acknowledged=acknowledged)


@pytest.fixture
def server() -> Any:
    with RecordingHttpServer() as recording:
        yield recording


def only_request(server: RecordingHttpServer) -> Any:
    assert len(server.requests) == 1
    return server.requests[0]


# --- webhook: the Alertmanager payload, version 4 ------------------------------------------------


def test_webhook_posts_the_alertmanager_v4_payload(server: RecordingHttpServer) -> None:
    channel = WebhookChannel("hook", url=server.url("/alerts"), headers={"X-Team": "quant"}, bearer_token=CANARY,
                             external_url="http://bot:9464")
    firing, resolved = make_alert(instance="a"), make_alert(status="resolved", instance="b")
    channel.send(make_notification(firing, resolved), timeout_s=5)

    request = only_request(server)
    assert (request.method, request.path) == ("POST", "/alerts")
    assert request.headers["content-type"] == "application/json"
    assert request.headers["authorization"] == f"Bearer {CANARY}"
    assert request.headers["x-team"] == "quant"
    body = request.json
    assert set(body) == {"version", "groupKey", "truncatedAlerts", "status", "receiver", "groupLabels",
                         "commonLabels", "commonAnnotations", "externalURL", "alerts"}
    assert body["version"] == "4"
    assert body["groupKey"] == '{}:{alertname="HighDrawdown"}'
    assert body["truncatedAlerts"] == 0
    assert (body["status"], body["receiver"], body["externalURL"]) == ("firing", "ops", "http://bot:9464")
    assert body["groupLabels"] == {"alertname": "HighDrawdown"}
    assert body["commonLabels"] == {"alertname": "HighDrawdown", "severity": "critical", "strategy": "mean-reversion"}
    assert body["commonAnnotations"] == {"summary": "drawdown above 10%"}
    first, second = body["alerts"]
    assert set(first) == {"status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint"}
    assert first["status"] == "firing" and second["status"] == "resolved"
    assert first["startsAt"] == "2024-05-01T12:00:00.000Z"
    assert first["endsAt"] == "0001-01-01T00:00:00Z"
    assert second["endsAt"] == "2024-05-01T12:01:30.000Z"
    assert first["labels"]["instance"] == "a"
    assert first["fingerprint"] == firing.fingerprint and len(first["fingerprint"]) == 16
    assert first["generatorURL"] == "http://127.0.0.1:9464/graph?g0.expr=trading_drawdown"


def test_webhook_max_alerts_counts_the_rest_as_truncated(server: RecordingHttpServer) -> None:
    channel = WebhookChannel("hook", url=server.url(), max_alerts=2)
    channel.send(make_notification(*(make_alert(instance=str(i)) for i in range(5))), timeout_s=5)
    body = only_request(server).json
    assert len(body["alerts"]) == 2 and body["truncatedAlerts"] == 3


# --- Slack --------------------------------------------------------------------------------------


def test_slack_sends_text_and_coloured_block_sections(server: RecordingHttpServer) -> None:
    hostile = make_alert(summary="<!channel> & <http://evil|click>", pair="BTC/USDT")
    SlackChannel("slack", url=server.url("/services/T0/B0/secret")).send(make_notification(hostile), timeout_s=5)
    body = only_request(server).json
    assert set(body) == {"text", "attachments"}
    assert body["text"].startswith("[FIRING:1] HighDrawdown (critical)")
    (attachment,) = body["attachments"]
    assert attachment["color"] == "#D32F2F"
    headline, section = attachment["blocks"]
    assert headline == {"type": "section", "text": {"type": "mrkdwn", "text": "*[FIRING:1] HighDrawdown (critical)*"}}
    text = section["text"]["text"]
    assert section["type"] == "section" and section["text"]["type"] == "mrkdwn"
    assert "&lt;!channel&gt; &amp; &lt;http://evil|click&gt;" in text
    assert "<!channel>" not in text
    assert "pair=BTC/USDT" in text
    assert "<http://127.0.0.1:9464/graph?g0.expr=trading_drawdown|source>" in text


@pytest.mark.parametrize(("severity", "status", "colour"), [
    ("info", "firing", "#1976D2"), ("warning", "firing", "#F9A825"), ("critical", "firing", "#D32F2F"),
    ("emergency", "firing", "#6A1B9A"), ("critical", "resolved", "#2E7D32"),
])
def test_slack_colour_follows_severity_and_resolution(server: RecordingHttpServer, severity: str, status: str,
                                                     colour: str) -> None:
    SlackChannel("slack", url=server.url()).send(make_notification(make_alert(severity=severity, status=status)), 5)
    assert only_request(server).json["attachments"][0]["color"] == colour


def test_slack_stays_within_its_limits(server: RecordingHttpServer) -> None:
    huge = "x" * 10_000
    alerts = [make_alert(summary=huge + "😀" * 20_000, instance=str(i)) for i in range(80)]
    SlackChannel("slack", url=server.url()).send(make_notification(*alerts), timeout_s=5)
    body = only_request(server).json
    assert len(body["text"].encode("utf-16-le")) // 2 <= 40_000
    blocks = body["attachments"][0]["blocks"]
    assert len(blocks) == 50
    assert all(len(block["text"]["text"].encode("utf-16-le")) // 2 <= 3000 for block in blocks)
    assert blocks[1]["text"]["text"].endswith("…")
    assert blocks[-1]["text"]["text"] == "…and 32 more alerts"


# --- Discord ------------------------------------------------------------------------------------


def test_discord_sends_content_and_one_embed_per_alert(server: RecordingHttpServer) -> None:
    server.default = Reply(204, b"")
    alerts = (make_alert(severity="warning"), make_alert(name="Stale", severity="critical", status="resolved"))
    DiscordChannel("discord", url=server.url("/api/webhooks/1/tok"), username="bot").send(
        make_notification(*alerts), timeout_s=5)
    body = only_request(server).json
    assert set(body) == {"content", "embeds", "allowed_mentions", "username"}
    assert body["content"] == "**[FIRING:1] HighDrawdown** (critical)"
    assert body["allowed_mentions"] == {"parse": []}
    warning, resolved = body["embeds"]
    assert warning["title"] == "FIRING · warning · HighDrawdown"
    assert warning["color"] == 0xF9A825 and resolved["color"] == 0x2E7D32
    assert isinstance(warning["color"], int)
    assert warning["description"].startswith("drawdown above 10%\nHighDrawdown is firing\n`")
    assert warning["timestamp"] == "2024-05-01T12:00:00.000Z"
    assert resolved["timestamp"] == "2024-05-01T12:01:30.000Z"
    assert warning["url"] == "http://127.0.0.1:9464/graph?g0.expr=trading_drawdown"


def test_discord_stays_within_its_limits(server: RecordingHttpServer) -> None:
    alerts = [make_alert(name="N" * 500, summary="s" * 9000, instance=str(i)) for i in range(12)]
    DiscordChannel("discord", url=server.url()).send(make_notification(*alerts), timeout_s=5)
    body = only_request(server).json
    assert len(body["content"]) <= 2000
    assert len(body["embeds"]) == 10
    assert body["content"].endswith("showing 10 of 12 alerts")
    assert all(len(embed["title"]) <= 256 and len(embed["description"]) <= 4096 for embed in body["embeds"])
    assert sum(len(embed["title"]) + len(embed["description"]) for embed in body["embeds"]) <= 6000
    single = make_notification(make_alert(summary="d" * 9000))
    DiscordChannel("discord", url=server.url()).send(single, timeout_s=5)
    assert len(server.requests[-1].json["embeds"][0]["description"]) == 4096


def test_discord_rate_limit_wait_is_read_from_the_body(server: RecordingHttpServer) -> None:
    server.script(Reply(429, json.dumps({"message": "You are being rate limited.", "retry_after": 1.5,
                                         "global": False}).encode()))
    with pytest.raises(DeliveryError) as caught:
        DiscordChannel("discord", url=server.url()).send(make_notification(), timeout_s=5)
    assert caught.value.retry_after_s == 1.5 and not caught.value.permanent


# --- Telegram -----------------------------------------------------------------------------------


class _TagBalance(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.balanced = True

    def handle_starttag(self, tag: str, attrs: Any) -> None:  # noqa: ARG002 - only tag nesting is checked
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        self.balanced &= bool(self.stack) and self.stack.pop() == tag


def telegram_ok() -> Reply:
    return Reply(200, json.dumps({"ok": True, "result": {"message_id": 1}}).encode())


def test_telegram_sends_escaped_html_to_send_message(server: RecordingHttpServer) -> None:
    server.default = telegram_ok()
    hostile = make_alert(summary='<b>bold</b> & "quoted" <script>', pair="<BTC>&<USDT>")
    channel = TelegramChannel("tg", token=f"123456:{CANARY}", chat_id=-1001234567890, api_url=server.url())
    channel.send(make_notification(hostile), timeout_s=5)
    request = only_request(server)
    assert request.path == f"/bot123456:{CANARY}/sendMessage"
    body = request.json
    assert set(body) == {"chat_id", "text", "parse_mode", "disable_web_page_preview", "disable_notification"}
    assert body["chat_id"] == -1001234567890
    assert body["parse_mode"] == "HTML"
    assert body["disable_web_page_preview"] is True
    text = body["text"]
    assert text.startswith("<b>[FIRING:1] HighDrawdown</b> (critical)")
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; \"quoted\" &lt;script&gt;" in text
    assert "pair=&lt;BTC&gt;&amp;&lt;USDT&gt;" in text
    assert "<script>" not in text
    assert '<a href="http://127.0.0.1:9464/graph?g0.expr=trading_drawdown">source</a>' in text
    checker = _TagBalance()
    checker.feed(text)
    assert checker.balanced and not checker.stack


def test_telegram_text_fits_4096_and_never_splits_an_entity(server: RecordingHttpServer) -> None:
    server.default = telegram_ok()
    alerts = [make_alert(summary="&" * 5000, instance="<" * 3000) for _ in range(6)]
    TelegramChannel("tg", token="1:abc", chat_id="@ops", api_url=server.url()).send(make_notification(*alerts), 5)
    text = only_request(server).json["text"]
    assert len(text.encode("utf-16-le")) // 2 <= 4096
    assert text.endswith("more alerts")
    checker = _TagBalance()
    checker.feed(text)
    assert checker.balanced and not checker.stack
    for fragment in text.split("&")[1:]:
        assert fragment.startswith(("amp;", "lt;", "gt;", "quot;")), fragment[:10]


def test_telegram_flood_control_wait_is_honoured_and_refusals_are_permanent(server: RecordingHttpServer) -> None:
    channel = TelegramChannel("tg", token=f"1:{CANARY}", chat_id=42, api_url=server.url())
    server.script(Reply(429, json.dumps({"ok": False, "error_code": 429, "description": "Too Many Requests: retry "
                                         "after 7", "parameters": {"retry_after": 7}}).encode()))
    with pytest.raises(DeliveryError) as flood:
        channel.send(make_notification(), timeout_s=5)
    assert flood.value.retry_after_s == 7 and not flood.value.permanent
    server.script(Reply(400, b'{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}'))
    with pytest.raises(DeliveryError) as refused:
        channel.send(make_notification(), timeout_s=5)
    assert refused.value.permanent and "chat not found" in str(refused.value)
    server.script(Reply(200, b'{"ok":false,"description":"odd"}'))
    with pytest.raises(DeliveryError, match="not accepted"):
        channel.send(make_notification(), timeout_s=5)


# --- PagerDuty ----------------------------------------------------------------------------------


def test_pagerduty_trigger_event(server: RecordingHttpServer) -> None:
    server.default = Reply(202, b'{"status":"success","message":"Event processed","dedup_key":"x"}')
    channel = PagerDutyChannel("pd", routing_key=CANARY, url=server.url("/v2/enqueue"), source="bot-1",
                               component="risk", group="trading", event_class="drawdown")
    notification = make_notification(make_alert(summary="s" * 2000))
    channel.send(notification, timeout_s=5)
    request = only_request(server)
    assert request.path == "/v2/enqueue"
    event = request.json
    assert set(event) == {"routing_key", "event_action", "dedup_key", "payload", "client", "links"}
    assert event["routing_key"] == CANARY
    assert event["event_action"] == "trigger"
    assert event["dedup_key"] == dedup_key(notification) and len(event["dedup_key"]) <= 255
    payload = event["payload"]
    assert set(payload) == {"summary", "source", "severity", "timestamp", "custom_details", "component", "group",
                            "class"}
    assert len(payload["summary"]) == 1024 and payload["summary"].startswith("[FIRING:1] HighDrawdown: sss")
    assert (payload["source"], payload["severity"], payload["class"]) == ("bot-1", "error", "drawdown")
    assert payload["timestamp"] == "2024-05-01T12:00:00.000Z"
    assert payload["custom_details"]["num_firing"] == 1
    assert event["links"] == [{"href": "http://127.0.0.1:9464/graph?g0.expr=trading_drawdown", "text": "HighDrawdown"}]


@pytest.mark.parametrize(("severity", "expected"), [
    ("info", "info"), ("warning", "warning"), ("critical", "error"), ("emergency", "critical")])
def test_pagerduty_severity_mapping(server: RecordingHttpServer, severity: str, expected: str) -> None:
    PagerDutyChannel("pd", routing_key="k", url=server.url()).send(make_notification(make_alert(severity=severity)), 5)
    assert only_request(server).json["payload"]["severity"] == expected


def test_pagerduty_dedup_key_is_stable_per_group_and_resolves_it(server: RecordingHttpServer) -> None:
    channel = PagerDutyChannel("pd", routing_key="k", url=server.url())
    channel.send(make_notification(make_alert(value=0.12)), 5)
    channel.send(make_notification(make_alert(value=0.15), make_alert(instance="x")), 5)  # same group, changed
    channel.send(make_notification(make_alert(), acknowledged=True), 5)
    channel.send(make_notification(make_alert(status="resolved")), 5)
    channel.send(make_notification(make_alert(), group_key='{}:{alertname="Other"}'), 5)
    first, second, ack, resolve, other = (r.json for r in server.requests)
    assert first["dedup_key"] == second["dedup_key"] == ack["dedup_key"] == resolve["dedup_key"]
    assert other["dedup_key"] != first["dedup_key"]
    assert [e["event_action"] for e in (first, second, ack, resolve)] == ["trigger", "trigger", "acknowledge",
                                                                         "resolve"]
    assert resolve == {"routing_key": "k", "event_action": "resolve", "dedup_key": first["dedup_key"]}


# --- Alertmanager -------------------------------------------------------------------------------


def test_alertmanager_channel_posts_postable_alerts(server: RecordingHttpServer) -> None:
    channel = AlertmanagerChannel("am", url=server.url() + "/", resolve_timeout_s=300, clock=lambda: T0 + 60)
    channel.send(make_notification(make_alert(**{"pair.symbol": "BTC", "empty": ""}),
                                   make_alert(status="resolved", instance="b")), 5)
    request = only_request(server)
    assert request.path == "/api/v2/alerts"
    firing, resolved = request.json
    assert set(firing) == {"labels", "annotations", "startsAt", "endsAt", "generatorURL"}
    assert firing["labels"] == {"alertname": "HighDrawdown", "severity": "critical", "strategy": "mean-reversion",
                                "pair_symbol": "BTC"}
    assert firing["startsAt"] == "2024-05-01T12:00:00.000Z"
    assert firing["endsAt"] == "2024-05-01T12:06:00.000Z"  # now + resolve_timeout
    assert resolved["endsAt"] == "2024-05-01T12:01:30.000Z"


def test_alerts_reach_a_real_alertmanager_and_its_webhook(tmp_path: Path, server: RecordingHttpServer) -> None:
    binary = require("alertmanager")
    alertmanager = AlertmanagerProcess(binary, tmp_path, server.url("/am-hook"))
    try:
        channel = AlertmanagerChannel("am", url=alertmanager.url)
        now = time.time()
        firing = Alert(labels={"alertname": "HighDrawdown", "severity": "critical", "strategy": "s1"},
                       annotations={"summary": "drawdown above 10%"}, status="firing", value=0.12,
                       starts_at=now - 5, generator_url="http://127.0.0.1:9464/graph")
        channel.send(make_notification(firing), timeout_s=5)
        listed = alertmanager.alerts()
        assert [a["labels"] for a in listed] == [dict(firing.labels)]
        assert listed[0]["annotations"] == {"summary": "drawdown above 10%"}
        assert listed[0]["status"]["state"] == "active"

        def hook_statuses() -> list[str]:
            return [r.json["status"] for r in server.requests if r.path == "/am-hook"]

        assert server.wait_for(lambda: "firing" in hook_statuses(), timeout=20), alertmanager.log.read_text()
        first = next(r.json for r in server.requests if r.json["status"] == "firing")
        assert first["version"] == "4" and first["alerts"][0]["labels"]["strategy"] == "s1"

        resolved = Alert(labels=firing.labels, annotations=firing.annotations, status="resolved", value=0.05,
                         starts_at=firing.starts_at, ends_at=time.time(), generator_url=firing.generator_url)
        channel.send(make_notification(resolved), timeout_s=5)
        assert server.wait_for(lambda: "resolved" in hook_statuses(), timeout=20), alertmanager.log.read_text()
        assert hook_statuses().index("firing") < hook_statuses().index("resolved")
        assert [a for a in alertmanager.alerts() if a["status"]["state"] == "active"] == []
    finally:
        alertmanager.close()


# --- console and file ---------------------------------------------------------------------------


def test_a_resolved_alert_says_it_resolved_in_every_text_and_keeps_its_annotations() -> None:
    from otel_trading.alerts.channels._discord import discord_message
    from otel_trading.alerts.channels._email import email_body
    from otel_trading.alerts.channels._payload import webhook_payload
    from otel_trading.alerts.channels._slack import slack_message
    from otel_trading.alerts.channels._telegram import telegram_text

    streak = "29 exchange API calls in a row failed on binance"
    resolved = make_notification(make_alert(name="ExchangeErrorStreak", summary=streak, status="resolved"))
    texts = {"slack": json.dumps(slack_message(resolved)), "telegram": telegram_text(resolved),
             "discord": json.dumps(discord_message(resolved)), "email": email_body(resolved)}
    for name, text in texts.items():
        assert f"resolved (was: {streak})" in text, name
        assert text.count(streak) == text.count(f"resolved (was: {streak})"), f"{name} repeats the firing text"
        assert "ExchangeErrorStreak is resolved" not in text, f"{name}: the description is the firing story"
    payload = webhook_payload(resolved)  # the data itself is unchanged, as Alertmanager sends it
    assert payload["status"] == "resolved" and payload["alerts"][0]["annotations"]["summary"] == streak
    firing = make_notification(make_alert(name="ExchangeErrorStreak", summary=streak))
    assert "resolved" not in telegram_text(firing) and f"{streak}\n<i>ExchangeErrorStreak is firing</i>" in \
        telegram_text(firing)


def test_console_writes_one_stderr_line_per_alert(capsys: pytest.CaptureFixture[str]) -> None:
    alerts = (make_alert(summary="two\nlines"), make_alert(name="Stale", severity="warning", status="resolved"))
    ConsoleChannel("console").send(make_notification(*alerts), timeout_s=1)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        "[alert] FIRING critical HighDrawdown: two lines {strategy=mean-reversion}",
        "[alert] RESOLVED warning Stale: resolved (was: drawdown above 10%) {strategy=mean-reversion}",
    ]


def test_file_appends_one_v4_object_per_notification(tmp_path: Path) -> None:
    channel = FileChannel("file", path=tmp_path / "sub" / "alerts.jsonl")
    channel.send(make_notification(make_alert(), make_alert(instance="b")), timeout_s=1)
    channel.send(make_notification(make_alert(status="resolved")), timeout_s=1)
    first, second = (json.loads(line) for line in (tmp_path / "sub" / "alerts.jsonl").read_text().splitlines())
    assert first["version"] == "4" and len(first["alerts"]) == 2
    assert second["status"] == "resolved"
    later = FileChannel("file", path=tmp_path / "dir.jsonl")
    (tmp_path / "dir.jsonl").mkdir()
    with pytest.raises(ValueError, match="path: expected the path of a file, got the directory"):
        FileChannel("file", path=tmp_path / "dir.jsonl")  # refused where configured, not at the first alert
    with pytest.raises(DeliveryError) as caught:
        later.send(make_notification(), timeout_s=1)  # a directory made since: a permanent failure
    assert caught.value.permanent


# --- e-mail against aiosmtpd --------------------------------------------------------------------


def parse_mail(content: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(content, policy=email.policy.default)  # type: ignore[return-value]


def test_email_plain_smtp(tmp_path: Path) -> None:
    with SmtpServer("none") as smtp:
        channel = EmailChannel("mail", host="127.0.0.1", port=smtp.port, security="none",
                               sender="bot@example.com", to=["ops@example.com", "risk@example.com"])
        channel.send(make_notification(make_alert(), make_alert(name="Stale", severity="warning")), timeout_s=5)
    (mail,) = smtp.mails
    assert mail.sender == "bot@example.com" and mail.recipients == ["ops@example.com", "risk@example.com"]
    message = parse_mail(mail.content)
    assert message["Subject"] == "[FIRING:2] HighDrawdown (critical)"
    assert message["To"] == "ops@example.com, risk@example.com"
    body = message.get_content()
    assert "FIRING critical HighDrawdown: drawdown above 10%" in body
    assert "FIRING warning Stale: drawdown above 10%" in body
    assert "labels: strategy=mean-reversion" in body


def test_email_starttls_with_login(tmp_path: Path) -> None:
    certificate = self_signed_certificate(tmp_path)
    with SmtpServer("starttls", certificate=certificate, credentials=("bot", CANARY)) as smtp:
        channel = EmailChannel("mail", host="127.0.0.1", port=smtp.port, security="starttls", username="bot",
                               password=CANARY, sender="bot@example.com", to=["ops@example.com"],
                               ca_file=str(certificate[0]))
        channel.send(make_notification(), timeout_s=5)
        (mail,) = smtp.mails
        assert mail.tls and mail.login == "bot"

        wrong = EmailChannel("mail", host="127.0.0.1", port=smtp.port, username="bot", password="wrong-password",
                             sender="bot@example.com", to=["ops@example.com"], ca_file=str(certificate[0]))
        with pytest.raises(DeliveryError) as denied:
            wrong.send(make_notification(), timeout_s=5)
        assert denied.value.permanent and "authentication failed" in str(denied.value)

        untrusting = EmailChannel("mail", host="127.0.0.1", port=smtp.port, sender="bot@example.com",
                                  to=["ops@example.com"])
        with pytest.raises(DeliveryError) as untrusted:
            untrusting.send(make_notification(), timeout_s=5)
        assert untrusted.value.permanent and "certificate" in str(untrusted.value)


def test_email_implicit_tls(tmp_path: Path) -> None:
    certificate = self_signed_certificate(tmp_path)
    with SmtpServer("ssl", certificate=certificate, credentials=("bot", CANARY)) as smtp:
        EmailChannel("mail", host="127.0.0.1", port=smtp.port, security="ssl", username="bot", password=CANARY,
                     sender="bot@example.com", to=["ops@example.com"], ca_file=str(certificate[0])).send(
            make_notification(make_alert(status="resolved")), timeout_s=5)
    (mail,) = smtp.mails
    assert mail.tls and parse_mail(mail.content)["Subject"] == "[RESOLVED:1] HighDrawdown (critical)"


@pytest.mark.parametrize(("reply", "permanent"), [("451 4.3.0 try again later", False),
                                                 ("550 5.7.1 message refused", True)])
def test_email_smtp_refusals_are_classified_by_code(reply: str, permanent: bool) -> None:
    with SmtpServer("none", data_reply=reply) as smtp:
        channel = EmailChannel("mail", host="127.0.0.1", port=smtp.port, security="none", sender="a@b.c",
                               to=["d@e.f"])
        with pytest.raises(DeliveryError) as caught:
            channel.send(make_notification(), timeout_s=5)
    assert caught.value.permanent is permanent
    assert f"SMTP {reply[:3]}" in str(caught.value)


def test_email_unreachable_server_is_retryable() -> None:
    channel = EmailChannel("mail", host="127.0.0.1", port=closed_port(), security="none", sender="a@b.c", to=["d@e.f"])
    with pytest.raises(DeliveryError) as caught:
        channel.send(make_notification(), timeout_s=2)
    assert not caught.value.permanent and "ConnectionRefusedError" in str(caught.value)


# --- how HTTP answers are classified ------------------------------------------------------------


@pytest.mark.parametrize(("reply", "permanent", "retry_after"), [
    (Reply(500, b"boom"), False, None),
    (Reply(503, b"", {"Retry-After": "12"}), False, 12.0),
    (Reply(429, b"", {"Retry-After": "3"}), False, 3.0),
    (Reply(408, b""), False, None),
    (Reply(400, b"invalid_payload"), True, None),
    (Reply(404, b"no_service"), True, None),
    (Reply(410, b"channel_is_archived"), True, None),
    (Reply(302, b"", {"Location": "http://127.0.0.1:1/elsewhere"}), True, None),
])
def test_http_answers_are_classified(server: RecordingHttpServer, reply: Reply, permanent: bool,
                                     retry_after: float | None) -> None:
    server.script(reply)
    with pytest.raises(DeliveryError) as caught:
        WebhookChannel("hook", url=server.url()).send(make_notification(), timeout_s=5)
    assert caught.value.permanent is permanent
    assert caught.value.retry_after_s == retry_after
    assert f"HTTP {reply.status}" in str(caught.value)
    assert len(server.requests) == 1  # the redirect was not followed


def test_retry_after_accepts_an_http_date() -> None:
    import datetime as dt

    later = format_datetime(dt.datetime.fromtimestamp(T0 + 30, tz=dt.timezone.utc), usegmt=True)
    assert retry_after_seconds(later, now=T0) == 30
    assert retry_after_seconds("garbage") is None
    assert retry_after_seconds(format_datetime(dt.datetime.fromtimestamp(T0, tz=dt.timezone.utc)), now=T0 + 5) == 0


def test_timeouts_and_closed_ports_are_retryable(black_hole: BlackHoleServer, server: RecordingHttpServer) -> None:
    server.script(Reply(200, delay_s=3))
    started = time.monotonic()
    with pytest.raises(DeliveryError) as slow:
        WebhookChannel("hook", url=server.url()).send(make_notification(), timeout_s=0.3)
    assert time.monotonic() - started < 2
    assert not slow.value.permanent and "TimeoutError" in str(slow.value)
    started = time.monotonic()
    with pytest.raises(DeliveryError) as hung:
        WebhookChannel("hook", url=black_hole.endpoint).send(make_notification(), timeout_s=0.5)
    assert time.monotonic() - started < 3
    assert not hung.value.permanent and "TimeoutError" in str(hung.value)
    with pytest.raises(DeliveryError) as refused:
        WebhookChannel("hook", url=f"http://127.0.0.1:{closed_port()}/x").send(make_notification(), timeout_s=2)
    assert not refused.value.permanent and "ConnectionRefusedError" in str(refused.value)


# --- secrets never leak -------------------------------------------------------------------------


def canary_channels(base: str) -> list[Channel]:
    return [
        WebhookChannel("hook", url=f"{base}/hook/{CANARY}?token={CANARY}", bearer_token=CANARY,
                       headers={"X-Api-Key": CANARY}),
        SlackChannel("slack", url=f"{base}/services/T000/B000/{CANARY}"),
        DiscordChannel("discord", url=f"{base}/api/webhooks/1/{CANARY}"),
        TelegramChannel("tg", token=f"123:{CANARY}", chat_id=1, api_url=base),
        PagerDutyChannel("pd", routing_key=CANARY, url=f"{base}/v2/enqueue"),
        AlertmanagerChannel("am", url=f"http://user:{CANARY}@{base.removeprefix('http://')}",
                            bearer_token=CANARY),
    ]


class EchoEverything(RecordingHttpServer):
    """Answers 400 with the path, headers and body it got: an error text full of credentials."""

    def _record(self, request: Any) -> Reply:
        super()._record(request)
        echoed = json.dumps({"path": request.path, "headers": request.headers,
                             "body": request.body.decode()}).encode()
        return Reply(400, echoed)


def test_credentials_never_appear_in_errors_or_reprs() -> None:
    with EchoEverything() as echo:
        for channel in canary_channels(echo.base):
            assert CANARY not in repr(channel)
            with pytest.raises(DeliveryError) as caught:
                channel.send(make_notification(), timeout_s=5)
            assert caught.value.permanent
            text = f"{caught.value} {caught.value!r} {caught.value.reason}"
            assert "HTTP 400" in text
            assert CANARY not in text, (channel, text)
        assert len(echo.requests) == 6
        assert all(CANARY in (r.path + json.dumps(r.headers) + r.body.decode()) for r in echo.requests)
    for channel in canary_channels(f"http://127.0.0.1:{closed_port()}"):
        with pytest.raises(DeliveryError) as refused:
            channel.send(make_notification(), timeout_s=2)
        assert CANARY not in str(refused.value)
    email_channel = EmailChannel("mail", host="127.0.0.1", port=closed_port(), password=CANARY, username="u",
                                 sender="a@b.c", to=["d@e.f"])
    assert CANARY not in repr(email_channel)


# --- configuration from YAML --------------------------------------------------------------------


def spec(text: str) -> Any:
    return load_yaml(text, "alerting.yml")


ENV = {"SLACK_URL": "https://hooks.slack.com/services/T0/B0/" + CANARY, "TG_TOKEN": f"1:{CANARY}",
       "PD_KEY": CANARY, "SMTP_PASSWORD": CANARY}


@pytest.mark.parametrize(("text", "cls", "checks"), [
    ("type: console\nsend_resolved: false\n", ConsoleChannel, {"send_resolved": False}),
    ("type: file\npath: alerts/out.jsonl\n", FileChannel, {"path": Path("alerts/out.jsonl")}),
    ("type: webhook\nurl: http://h/x\nheaders: {X-A: b}\nmax_alerts: 5\ntimeout: 2s\n", WebhookChannel,
     {"max_alerts": 5, "timeout_s": 2.0}),
    ("type: slack\nurl: ${SLACK_URL}\nrate_limit: 20/min\nretries: 5\n", SlackChannel, {"retries": 5}),
    ("type: discord\nurl: https://discord.com/api/webhooks/1/x\nusername: bot\n", DiscordChannel,
     {"username": "bot"}),
    ("type: telegram\ntoken: ${TG_TOKEN}\nchat_id: '-100123'\napi_url: ${TG_API:-https://api.telegram.org}\n",
     TelegramChannel, {"chat_id": -100123, "api_url": "https://api.telegram.org"}),
    ("type: email\nhost: smtp.example.com\nsecurity: ssl\nfrom: a@b.c\nto: ops@b.c\npassword: ${SMTP_PASSWORD}\n"
     "username: a\n", EmailChannel, {"port": 465, "to": ("ops@b.c",), "sender": "a@b.c"}),
    ("type: pagerduty\nrouting_key: ${PD_KEY}\nclass: drawdown\n", PagerDutyChannel, {"event_class": "drawdown"}),
    ("type: alertmanager\nurl: http://am:9093\nresolve_timeout: 5m\n", AlertmanagerChannel,
     {"resolve_timeout_s": 300.0}),
])
def test_build_channel_from_yaml(text: str, cls: type[Channel], checks: dict[str, Any]) -> None:
    channel = build_channel("ops", spec(text), source="alerting.yml", environ=ENV)
    assert type(channel) is cls and channel.name == "ops"
    for attribute, expected in checks.items():
        assert getattr(channel, attribute) == expected
    assert CANARY not in repr(channel)


def test_build_channel_rate_limit_and_common_fields() -> None:
    channel = build_channel("ops", spec("type: slack\nurl: ${SLACK_URL}\nrate_limit: 20/min\n"), source="a.yml",
                            environ=ENV)
    assert channel.rate_limit is not None and (channel.rate_limit.count, channel.rate_limit.period_s) == (20, 60)
    assert (channel.timeout_s, channel.retries, channel.send_resolved) == (10.0, 3, True)


@pytest.mark.parametrize(("text", "line", "field", "message"), [
    ("type: slak\nurl: x\n", 1, "type", "unknown channel type 'slak'; did you mean 'slack'?"),
    ("url: x\n", 1, "type", "unknown channel type nothing"),
    ("type: slack\nurll: ${SLACK_URL}\n", 2, "urll", "did you mean 'url'?"),
    ("type: slack\n", 1, "url", "a slack channel needs url"),
    ("type: email\nhost: h\nto: [a@b.c]\n", 1, "from", "needs from"),
    ("type: webhook\nurl: http://h\nretries: many\n", 3, "retries", "expected a whole number ≥ 0 like 3, got a string"),
    ("type: webhook\nurl: http://h\ntimeout: soon\n", 3, "timeout", "expected a duration like 30s"),
    ("type: webhook\nurl: http://h\nrate_limit: fast\n", 3, "rate_limit", "expected a rate like 20/min"),
    ("type: webhook\nurl: http://h\nsend_resolved: maybe\n", 3, "send_resolved", "expected true or false"),
    ("type: email\nhost: h\nfrom: a\nto: [b]\nsecurity: tls\n", 5, "security",
     "expected one of starttls, ssl, none, got 'tls'"),
    ("type: telegram\ntoken: ${NOT_SET}\nchat_id: 1\n", 2, "token", "environment variable NOT_SET is not set"),
    ("type: telegram\ntoken: t\nchat_id: [1]\n", 3, "chat_id", "expected a chat id like -1001234567890"),
    ("type: webhook\nurl: ftp://h/x\n", 2, "url", "url must be an http:// or https:// URL"),
    ("type: file\npath: /\n", 2, "path", "path: expected the path of a file, got the directory '/'"),
])
def test_build_channel_errors_name_source_line_and_field(text: str, line: int | None, field: str | None,
                                                         message: str) -> None:
    with pytest.raises(RulesError) as caught:
        build_channel("ops", spec(text), source="alerting.yml", environ=ENV)
    error = caught.value
    assert (error.source, error.line, error.field) == ("alerting.yml", line, field)
    assert message in str(error)
    assert "channel 'ops'" in str(error)


@pytest.mark.parametrize("text", [
    f"type: telegram\ntoken: [{CANARY}]\nchat_id: 1\n",
    f"type: webhook\nurl: ftp://{CANARY}/x\n",
    f"type: webhook\nurl: http://h\nheaders: {CANARY}\n",
    f"type: pagerduty\nrouting_key: {{a: {CANARY}}}\n",
    f"type: webhook\nurl: http://h\nbearer_token: [{CANARY}]\n",
    f"type: email\nhost: h\nfrom: a\nto: [b]\npassword: [{CANARY}]\nsecurity: none\n",
])
def test_build_channel_errors_never_repeat_a_secret(text: str) -> None:
    with pytest.raises(RulesError) as caught:
        build_channel("ops", spec(text), source="alerting.yml", environ=ENV)
    assert CANARY not in f"{caught.value} {caught.value!r}"


def test_console_stream_can_be_given() -> None:
    stream = io.StringIO()
    ConsoleChannel("console", stream=stream).send(make_notification(), timeout_s=1)
    assert stream.getvalue().startswith("[alert] FIRING critical HighDrawdown")
