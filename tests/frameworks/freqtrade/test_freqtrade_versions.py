"""An unsupported freqtrade version: not instrumented, one warning, freqtrade untouched."""

from __future__ import annotations

import logging

import pytest
from freqtrade.persistence import LocalTrade
from freqtrade.resolvers import StrategyResolver

import otel_trading.instrumentation.freqtrade as integration
from otel_trading.instrumentation._hooks import is_wrapped
from otel_trading.testing import capture


def test_an_unsupported_freqtrade_is_left_alone(monkeypatch: pytest.MonkeyPatch,
                                                caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(integration, "SUPPORTED", ("freqtrade >= 2099.1",))
    load_strategy = StrategyResolver.__dict__["load_strategy"].__func__
    with caplog.at_level(logging.WARNING), capture(instrument=["freqtrade"]):
        assert StrategyResolver.__dict__["load_strategy"].__func__ is load_strategy
        assert not is_wrapped(LocalTrade.close)
    conflicts = [r for r in caplog.records if "2099.1" in r.getMessage()]
    assert len(conflicts) == 1


def test_a_supported_freqtrade_is_instrumented_and_put_back() -> None:
    load_strategy = StrategyResolver.__dict__["load_strategy"].__func__
    with capture(instrument=["freqtrade"]):
        assert StrategyResolver.__dict__["load_strategy"].__func__ is not load_strategy
        assert is_wrapped(LocalTrade.close)
    assert StrategyResolver.__dict__["load_strategy"].__func__ is load_strategy
    assert not is_wrapped(LocalTrade.close)
