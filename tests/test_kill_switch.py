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
