"""The bot state and protections locking every pair feed ``trading.state`` (live and dry-run only)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from freqtrade.enums import RunMode
from freqtrade.persistence import PairLocks
from freqtrade.resolvers import StrategyResolver
from freqtrade.rpc.rpc_manager import RPCManager

import otel_trading
from otel_trading.testing import capture

STRATEGIES = Path(__file__).with_name("strategies")
NOW = dt.datetime(2026, 1, 5, 12, 0, tzinfo=dt.timezone.utc)


@pytest.fixture
def in_memory_locks() -> Iterator[None]:
    use_db, timeframe = PairLocks.use_db, PairLocks.timeframe
    PairLocks.use_db, PairLocks.timeframe = False, "5m"  # as in backtesting: no database needed
    PairLocks.reset_locks()
    yield
    PairLocks.reset_locks()
    PairLocks.use_db, PairLocks.timeframe = use_db, timeframe


def strategy(runmode: RunMode) -> Any:
    return StrategyResolver.load_strategy({
        "strategy": "TinySma", "strategy_path": str(STRATEGIES), "user_data_dir": STRATEGIES, "runmode": runmode,
        "stake_currency": "USDT", "stake_amount": 100, "max_open_trades": 2, "dry_run": True, "timeframe": "5m",
    })


@pytest.mark.usefixtures("in_memory_locks")
def test_a_global_protection_lock_makes_a_running_bot_reducing() -> None:
    with capture(instrument=["freqtrade"]):
        bot = strategy(RunMode.DRY_RUN)
        otel_trading.set_trading_state("halted", reason="test")
        rpc = object.__new__(RPCManager)  # freqtrade's own send_msg, with no Telegram/webhook module
        rpc.registered_modules = []
        rpc.send_msg({"type": "status", "status": "running"})
        assert otel_trading.trading_state() is otel_trading.TradingState.ACTIVE
        PairLocks.lock_pair("*", NOW + dt.timedelta(minutes=30), "StoplossGuard", now=NOW)
        bot.bot_loop_start(current_time=NOW + dt.timedelta(minutes=1))
        assert otel_trading.trading_state() is otel_trading.TradingState.REDUCING
        bot.bot_loop_start(current_time=NOW + dt.timedelta(minutes=40))  # the lock (to the next candle) ended
        assert otel_trading.trading_state() is otel_trading.TradingState.ACTIVE


@pytest.mark.usefixtures("in_memory_locks")
def test_a_backtests_protection_lock_is_not_the_bots_state() -> None:
    with capture(instrument=["freqtrade"]):
        bot = strategy(RunMode.BACKTEST)
        PairLocks.lock_pair("*", NOW + dt.timedelta(minutes=30), "StoplossGuard", now=NOW)
        bot.bot_loop_start(current_time=NOW + dt.timedelta(minutes=1))
        assert otel_trading.trading_state() is otel_trading.TradingState.ACTIVE
