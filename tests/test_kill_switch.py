"""The kill switch: set_trading_state(source=...) logged and traced, on_trading_state_change hooks."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from otel_trading.testing import capture
from otel_trading.trading import TradingState, on_trading_state_change, set_trading_state, trading_state_details


def test_hooks_see_every_change_with_its_source_until_removed() -> None:
    with capture():
        seen: list[tuple[Any, ...]] = []
        handle = on_trading_state_change(lambda *change: seen.append(change))
        set_trading_state("halted", "manual stop", source="console")
        set_trading_state("halted", "same state again")  # not a change: no hook call
        set_trading_state("active", None)
        assert handle.remove() is True
        set_trading_state("reducing", "after removal")
        assert seen == [
            (TradingState.ACTIVE, TradingState.HALTED, "manual stop", "console"),
            (TradingState.HALTED, TradingState.ACTIVE, None, "bot"),
        ]
        assert handle.remove() is False


def test_a_failing_hook_neither_raises_nor_stops_the_others(caplog: pytest.LogCaptureFixture) -> None:
    with capture():
        after: list[str] = []

        def broken(*_: Any) -> None:
            raise RuntimeError("hook bug")

        on_trading_state_change(broken)
        on_trading_state_change(lambda *change: after.append(change[1].value))
        with caplog.at_level(logging.ERROR, logger="otel_trading.trading"):
            previous = set_trading_state("halted", "breaker")
        assert previous is TradingState.ACTIVE
        assert after == ["halted"]
        assert any("broken" in record.getMessage() and record.exc_info for record in caplog.records)


def test_a_change_is_traced_and_logged_with_previous_state_reason_and_source() -> None:
    with capture() as telemetry:
        set_trading_state("reducing", "drawdown 4%", source="console")
        span = telemetry.span("trading.state_change")
        assert dict(span.attributes or {}) == {
            "trading.state.previous": "active", "trading.state": "reducing",
            "trading.state.reason": "drawdown 4%", "trading.state.source": "console",
        }
        [line] = [log for log in telemetry.logs_as_dicts() if log["body"] == "trading state changed"]
        assert line["attributes"]["source"] == "console"
        assert line["attributes"]["previous"] == "active"
        state, reason, source, since_ns, history = trading_state_details()
        assert (state, reason, source) == (TradingState.REDUCING, "drawdown 4%", "console")
        assert [(c.previous, c.state, c.source) for c in history] == [
            (TradingState.ACTIVE, TradingState.REDUCING, "console")]
        assert history[-1].time_ns == since_ns


def test_no_change_no_span() -> None:
    with capture() as telemetry:
        set_trading_state("active", "already")
        assert not [s for s in telemetry.spans if s.name == "trading.state_change"]


def test_hooks_reject_what_cannot_be_called() -> None:
    with pytest.raises(TypeError, match="expected a callable"):
        on_trading_state_change("halt")  # type: ignore[arg-type]


# --- the demo's risk manager obeys a person's halt / reduce-only until a person resumes ---


def _snapshot() -> Any:
    from otel_trading.trading import Portfolio

    return Portfolio("kill-switch-test", cash=10_000.0).snapshot()


def test_demo_risk_manager_keeps_a_manual_halt_past_the_breaker_cooldown() -> None:
    from otel_trading.demo._risk import RiskLimits, RiskManager
    from otel_trading.demo._scenario import MARKET_START

    with capture():
        risk = RiskManager(RiskLimits(max_consecutive_losses=1, cooldown_ticks=5))
        handle = on_trading_state_change(risk.state_changed)
        start = MARKET_START + 3600
        assert risk.evaluate(1, start, 10_000.0) is None
        set_trading_state("reducing", "operator: reduce only", source="console")
        assert risk.check_entry(100.0, _snapshot()) == (False, "trading_halted")
        assert not risk.manually_halted  # reduce-only: positions may still close, none is flattened
        risk.trade_closed(-3.0)
        change = risk.evaluate(2, start + 1, 10_000.0)  # the breaker trips on top
        assert change is not None and change.state is TradingState.HALTED
        change = risk.evaluate(8, start + 7, 10_000.0)  # its cooldown ends: back to the person's state
        assert change is not None and change.state is TradingState.REDUCING
        assert trading_state_details()[0] is TradingState.REDUCING
        set_trading_state("halted", "operator: stop", source="console")
        assert risk.manually_halted
        assert risk.evaluate(20, start + 19, 10_000.0) is None  # nothing of the breaker's lifts it
        set_trading_state("active", "operator: resume", source="console")
        assert risk.manual is None
        assert risk.check_entry(100.0, _snapshot()) == (True, None)
        handle.remove()


def test_the_live_demo_halts_from_its_console_and_resumes(tmp_path: Any) -> None:
    import json
    import subprocess
    import time
    import urllib.request

    from tests.cli_runner import SCRIPT, clean_environment

    process = subprocess.Popen(
        [str(SCRIPT), "demo", "--duration", "60s", "--speed", "50", "--prometheus-port", "0", "--console-port", "0",
         "--no-progress", "--store", str(tmp_path / "store")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_environment(), cwd=tmp_path)
    try:
        assert process.stdout is not None
        login = ""
        while "live console -> " not in login:
            login = process.stdout.readline()
            assert login, "the demo printed no console URL"
        base, token = login.split("-> ", 1)[1].strip().split("/?token=")

        def call(path: str, body: dict[str, str] | None = None) -> Any:
            data = None if body is None else json.dumps(body).encode()
            headers = {"Content-Type": "application/json", "X-Console-Token": token}
            with urllib.request.urlopen(urllib.request.Request(base + path, data=data, headers=headers),  # noqa: S310
                                        timeout=10) as response:
                return json.loads(response.read())

        opened = "/api/logs?q=position%20opened&since_ns="
        deadline = time.monotonic() + 20
        while not call(f"{opened}0")["logs"]:  # trading, with a position or more to flatten
            assert time.monotonic() < deadline, "no position opened at all"
            time.sleep(0.2)
        assert call("/api/controls", {"state": "halted", "reason": "test halt"}) == {
            "previous": "active", "state": "halted"}
        halted_ns = call("/api/controls")["since_ns"]
        time.sleep(4)  # about 200 s of market time: the strategy would have traded
        assert call("/api/controls")["state"] == "halted"
        assert call(f"{opened}{halted_ns}")["logs"] == []  # nothing opened while halted
        assert call("/api/overview")["positions"] == []  # and what was open was flattened
        denied = call(f"/api/logs?q=trading_halted&since_ns={halted_ns}")["logs"]
        assert denied, "the strategy never tried: the test saw nothing"
        resumed = call("/api/controls", {"state": "active", "reason": "resume"})
        assert resumed == {"previous": "halted", "state": "active"}
        resumed_ns = call("/api/controls")["since_ns"]
        deadline = time.monotonic() + 20
        while not call(f"{opened}{resumed_ns}")["logs"]:
            assert time.monotonic() < deadline, "no position opened after the resume"
            time.sleep(0.5)
    finally:
        process.terminate()
        process.wait(20)


def test_a_persons_halt_on_top_of_the_breakers_is_recorded_and_outlasts_its_cooldown() -> None:
    """The breaker halted first; the console's halt at the same state still counts (history, span, log,
    hooks with previous == state), is not a second trip, and the demo stays halted past the cooldown."""
    from otel_trading.demo._risk import RiskLimits, RiskManager
    from otel_trading.demo._scenario import MARKET_START

    with capture() as telemetry:
        risk = RiskManager(RiskLimits(max_consecutive_losses=1, cooldown_ticks=5))
        seen: list[tuple[Any, ...]] = []
        handles = [on_trading_state_change(risk.state_changed), on_trading_state_change(lambda *c: seen.append(c))]
        start = MARKET_START + 3600
        assert risk.evaluate(1, start, 10_000.0) is None
        risk.trade_closed(-3.0)
        change = risk.evaluate(2, start + 1, 10_000.0)  # the breaker trips
        assert change is not None and change.state is TradingState.HALTED
        previous = set_trading_state("halted", "operator: stop", source="console")
        assert previous is TradingState.HALTED
        assert seen[-1] == (TradingState.HALTED, TradingState.HALTED, "operator: stop", "console")
        state, reason, source, _, history = trading_state_details()
        assert (state, reason, source) == (TradingState.HALTED, "operator: stop", "console")
        assert [(c.previous, c.state, c.reason, c.source) for c in history][-1] == (
            TradingState.HALTED, TradingState.HALTED, "operator: stop", "console")
        changes = [s for s in telemetry.spans if s.name == "trading.state_change"]
        assert dict(changes[-1].attributes or {})["trading.state.previous"] == "halted"
        assert dict(changes[-1].attributes or {})["trading.state.source"] == "console"
        assert [log for log in telemetry.logs_as_dicts()
                if log["body"] == "trading state changed" and log["attributes"]["source"] == "console"]
        assert telemetry.value("trading.circuit_breaker.trips") == 1  # one transition into halted
        assert risk.manually_halted
        change = risk.evaluate(8, start + 7, 10_000.0)  # the breaker's cooldown ends
        assert change is not None and change.state is TradingState.HALTED
        assert trading_state_details()[0] is TradingState.HALTED
        assert trading_state_details()[1] == "operator: stop"  # the bot's no-op keeps the person's reason
        assert risk.check_entry(100.0, _snapshot()) == (False, "trading_halted")
        for handle in handles:
            handle.remove()
