"""Secrets in alerts: a rule's labels and annotations, and the channels' own credentials, end nowhere.

One real engine on the SDK's metrics, every kind of output at once: file and console channels,
webhook / Slack / Discord / Telegram posting to a loopback receiver, a channel whose server
fails and echoes the request (so the dead-letter file fills), the state file and the SDK's
own log records in the local store. Canary values go in; none may come out.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

from alert_receivers import RecordingHttpServer, Reply, Request

import otel_trading
from otel_trading import TradingState, set_trading_state
from otel_trading.alerts import build_engine, load_config
from otel_trading.alerts.channels import ConsoleChannel

LABEL = "CANARY-LABEL-7f3a9"
QUERY = "CANARY-QUERY-91bd2"
PASSWORD = "CANARY-PASSWORD-44c1"
SLACK = "CANARYSLACKTOKEN0123456789"
TELEGRAM = "123456:CANARY-TELEGRAM-TOKEN-a1b2"
BEARER = "CANARY-BEARER-0e7d5"
ECHOED = "CANARYECHOEDPATH0123456789"
CANARIES = (LABEL, QUERY, PASSWORD, SLACK, TELEGRAM, BEARER, ECHOED)


class EchoingServer(RecordingHttpServer):
    """Fails every request with a body quoting its path and headers, as careless services do."""

    def _record(self, request: Request) -> Reply:
        super()._record(request)
        return Reply(400, json.dumps({"error": "bad", "path": request.path, "headers": request.headers}).encode())


def alerting_file(receiver: RecordingHttpServer, echo: EchoingServer, tmp_path: Path) -> str:
    slack_url = receiver.url(f"/services/T0/B0/{SLACK}")
    return f"""
state_file: {tmp_path / "state.json"}
dead_letter_file: {tmp_path / "dead.jsonl"}
rules:
  - name: Halted
    gauge: trading.state
    where: {{trading.state: halted}}
    aggregate: max
    at_least: 1
    severity: critical
    labels: {{api_key: {LABEL}, team: quant}}
    annotations:
      summary: "halted; retry with token={QUERY} at https://ops:{PASSWORD}@example.com/x"
      runbook_url: "{slack_url}"
channels:
  file: {{type: file, path: {tmp_path / "alerts.jsonl"}}}
  hook: {{type: webhook, url: "{receiver.url("/hook")}", bearer_token: {BEARER}, retries: 0}}
  slack: {{type: slack, url: "{slack_url}", retries: 0}}
  discord: {{type: discord, url: "{receiver.url("/api/webhooks/1/" + SLACK)}", retries: 0}}
  telegram: {{type: telegram, token: "{TELEGRAM}", chat_id: 1, api_url: "{receiver.url()}", retries: 0}}
  broken: {{type: webhook, url: "{echo.url("/x/" + ECHOED)}", retries: 0}}
routes:
  - channels: [file, console, hook, slack, discord, telegram, broken]
    group_wait: 0s
    group_interval: 1ms
"""


def test_no_secret_reaches_any_output(configured: otel_trading.Telemetry, tmp_path: Path) -> None:
    console = io.StringIO()
    clock = [1_000.0]
    with RecordingHttpServer(Reply(200, b'{"ok": true}')) as receiver, EchoingServer() as echo:
        config = load_config(text=alerting_file(receiver, echo, tmp_path))
        engine, dispatcher = build_engine(config, channels={"console": ConsoleChannel("console", stream=console)},
                                          clock=lambda: clock[0])
        set_trading_state(TradingState.HALTED, reason="test")
        [fired] = engine.evaluate()
        assert fired.after == "firing"
        assert receiver.wait_for(lambda: len(receiver.requests) == 4)
        set_trading_state(TradingState.ACTIVE, reason="test")
        clock[0] += 15
        [resolved] = engine.evaluate()
        assert resolved.after == "inactive"
        assert receiver.wait_for(lambda: len(receiver.requests) == 8)
        engine.stop()
        assert dispatcher.close(10)
        bodies = [request.body.decode() for request in receiver.requests + echo.requests]
    configured.shutdown()
    files = {path.name: path.read_text() for path in [tmp_path / "state.json", tmp_path / "dead.jsonl",
                                                      tmp_path / "alerts.jsonl"]}
    logs = "".join(path.read_text() for path in (tmp_path / "store").rglob("*") if path.is_file())
    outputs = {**files, "console": console.getvalue(), "logs": logs,
               **{f"request {index}": body for index, body in enumerate(bodies)}}
    # Each output really holds the alert (so "no canary" means scrubbed, not absent).
    assert "alert firing" in logs and "alert resolved" in logs
    assert len(files["alerts.jsonl"].splitlines()) == 2 and len(files["dead.jsonl"].splitlines()) == 2
    assert "HTTP 400" in files["dead.jsonl"], "the echoing server's answer is the dead letter's reason"
    for name, text in outputs.items():
        assert "Halted" in text, name
        for canary in CANARIES:
            assert canary not in text, f"{canary} in {name}"
    assert "api_key=[REDACTED]" in console.getvalue() and "team=quant" in console.getvalue()
