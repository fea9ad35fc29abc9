"""``otel-trading rules export --format alertmanager``: the engine's routing as an Alertmanager 0.25 configuration.

Checked by the real ``amtool``: ``check-config`` accepts it, and ``config routes test`` sends
each label set to the receivers the engine's router picks. Secrets, set through ``${ENV}``
to canaries, never reach the output.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from binaries import require
from cli_runner import run_cli

from otel_trading.alerts import load_config
from otel_trading.alerts._alertmanager_config import alertmanager_config
from otel_trading.alerts._routing import Router
from otel_trading.alerts.channels._alertmanager_receivers import PLACEHOLDER

ALERTING = r"""
default_pack: true
channels:
  ops-hook:
    type: webhook
    url: ${HOOK_URL}
    bearer_token: ${HOOK_TOKEN}
    headers: {X-Api-Key: "${HOOK_KEY}"}
    max_alerts: 20
  ops-slack: {type: slack, url: "${SLACK_WEBHOOK_URL}", send_resolved: false, rate_limit: 20/min}
  ops-discord: {type: discord, url: "${DISCORD_WEBHOOK_URL}", username: bot}
  ops-telegram: {type: telegram, token: "${TELEGRAM_BOT_TOKEN}", chat_id: "${TELEGRAM_CHAT_ID}",
                 disable_notification: true}
  channel-telegram: {type: telegram, token: "CANARY-written-in-the-file", chat_id: "@tradingalerts"}
  mail:
    type: email
    host: smtp.example.com
    from: alerts@example.com
    to: [ops@example.com, quant@example.com]
    username: alerts
    password: ${SMTP_PASSWORD}
  pager: {type: pagerduty, routing_key: "${PAGERDUTY_ROUTING_KEY}", source: bot-1}
  am: {type: alertmanager, url: "http://user:${AM_PASSWORD}@alertmanager:9093"}
  archive: {type: file, path: alerts.jsonl}
routes:
  - match: {severity: critical}
    match_re: {alertname: 'Daily.*|Drawdown\w+'}
    channels: [pager, ops-telegram]
    group_by: [alertname, trading.portfolio]
    group_wait: 10s
    group_interval: 2m
    repeat_interval: 1h30m
    continue: true
  - match: {severity: critical}
    channels: [mail, ops-slack, ops-discord]
    group_wait: 0s
  - match: {team: 'quant "a\b"'}
    channels: [ops-hook, channel-telegram]
  - match_re: {alertname: 'Process.*'}
    channels: [console, archive, am]
  - channels: [ops-telegram]
inhibit:
  - source: {alertname: TradingHalted}
    target_re: {alertname: "DailyLossLimit|DrawdownLimit"}
    equal: [trading.portfolio]
escalate:
  - after: 15m
    channels: [pager]
silences:
  - match: {alertname: WinRateLow}
    ends_at: 2030-12-01T00:00:00Z
    comment: strategy under review
"""
CANARIES = {
    "HOOK_URL": "https://hooks.example.com/CANARY-hook-url",
    "HOOK_TOKEN": "CANARY-hook-token",
    "HOOK_KEY": "CANARY-hook-key",
    "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/CANARY-slack",
    "DISCORD_WEBHOOK_URL": "https://discord.com/api/webhooks/1/CANARY-discord",
    "TELEGRAM_BOT_TOKEN": "123:CANARY-telegram",
    "SMTP_PASSWORD": "CANARY-smtp",
    "PAGERDUTY_ROUTING_KEY": "CANARY-pagerduty",
    "AM_PASSWORD": "CANARY-alertmanager",
}
NOT_SECRET = {"TELEGRAM_CHAT_ID": "-1001234567890"}
RECEIVERS = ["unrouted", "pager+ops-telegram", "mail+ops-slack+ops-discord", "ops-hook+channel-telegram",
             "console+archive+am", "ops-telegram"]


@pytest.fixture(scope="module")
def alerting(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("export") / "alerting.yaml"
    path.write_text(ALERTING, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def exported(alerting: Path) -> tuple[subprocess.CompletedProcess[str], Path]:
    """The CLI's export of ALERTING with every secret set to a canary: its run and its output file."""
    output = alerting.with_name("alertmanager.yml")
    result = run_cli("rules", "export", str(alerting), "--format", "alertmanager", "-o", str(output),
                     **CANARIES, **NOT_SECRET)
    assert result.returncode == 0, result.stderr
    return result, output


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require("amtool"), *args], capture_output=True, text=True, check=False, timeout=60)


def receivers_of(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {receiver["name"]: receiver for receiver in document["receivers"]}


def test_every_channel_type_exports_to_a_config_amtool_accepts_without_a_secret(
        alerting: Path, exported: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    result, output = exported
    text = output.read_text(encoding="utf-8")
    check = amtool("check-config", str(output))
    assert check.returncode == 0, check.stdout + check.stderr + text
    assert "SUCCESS" in check.stdout and f"{len(RECEIVERS)} receivers" in check.stdout
    assert "CANARY" not in text + result.stdout + result.stderr

    # What to fill in: files for the fields 0.25 reads from a file, placeholders for the others.
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    secrets = "/etc/alertmanager/secrets"
    for expected in (
        f"channel ops-slack: create {secrets}/ops-slack.url holding the value of ${{SLACK_WEBHOOK_URL}}",
        f"channel pager: create {secrets}/pager.routing_key holding the value of ${{PAGERDUTY_ROUTING_KEY}}",
        f"channel mail: create {secrets}/mail.password holding the value of ${{SMTP_PASSWORD}}",
        f"channel ops-hook: create {secrets}/ops-hook.bearer_token holding the value of ${{HOOK_TOKEN}}",
        f"channel ops-hook: replace url https://webhook.invalid/{PLACEHOLDER} with the value of ${{HOOK_URL}}",
        f"channel ops-discord: replace webhook_url https://discord.invalid/api/webhooks/{PLACEHOLDER} with the "
        "value of ${DISCORD_WEBHOOK_URL}",
        f"channel ops-telegram: replace bot_token {PLACEHOLDER} with the value of ${{TELEGRAM_BOT_TOKEN}}",
        f"channel channel-telegram: replace bot_token {PLACEHOLDER} with the value written in {alerting}",
        "channel channel-telegram: replace chat_id -1 with the numeric id of @tradingalerts",
        "channel ops-hook: headers left out",
        "escalation after 15m to pager is left out",
    ):
        assert any(line.startswith(f"warning: {expected}") for line in warnings), (expected, warnings)
    assert len(warnings) == 11, warnings  # ops-telegram serves two routes: its token is asked for once
    assert "# Before use:" in text and all(w.removeprefix("warning: ") in text for w in warnings)

    document = yaml.safe_load(text)
    root = document["route"]
    assert root["receiver"] == "unrouted" and "routes" in root
    assert [r["receiver"] for r in root["routes"]] == RECEIVERS[1:]
    first, second, hook, console, fallback = root["routes"]
    assert first == {"receiver": "pager+ops-telegram",
                     "matchers": ['severity="critical"', r'alertname=~"Daily.*|Drawdown\\w+"'],
                     "group_by": ["alertname", "trading_portfolio"], "group_wait": "10s", "group_interval": "2m",
                     "repeat_interval": "1h30m", "continue": True}
    assert second["matchers"] == ['severity="critical"'] and second["group_wait"] == "0s"
    assert (second["group_interval"], second["repeat_interval"], second["continue"]) == ("1m", "4h", False)
    assert hook["matchers"] == [r'team="quant \"a\\b\""']
    assert console["matchers"] == ['alertname=~"Process.*"']
    assert "matchers" not in fallback and fallback["group_by"] == ["alertname"]

    receivers = receivers_of(document)
    assert list(receivers) == RECEIVERS
    assert receivers["unrouted"] == {"name": "unrouted"}
    assert receivers["console+archive+am"] == {"name": "console+archive+am"}
    assert receivers["pager+ops-telegram"]["pagerduty_configs"] == [
        {"routing_key_file": f"{secrets}/pager.routing_key", "source": "bot-1", "send_resolved": True}]
    assert receivers["ops-telegram"]["telegram_configs"] == [
        {"bot_token": PLACEHOLDER, "chat_id": -1001234567890, "parse_mode": "HTML", "disable_notifications": True,
         "send_resolved": True}]
    mail = receivers["mail+ops-slack+ops-discord"]
    assert mail["email_configs"] == [
        {"to": "ops@example.com, quant@example.com", "from": "alerts@example.com",
         "smarthost": "smtp.example.com:587", "require_tls": True, "auth_username": "alerts",
         "auth_password_file": f"{secrets}/mail.password", "send_resolved": True}]
    assert mail["slack_configs"] == [{"api_url_file": f"{secrets}/ops-slack.url", "send_resolved": False}]
    assert mail["discord_configs"] == [
        {"webhook_url": f"https://discord.invalid/api/webhooks/{PLACEHOLDER}", "send_resolved": True}]
    hook_receiver = receivers["ops-hook+channel-telegram"]
    assert hook_receiver["webhook_configs"] == [
        {"url": f"https://webhook.invalid/{PLACEHOLDER}", "max_alerts": 20, "send_resolved": True,
         "http_config": {"authorization": {"type": "Bearer", "credentials_file": f"{secrets}/ops-hook.bearer_token"}}}]
    assert hook_receiver["telegram_configs"][0]["chat_id"] == -1

    assert document["inhibit_rules"] == [{"source_matchers": ['alertname="TradingHalted"'],
                                          "target_matchers": ['alertname=~"DailyLossLimit|DrawdownLimit"'],
                                          "equal": ["trading_portfolio"]}]
    # Silences are API objects: a ready amtool command, as a comment.
    assert "#   amtool silence add --alertmanager.url=http://localhost:9093 --end=2030-12-01T00:00:00Z " \
           "'--comment=strategy under review' 'alertname=\"WinRateLow\"'" in text
    assert "# Not carried over: Alertmanager has no escalation." in text


@pytest.mark.parametrize(("labels", "expected"), [
    ({"alertname": "DailyLossLimit", "severity": "critical"}, ["pager+ops-telegram", "mail+ops-slack+ops-discord"]),
    ({"alertname": "DrawdownLimit", "severity": "critical"}, ["pager+ops-telegram", "mail+ops-slack+ops-discord"]),
    ({"alertname": "TradingHalted", "severity": "critical"}, ["mail+ops-slack+ops-discord"]),
    ({"alertname": "WinRateLow", "severity": "warning", "team": 'quant "a\\b"'}, ["ops-hook+channel-telegram"]),
    ({"alertname": "WinRateLow", "severity": "warning", "team": "quant"}, ["ops-telegram"]),
    ({"alertname": "ProcessCpuHigh", "severity": "warning"}, ["console+archive+am"]),
    ({"alertname": "xProcessCpuHigh", "severity": "warning"}, ["ops-telegram"]),  # regexes match whole values
])
def test_alertmanager_routes_each_alert_to_the_receivers_the_engine_picks(
        alerting: Path, exported: tuple[subprocess.CompletedProcess[str], Path], labels: dict[str, str],
        expected: list[str]) -> None:
    _, output = exported
    quoted = {name: value.replace("\\", "\\\\").replace('"', '\\"') for name, value in labels.items()}
    arguments = [f'{name}="{value}"' for name, value in quoted.items()]
    routed = amtool("config", "routes", "test", f"--config.file={output}", *arguments)
    assert routed.returncode == 0, routed.stderr
    assert routed.stdout.strip().split(",") == expected

    config = load_config(alerting)
    engine = Router(config.routes, lambda *_: None)._routes_for(labels)
    assert ["+".join(route.channels) for _, route in engine] == expected


def test_without_routes_every_channel_gets_every_alert(tmp_path: Path) -> None:
    config = load_config(text="channels:\n  a: {type: console}\n  b: {type: file, path: x.jsonl}\n")
    result = alertmanager_config(config)
    document = yaml.safe_load(result.text)
    assert [r["receiver"] for r in document["route"]["routes"]] == ["a+b"]
    assert result.receivers == ("unrouted", "a+b") and result.warnings == ()
    assert "inhibit_rules" not in document
    path = tmp_path / "alertmanager.yml"
    path.write_text(result.text, encoding="utf-8")
    assert amtool("check-config", str(path)).returncode == 0


def test_receiver_names_never_collide(tmp_path: Path) -> None:
    config = load_config(text="channels:\n  unrouted: {type: console}\n  a: {type: console}\n  b: {type: console}\n"
                         "  a+b: {type: console}\nroutes:\n  - {channels: [a, b], match: {x: '1'}}\n"
                         "  - {channels: [a+b], match: {x: '2'}}\n  - {channels: [unrouted]}\n")
    result = alertmanager_config(config)
    assert result.receivers == ("unrouted", "a+b", "a+b~2", "unrouted~2")
    path = tmp_path / "alertmanager.yml"
    path.write_text(result.text, encoding="utf-8")
    assert amtool("check-config", str(path)).returncode == 0


def test_cli_errors(alerting: Path) -> None:
    usage = run_cli("rules", "export", "--format", "alertmanager", "--default-pack")
    assert usage.returncode == 2 and "give one" in usage.stderr
    missing = run_cli("rules", "export", str(alerting), "--format", "alertmanager", **NOT_SECRET)
    assert missing.returncode == 0, "secrets are not read, so they need not be set"
    assert "TELEGRAM_CHAT_ID" not in missing.stderr and "chat_id: -1001234567890" in missing.stdout
    unset = run_cli("rules", "export", str(alerting), "--format", "alertmanager")
    assert unset.returncode == 2 and "environment variable TELEGRAM_CHAT_ID is not set" in unset.stderr
    bad = alerting.with_name("bad.yaml")
    bad.write_text("channels:\n  x: {type: email, host: h, from: a@b, to: c@d, prot: 25}\n", encoding="utf-8")
    wrong = run_cli("rules", "export", str(bad), "--format", "alertmanager")
    assert wrong.returncode == 2 and f"{bad}:2: prot: channel 'x': unknown field for a email channel" in wrong.stderr
    bad.write_text("channels:\n  hook:\n    type: webhook\n", encoding="utf-8")
    no_url = run_cli("rules", "export", str(bad), "--format", "alertmanager")
    assert no_url.returncode == 2 and "Traceback" not in no_url.stderr, no_url.stderr
    assert f"{bad}:3: url: channel 'hook': a webhook channel needs url" in no_url.stderr
