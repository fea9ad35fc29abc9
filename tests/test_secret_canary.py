"""One bot run drives every signal with canary secrets in every shape, then searches every output.

Outputs: OTLP request bodies (traces, metrics, logs), both store files, ``/metrics`` text
(with ``target_info``), stdout/stderr, the ``traces`` and ``logs`` CLI views of the store,
and the ``/readyz`` JSON. The harness is in canary.py.
"""

from __future__ import annotations

import time
import urllib.error
from collections.abc import Iterator
from pathlib import Path

import pytest
from canary import CANARY, Sinks, cli_output, console_outputs, scrape
from otlp_receiver import otlp_options, receiver_for

import otel_trading
from otel_trading import get_logger, health, span, traced, trade
from otel_trading.console import current_console, serve_store
from otel_trading.context import bound

pytestmark = pytest.mark.timeout(60)

SLACK_WEBHOOK = f"https://hooks.slack.com/services/T0TEAM0001/B0HOOK0002/{CANARY}-slack"
DISCORD_WEBHOOK = f"https://discord.com/api/webhooks/112233445566778899/{CANARY}-discord"
TELEGRAM_TOKEN = f"987654321:AA{CANARY}-telegram-bare-token"
JWT = f"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJib3QtMSJ9.{CANARY}-jwt"
PEM_KEY = f"-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIB{CANARY}-pem\n-----END EC PRIVATE KEY-----"
USER_SECRET = f"{CANARY}-user-registered"  # given to configure(secrets=[...]), then logged under a harmless name
HEADER_TOKEN = f"{CANARY}-otlp-header-value"
RESOURCE_URL = f"postgres://bot:{CANARY}-resource@db.internal:5432/trades"
STRATEGY_URL = f"https://quant:{CANARY}-strategy-label@signals.example.com/momentum"
REJECT_REASON = f"venue said: retry https://quant:{CANARY}-reason-label@api.example.com"
HEALTH_SECRET = f"{CANARY}-health-known"
BOUND_TOKEN = f"{CANARY}-bound-by-key-name"
BOUND_URL = f"wss://feed:{CANARY}-bound-url@stream.example.com/ws"


@pytest.fixture(params=["grpc", "http/protobuf"])
def sinks(request: pytest.FixtureRequest, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> Iterator[Sinks]:
    with receiver_for(request.param) as receiver:
        yield Sinks(receiver, tmp_path / "store", capfd)
        otel_trading.shutdown(timeout=2)
        health.clear_checks()


@traced(capture=["webhook"])
def notify(webhook: str) -> None:
    raise ConnectionError(f"POST {DISCORD_WEBHOOK} refused; session {JWT}")


def failing_exchange_check() -> None:
    raise PermissionError(f"bot {TELEGRAM_TOKEN} unauthorized, key {HEALTH_SECRET}")


def test_canaries_reach_no_output(sinks: Sinks, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", f"db.url={RESOURCE_URL}")
    header = "Authorization" if sinks.receiver.protocol == "http/protobuf" else "authorization"
    telemetry = otel_trading.configure(**otlp_options(
        sinks.receiver.endpoint, sinks.receiver.protocol,
        traces_exporter=["otlp", "local"], logs_exporter=["otlp", "local"],
        metrics_exporter=["otlp", "prometheus"], prometheus_port=0,
        store_dir=sinks.store_dir, log_console="json",
        otlp_headers={header: f"Bearer {HEADER_TOKEN}"},
        secrets=[USER_SECRET, HEALTH_SECRET], console=True, console_port=0,
    ))
    log = get_logger("bot")
    with span("cycle", alert_url=SLACK_WEBHOOK):
        try:
            notify(DISCORD_WEBHOOK)
        except ConnectionError:
            log.exception("notification failed")
        log.info(f"telegram bot {TELEGRAM_TOKEN} ready", webhook=SLACK_WEBHOOK)
        log.warning("key file unreadable", content=PEM_KEY, note=USER_SECRET)
        log.info(f"collector credential {HEADER_TOKEN} loaded")  # known from otlp_headers only
        with bound(session_token=BOUND_TOKEN, feed=BOUND_URL):  # bound context joins every line in the block
            log.info("feed connected")
        with trade("BTC/USDT", "buy", strategy=STRATEGY_URL) as position:
            order = position.submit_order(0.1, price=42_000.0)
            order.rejected(REJECT_REASON)
    health.add_check("exchange", failing_exchange_check, interval=60.0)
    with health.serve(port=0) as server:
        readyz = _wait_for_failed_check(server.url + "/readyz")
    sinks.add_output("/readyz", readyz)
    assert telemetry.prometheus_url is not None
    metrics_text = scrape(telemetry.prometheus_url)
    sinks.add_output("/metrics", metrics_text)
    otel_trading.set_trading_state("halted", reason=f"operator note {USER_SECRET}")  # the console shows reasons
    assert telemetry.force_flush(5)
    live_console = current_console()
    assert live_console is not None
    cycle_id = next(s for s in sinks.receiver.spans() if s.name == "cycle").trace_id.hex()
    for name, text in console_outputs(live_console.url, cycle_id).items():
        sinks.add_output(f"live {name}", text)
    sinks.finish(telemetry)
    store = str(sinks.store_dir)
    with serve_store(store, port=0) as store_console:
        rendered = console_outputs(store_console.url, cycle_id)
    for name, text in rendered.items():
        sinks.add_output(f"store {name}", text)
    assert "notification failed" in rendered["console /api/logs?limit=1000"]
    assert "[REDACTED]" in rendered[f"console /api/traces/{cycle_id}"]
    assert "operator note [REDACTED]" in sinks.outputs["live console /api/controls"]
    otel_trading.set_trading_state("active")
    traces_view = cli_output("traces", "--store", store, "--attributes")
    logs_view = cli_output("logs", "--store", store)
    cycle = next(s for s in sinks.receiver.spans() if s.name == "cycle")
    waterfall = cli_output("traces", "--store", store, cycle.trace_id.hex(), "--attributes")
    sinks.add_output("`traces <id>`", waterfall)
    sinks.add_output("`traces`", traces_view)
    sinks.add_output("`logs`", logs_view)

    # Every output was exercised: the telemetry itself is there, scrubbed.
    assert 'trading_strategy="https://[REDACTED]@signals.example.com/momentum"' in metrics_text
    assert "trading_order_reason=" in metrics_text and "[REDACTED]" in metrics_text
    assert 'db_url="postgres://[REDACTED]@db.internal:5432/trades"' in metrics_text  # target_info
    resources = sinks.receiver.resources()
    assert resources and all(r["db.url"] == "postgres://[REDACTED]@db.internal:5432/trades" for r in resources)
    assert {"cycle", "notify"} <= {s.name for s in sinks.receiver.spans()}
    assert "notification failed" in waterfall and "alert_url" in waterfall
    assert "notify" in traces_view and "notification failed" in logs_view and "[REDACTED]" in logs_view
    assert "telegram bot [REDACTED] ready" in sinks.console
    assert '"exchange"' in readyz and "PermissionError" in readyz

    assert sinks.leaks() == {}


def _wait_for_failed_check(url: str) -> str:
    deadline = time.monotonic() + 10
    while True:
        try:
            return scrape(url)  # 200: not failed yet
        except urllib.error.HTTPError as error:  # 503 once the critical check failed
            with error:
                body = error.read().decode("utf-8")
            if "PermissionError" in body or time.monotonic() > deadline:
                return body
        if time.monotonic() > deadline:
            raise AssertionError("the health check never ran")
        time.sleep(0.02)

