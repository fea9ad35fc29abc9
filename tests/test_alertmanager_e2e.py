"""The engine pushing to the real Alertmanager, which groups, deduplicates and resolves.

The SDK's real metrics (``trading.state``, ``trading.market_data.staleness``) make the
default pack's ``TradingHalted`` and a custom ``MarketDataLagging`` fire, the latter for two
symbols: two alerts of one alertname. The engine (group_wait 0, an injected clock kept in
the past so that an ``endsAt`` it sends is already over for Alertmanager) pushes them
through an ``AlertmanagerChannel`` to ``prometheus-alertmanager`` on loopback, which
notifies a recording webhook with group_by [alertname], group_wait 1s, group_interval 1s,
repeat_interval 1h.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alert_receivers import RecordingHttpServer
from binaries import require
from daemons import AlertmanagerProcess

import otel_trading
from otel_trading import TradingState, set_trading_state
from otel_trading.alerts import AlertConfig, Route, build_engine, default_rules, rule
from otel_trading.alerts.channels import AlertmanagerChannel
from otel_trading.health import forget_market_data, mark_market_data

SYMBOLS = ("BTC/USDT", "ETH/USDT")
HOOK = "/am-hook"


@pytest.fixture
def configured(tmp_path: Path) -> Iterator[otel_trading.Telemetry]:
    telemetry = otel_trading.configure(store_dir=tmp_path / "store", metrics_exporter="none", log_console="off",
                                       install_signal_handlers=False, system_metrics=False)
    forget_market_data()  # symbols other tests marked long ago would be stale too
    yield telemetry
    set_trading_state(TradingState.ACTIVE)
    forget_market_data(SYMBOLS)
    telemetry.shutdown()


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[tuple[AlertmanagerProcess, RecordingHttpServer]]:
    directory = tmp_path / "alertmanager"
    directory.mkdir()
    with RecordingHttpServer() as hook:
        process = AlertmanagerProcess(require("alertmanager"), directory, hook.url(HOOK))
        try:
            yield process, hook
        finally:
            process.close()


def notifications(hook: RecordingHttpServer, alertname: str | None = None) -> list[dict[str, Any]]:
    """The webhook payloads Alertmanager sent, oldest first (of one alert group when ``alertname``)."""
    payloads = [request.json for request in hook.requests if request.path == HOOK]
    return [p for p in payloads if alertname is None or p["groupLabels"] == {"alertname": alertname}]


def updated_at(process: AlertmanagerProcess) -> dict[str, str]:
    return {alert["fingerprint"]: alert["updatedAt"] for alert in process.alerts()}


def test_alertmanager_groups_dedups_and_resolves_what_the_engine_pushes(
        configured: otel_trading.Telemetry, alertmanager: tuple[AlertmanagerProcess, RecordingHttpServer]) -> None:
    process, hook = alertmanager
    halted = next(r for r in default_rules() if r.name == "TradingHalted")
    lagging = rule("MarketDataLagging", gauge="trading.market_data.staleness", aggregate="max",
                   by=["trading.symbol"], above=60, severity="warning",
                   annotations={"summary": "no market data for {{ labels.trading_symbol }}"})
    route = Route(("am",), group_by=("alertname",), group_wait_s=0, group_interval_s=1, repeat_interval_s=1)
    now = [time.time() - 30]  # the engine's clock: behind Alertmanager's, so endsAt is in its past
    engine, dispatcher = build_engine(AlertConfig(rules=[halted, lagging], routes=[route]),
                                      channels={"am": AlertmanagerChannel("am", url=process.url)},
                                      clock=lambda: now[0])
    try:
        # Fire: trading halted, and no market data for two symbols for two minutes.
        set_trading_state("halted", reason="e2e")
        for symbol in SYMBOLS:
            mark_market_data(symbol, time.time() - 120)
        fired = engine.evaluate(now[0])
        assert sorted((t.alert.rule, t.after) for t in fired) == [
            ("MarketDataLagging", "firing"), ("MarketDataLagging", "firing"), ("TradingHalted", "firing")]

        # Grouping: one notification for the two MarketDataLagging alerts, one for TradingHalted.
        assert hook.wait_for(lambda: len(notifications(hook)) >= 2, timeout=15), process.log.read_text()
        (lagging_fired,) = notifications(hook, "MarketDataLagging")
        assert lagging_fired["status"] == "firing"
        assert sorted(a["labels"]["trading_symbol"] for a in lagging_fired["alerts"]) == sorted(SYMBOLS)
        assert {a["labels"]["alertname"] for a in lagging_fired["alerts"]} == {"MarketDataLagging"}
        assert all(a["status"] == "firing" for a in lagging_fired["alerts"])
        (halted_fired,) = notifications(hook, "TradingHalted")
        assert [a["labels"]["severity"] for a in halted_fired["alerts"]] == ["critical"]

        # Deduplication: the engine pushes the same alerts again (its repeat_interval is 1s);
        # Alertmanager takes them (updatedAt moves) and, before its 1h repeat_interval, says nothing.
        before = updated_at(process)
        assert len(before) == 3
        now[0] += 2
        assert engine.evaluate(now[0]) == []
        deadline = time.monotonic() + 10
        while updated_at(process).items() & before.items() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not updated_at(process).items() & before.items(), "the engine did not push again"
        # Two of Alertmanager's 1s group intervals pass with no new notification.
        assert not hook.wait_for(lambda: len(notifications(hook)) > 2, timeout=2.5), notifications(hook)

        # Resolution: the condition clears; the engine pushes endsAt; Alertmanager sends "resolved".
        set_trading_state("active")
        for symbol in SYMBOLS:
            mark_market_data(symbol)
        now[0] += 2
        resolved = engine.evaluate(now[0])
        assert sorted((t.alert.rule, t.after) for t in resolved) == [
            ("MarketDataLagging", "inactive"), ("MarketDataLagging", "inactive"), ("TradingHalted", "inactive")]
        assert hook.wait_for(lambda: len(notifications(hook)) >= 4, timeout=15), process.log.read_text()
        assert [n["status"] for n in notifications(hook, "MarketDataLagging")] == ["firing", "resolved"]
        assert [n["status"] for n in notifications(hook, "TradingHalted")] == ["firing", "resolved"]
        lagging_resolved = notifications(hook, "MarketDataLagging")[1]
        assert sorted(a["labels"]["trading_symbol"] for a in lagging_resolved["alerts"]) == sorted(SYMBOLS)
        assert all(a["status"] == "resolved" and not a["endsAt"].startswith("0001")
                   for a in lagging_resolved["alerts"])
        assert [a for a in process.alerts() if a["status"]["state"] == "active"] == []
        assert len(notifications(hook)) == 4
    finally:
        engine.stop()
        assert dispatcher.close(5)
