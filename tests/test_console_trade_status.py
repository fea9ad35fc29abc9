"""A trade's status over a store is what its span says: closed, open, denied or abandoned."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import otel_trading
from otel_trading.console import serve_store
from otel_trading.export._index import updated_index
from otel_trading.export._store_queries import store_report, trades
from otel_trading.testing import capture
from tests.console_client import get


@pytest.fixture(scope="module")
def four_trades(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One trade of each ending: closed, left open, denied by the risk check, abandoned before a fill."""
    store = tmp_path_factory.mktemp("trade-status") / "store"
    with capture(store_dir=store, traces_exporter="local", logs_exporter="local"):
        with otel_trading.trade("BTC/USDT", "buy", strategy="closed") as trade:
            trade.risk_check(True)
            trade.position_opened(0.01, 50_000.0)
            trade.position_closed(5.0, exit_reason="take_profit")
        with otel_trading.trade("BTC/USDT", "buy", strategy="open") as trade:
            trade.risk_check(True)
            trade.position_opened(0.01, 50_000.0)  # the bot stopped with the position on
        with otel_trading.trade("ETH/USDT", "buy", strategy="denied") as trade:
            trade.risk_check(False, "trading_halted")
        with otel_trading.trade("ETH/USDT", "buy", strategy="abandoned") as trade:
            trade.risk_check(True)
            order = trade.submit_order(0.5, order_type="limit", price=2_000.0)
            order.rejected("insufficient_funds")
    return store


def test_each_trade_has_the_status_its_span_says(four_trades: Path) -> None:
    assert {row.strategy: row.status for row in trades(four_trades)} == {
        "closed": "closed", "open": "open", "denied": "denied", "abandoned": "abandoned"}
    for status in ("closed", "open", "denied", "abandoned"):
        assert [row.strategy for row in trades(four_trades, status=status)] == [status]
    assert all(row.pnl is None and row.closed_ns is None for row in trades(four_trades) if row.status != "closed")


def test_the_report_still_counts_every_unclosed_trade_as_not_closed(four_trades: Path) -> None:
    performance = store_report(four_trades)["performance"]
    assert (performance["trades"], performance["not_closed"]) == (1, 3)


def test_the_console_lists_and_filters_by_the_new_statuses(four_trades: Path) -> None:
    with serve_store(four_trades, port=0) as console:
        for status in ("open", "denied", "abandoned", "closed"):
            listed = get(console, f"/api/trades?status={status}").json()["trades"]
            assert [row["strategy"] for row in listed] == [status]
        answer = get(console, "/api/trades?status=pending")
        assert answer.status == 400 and "status" in answer.json()["error"]


def test_the_status_is_a_column_of_the_index_so_no_span_is_read_to_list_trades(four_trades: Path,
                                                                               tmp_path: Path) -> None:
    store = tmp_path / "store"
    shutil.copytree(four_trades, store)
    with updated_index(store) as index:
        assert index is not None
        by_strategy = dict(index.db.execute("SELECT strategy, status FROM trades").fetchall())
        index.db.execute("UPDATE spans SET data = '[]'")  # the listing answers from the rows alone
    assert by_strategy == {"closed": "closed", "open": "open", "denied": "denied", "abandoned": "abandoned"}
    assert {row.strategy: row.status for row in trades(store)} == by_strategy
