"""A third-party package adds an alert channel kind and an instrumentation without editing otel-trading.

``tests/plugin_packages/otel_trading_toy`` is such a package (its pyproject.toml declares an
``otel_trading_alert_channel`` and an ``opentelemetry_instrumentor`` entry point), and
``toy_exchange`` the library it instruments. Each test installs them into a temporary
directory (a real ``*.dist-info``, see plugins.py) and runs a fresh interpreter or the
``otel-trading`` command with that directory on ``PYTHONPATH``: nothing is installed into
the venv, and the process under test discovers the plugins as a user's would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from alert_receivers import RecordingHttpServer
from cli_runner import SCRIPT, clean_environment
from plugins import PLUGIN_PACKAGES, install_distribution, install_package

from otel_trading.analytics import read_journal
from otel_trading.export import StoredSpan, load_store

SMS_KEY = "sms-gateway-key-0123456789"


def site(tmp_path: Path, *packages: str) -> Path:
    directory = tmp_path / "site"
    for package in packages:
        install_package(PLUGIN_PACKAGES / package, directory)
    directory.mkdir(exist_ok=True)
    return directory


def run(args: list[str], site_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = clean_environment(**env)
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site_dir), os.environ.get("PYTHONPATH")]))
    return subprocess.run(args, capture_output=True, text=True, timeout=90, env=environ, check=False)


def python(code: str, site_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-c", textwrap.dedent(code)], site_dir, **env)


ALERTING = """\
rules:
  - name: DrawdownHigh
    gauge: trading.drawdown
    above: 0.1
channels:
  phone:
    type: sms
    url: ${SMS_URL}
    to: "+15550100"
routes:
  - channels: [phone]
"""

# --- alert channels -------------------------------------------------------------------------------


def test_a_channel_kind_from_an_installed_package_is_checked_delivers_and_exports(tmp_path: Path) -> None:
    directory = site(tmp_path, "otel_trading_toy")
    alerting = tmp_path / "alerting.yml"
    alerting.write_text(ALERTING, encoding="utf-8")
    with RecordingHttpServer() as gateway:
        url = gateway.url(f"/send?key={SMS_KEY}")
        checked = run([str(SCRIPT), "rules", "check", str(alerting)], directory, SMS_URL=url)
        assert checked.returncode == 0, checked.stdout + checked.stderr

        delivered = python(f"""
            from otel_trading.alerts import load_config
            from otel_trading.alerts._model import Alert, Notification
            from otel_trading.alerts.channels import build_channel
            config = load_config({str(alerting)!r})
            channel = build_channel("phone", config.channels["phone"], source=config.source)
            alert = Alert(labels={{"alertname": "DrawdownHigh", "severity": "critical"}}, annotations={{}},
                          status="firing", value=0.2, starts_at=0.0, ends_at=None, generator_url="")
            channel.send(Notification(receiver="phone", status="firing", alerts=(alert,), group_key="k",
                                      group_labels={{}}), timeout_s=5)
            print(repr(channel))
        """, directory, SMS_URL=url)
        assert delivered.returncode == 0, delivered.stderr
        assert delivered.stdout.strip() == "<SmsChannel name='phone' kind='sms'>"
        [request] = gateway.requests
        assert request.path == f"/send?key={SMS_KEY}"
        assert request.json == {"to": "+15550100", "text": "[firing] DrawdownHigh"}

    exported = run([str(SCRIPT), "rules", "export", "--format", "alertmanager", str(alerting)], directory,
                   SMS_URL=url)
    assert exported.returncode == 0, exported.stderr
    assert "webhook_configs:\n  - url: https://sms.invalid/REPLACE_ME" in exported.stdout
    assert "#   to: +15550100 (the gateway reads it from the webhook payload)" in exported.stdout
    assert "replace url https://sms.invalid/REPLACE_ME with the value of ${SMS_URL}" in exported.stdout
    assert SMS_KEY not in exported.stdout + exported.stderr


def test_a_plugin_channel_field_error_names_the_file_line_and_field(tmp_path: Path) -> None:
    directory = site(tmp_path, "otel_trading_toy")
    alerting = tmp_path / "alerting.yml"
    alerting.write_text(ALERTING.replace('"+15550100"', "15550100").replace("${SMS_URL}", SMS_KEY), encoding="utf-8")
    checked = run([str(SCRIPT), "rules", "check", str(alerting)], directory)
    assert checked.returncode != 0
    assert f"{alerting}:9: to: channel 'phone': expected a phone number like +15550100" in checked.stderr
    assert "Traceback" not in checked.stderr and SMS_KEY not in checked.stderr


def test_without_the_package_the_type_is_unknown_and_the_known_ones_are_listed(tmp_path: Path) -> None:
    alerting = tmp_path / "alerting.yml"
    alerting.write_text(ALERTING, encoding="utf-8")
    checked = run([str(SCRIPT), "rules", "check", str(alerting)], site(tmp_path), SMS_URL="http://127.0.0.1:9/x")
    assert checked.returncode != 0
    assert (f"{alerting}:7: type: channel 'phone': unknown channel type 'sms' (expected one of console, file, "
            "webhook, slack, discord, telegram, email, pagerduty, alertmanager)") in checked.stderr


def test_a_broken_channel_plugin_is_an_error_at_the_type_line_naming_the_package(tmp_path: Path) -> None:
    directory = install_distribution(tmp_path / "site", "broken-sms", modules={"broken_sms.py": "import nowhere\n"},
                                     entry_points={"otel_trading_alert_channel": {"sms": "broken_sms:SMS",
                                                                                  "fax": "json:dumps"}})
    alerting = tmp_path / "alerting.yml"
    alerting.write_text(ALERTING, encoding="utf-8")
    checked = run([str(SCRIPT), "rules", "check", str(alerting)], directory, SMS_URL="http://127.0.0.1:9/x")
    assert checked.returncode != 0
    assert (f"{alerting}:7: type: channel 'phone': the channel type 'sms' could not be loaded from its entry point "
            "sms = broken_sms:SMS (group otel_trading_alert_channel, package broken-sms): ModuleNotFoundError: "
            "No module named 'nowhere'") in checked.stderr
    alerting.write_text(ALERTING.replace("type: sms", "type: fax"), encoding="utf-8")
    checked = run([str(SCRIPT), "rules", "check", str(alerting)], directory, SMS_URL="http://127.0.0.1:9/x")
    assert (f"{alerting}:7: type: channel 'phone': the entry point fax = json:dumps (group "
            "otel_trading_alert_channel, package broken-sms) is a function, expected an "
            "otel_trading.alerts.channels.ChannelKind") in checked.stderr


# --- instrumentations -----------------------------------------------------------------------------

BOT = """
    import otel_trading
    otel_trading.configure(service_name="toy-bot", metrics_exporter="none", logs_exporter="none",
                           log_console="off", system_metrics=False)
    import toy_exchange
    exchange = toy_exchange.ToyExchange()
    with otel_trading.trade("BTC/USDT", side="buy", strategy="breakout"):
        print(exchange.place_order("BTC/USDT", "buy", 1.5)["status"])
    try:
        exchange.place_order("BTC/USDT", "buy", 0)
    except ValueError as exc:
        print("raised", exc)
    otel_trading.shutdown()
"""


def test_an_instrumentor_from_an_installed_package_works_by_name_and_its_calls_reach_the_report(
        tmp_path: Path) -> None:
    directory = site(tmp_path, "otel_trading_toy", "toy_exchange")
    store = tmp_path / "store"
    bot = python(BOT, directory, OTEL_TRADING_INSTRUMENT="toy_exchange", OTEL_TRADING_STORE_DIR=str(store))
    assert bot.returncode == 0, bot.stderr
    assert bot.stdout.splitlines() == ["closed", "raised amount must be > 0"]  # the user's exception, unchanged

    calls = read_journal(load_store(store).spans).exchange_calls
    assert [(c.method, c.exchange, c.symbol, c.error_type, c.strategy) for c in calls] == [
        ("place_order", "toyex", "BTC/USDT", None, "breakout"),
        ("place_order", "toyex", "BTC/USDT", "ValueError", None),
    ]
    report = run([str(SCRIPT), "report", "--store", str(store)], directory)
    assert "1 of 2 exchange calls failed." in report.stdout, report.stdout + report.stderr


def test_an_instrumentation_whose_library_is_missing_is_a_configuration_error(tmp_path: Path) -> None:
    directory = site(tmp_path, "otel_trading_toy")  # without toy-exchange
    bot = python(BOT, directory, OTEL_TRADING_INSTRUMENT="toy_exchange", OTEL_TRADING_STORE_DIR=str(tmp_path))
    assert bot.returncode == 1
    assert bot.stderr.strip().splitlines()[-1] == (
        "otel_trading.config._parse.ConfigurationError: OTEL_TRADING_INSTRUMENT: instrumenting 'toy_exchange' "
        "cannot run (otel_trading_toy:ToyExchangeInstrumentor from the package otel-trading-toy): it needs "
        '"toy-exchange >= 1.0", which is not installed')


@pytest.mark.parametrize("configure_call", ["otel_trading.configure(instrument=['toyexchange'])"])
def test_an_unknown_instrumentation_lists_the_installed_entry_points(tmp_path: Path, configure_call: str) -> None:
    directory = site(tmp_path, "otel_trading_toy", "toy_exchange")
    bot = python(f"import otel_trading\n{configure_call}\n", directory)
    last = bot.stderr.strip().splitlines()[-1]
    assert last.startswith("otel_trading.config._parse.ConfigurationError: instrument: unknown instrumentation "
                           "'toyexchange'; expected one of ["), last
    listed = json.loads(last.partition("expected one of ")[2].replace("'", '"'))
    assert {"ccxt", "toy_exchange"} <= set(listed) and listed == sorted(listed)


def stored_span(name: str, kind: str, **attributes: object) -> StoredSpan:
    return StoredSpan(trace_id="1" * 32, span_id="2" * 16, parent_span_id=None, name=name, kind=kind, start_ns=1,
                      end_ns=2, status="unset", status_message="", attributes=attributes, events=(),
                      resource={"service.name": "bot"}, scope="any")


def test_an_exchange_call_is_a_client_span_with_trading_exchange_whoever_named_it() -> None:
    spans = [
        stored_span("ccxt.fetch_ticker", "client", **{"trading.exchange": "binance", "ccxt.method": "fetch_ticker"}),
        stored_span("ibkr.placeOrder", "client", **{"trading.exchange": "ibkr"}),
        stored_span("POST", "client", **{"trading.exchange": "kraken"}),
        stored_span("GET /api/v3/ticker", "client", **{"http.request.method": "GET"}),  # the HTTP layer below
        stored_span("toyex.place_order", "internal", **{"trading.exchange": "toyex"}),  # not a call out
    ]
    calls = read_journal(spans).exchange_calls
    assert [(call.method, call.exchange) for call in calls] == [
        ("fetch_ticker", "binance"), ("placeOrder", "ibkr"), ("POST", "kraken")]


def test_a_kind_registered_in_code_exports_without_an_alertmanager_integration_and_names_are_unique(
        tmp_path: Path) -> None:
    alerting = tmp_path / "alerting.yml"
    alerting.write_text("channels:\n  notes:\n    type: memo\nroutes:\n  - channels: [notes]\n", encoding="utf-8")
    result = python(f"""
        from otel_trading.alerts import load_config
        from otel_trading.alerts._alertmanager_config import alertmanager_config
        from otel_trading.alerts.channels import (ChannelKind, ConsoleChannel, channel_kind, channel_kind_names,
                                                  register_channel_kind)
        memo = ChannelKind("memo", ConsoleChannel)
        register_channel_kind(memo)
        register_channel_kind(memo)  # the same kind again: nothing happens
        for attempt in (lambda: register_channel_kind(ChannelKind("slack", ConsoleChannel)),
                        lambda: ChannelKind(" memo", ConsoleChannel)):
            try:
                attempt()
            except ValueError as exc:
                print(exc)
        assert channel_kind("memo") is memo and channel_kind_names()[-1] == "memo"
        print(alertmanager_config(load_config({str(alerting)!r})).text)
    """, site(tmp_path))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:2] == ["a channel type named 'slack' is registered already",
                         "a channel kind needs a name without surrounding spaces, got ' memo'"]
    assert "# channel notes (memo)\n#   a memo channel has no Alertmanager integration: left out of this receiver\n" \
           "- name: notes\n" in result.stdout
