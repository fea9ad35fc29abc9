"""The console's answers as plain JSON values: what ``dataclasses.asdict`` gave, without copying leaves."""

from __future__ import annotations

import dataclasses
import json
import sys
from types import FrameType
from typing import Any

from otel_trading.console._store_api import plain
from otel_trading.export._store_queries import EventView, LogView, SpanView, TraceDetail, TradeRow


def a_trace() -> TraceDetail:
    event = EventView("order.filled", 2, {"qty": 0.5, "fills": [1.0, 2.0], "venue": {"id": "bench"}})
    span = SpanView("b" * 16, None, "trade", "bot", "internal", 1, 3, 0.000002, "ok", "",
                    {"trading.symbol": "BTC/USDT", "sizes": (0.1, 0.2)}, [event], "otel_trading")
    log = LogView(2, "info", "bot", "order filled", "a" * 32, "b" * 16, None, {"qty": 0.5}, 9, "bot")
    return TraceDetail("a" * 32, [span], [log])


def a_trade(number: int) -> TradeRow:
    return TradeRow(f"t{number}", f"{number:032x}", "BTC/USDT", "buy", "bench", "closed", 1.5 * number,
                    number, number + 10, 0.01, "take_profit", "win", "bot")


def test_plain_is_asdict_as_json() -> None:
    detail = a_trace()
    assert json.dumps(plain(detail)) == json.dumps(dataclasses.asdict(detail))
    assert plain([a_trade(1), a_trade(2)]) == [dataclasses.asdict(a_trade(1)), dataclasses.asdict(a_trade(2))]


def test_plain_shares_no_container_with_the_record() -> None:
    detail = a_trace()
    answer = plain(detail)
    answer["spans"][0]["attributes"]["trading.symbol"] = "changed"
    answer["spans"][0]["events"][0]["attributes"]["venue"]["id"] = "changed"
    answer["logs"][0]["attributes"].clear()
    assert detail == a_trace()


def calls_made(work: Any) -> int:
    """Python function calls made while ``work()`` runs (deterministic, unlike its time)."""
    count = 0

    def profile(frame: FrameType, event: str, arg: object) -> None:
        nonlocal count
        if event == "call":
            count += 1

    sys.setprofile(profile)
    try:
        work()
    finally:
        sys.setprofile(None)
    return count


def test_plain_of_many_trades_calls_nothing_per_field() -> None:
    """The Trades page over a large store asks every trade (43,000 on the 500 MB benchmark store):
    asdict's recursion and deep copy of each of a trade's 14 fields made that a second."""
    trades = [a_trade(number) for number in range(1_000)]
    plain(trades)  # the field names are cached per class on the first call
    assert calls_made(lambda: plain(trades)) <= 3 * len(trades)
