"""A live (not dry-run) freqtrade exchange places its orders through ccxt: they are recorded once.

freqtrade's own orders are recorded by the freqtrade integration (from freqtrade's ``Order``s, in
freqtrade's trade); the ccxt instrumentation keeps the ``ccxt.create_order`` call span and opens no
second, standalone order for it. A plain ccxt exchange in the same process still gets its orders tracked.
"""

from __future__ import annotations

from typing import Any

import ccxt
from fake_exchange import FakeBinance, binance_config

from otel_trading.testing import capture


def redirected(venue: FakeBinance) -> dict[str, Any]:
    api = {key: venue.url + "/" + url.split("/", 3)[3] for key, url in ccxt.binance().urls["api"].items()
           if isinstance(url, str) and url.startswith("https://")}
    return {"urls": {"api": api}, **binance_config()}


def test_a_freqtrade_order_placed_through_ccxt_is_not_recorded_again_by_ccxt() -> None:
    from freqtrade.enums import RunMode
    from freqtrade.resolvers import ExchangeResolver

    with FakeBinance(keep_orders=True) as venue, capture(instrument=["freqtrade", "ccxt"]) as otel:
        ccxt_config = redirected(venue)
        config = {"runmode": RunMode.LIVE, "dry_run": False, "trading_mode": "spot", "margin_mode": "",
                  "stake_currency": "USDT",
                  "exchange": {"name": "binance", "key": "k", "secret": "s", "enable_ws": False,
                               "ccxt_config": ccxt_config, "ccxt_async_config": ccxt_config,
                               "pair_whitelist": ["BTC/USDT"]}}
        exchange = ExchangeResolver.load_exchange(config, validate=False)
        placed = exchange.create_order(pair="BTC/USDT", ordertype="market", side="buy", amount=0.01, rate=50_000.0,
                                       leverage=1.0)
        assert placed["status"] == "closed"
        assert [s.name for s in otel.spans] == ["ccxt.load_markets", "ccxt.create_order"]

        plain = venue.point(ccxt.binance(binance_config(apiKey="k", secret="s")))
        plain.load_markets()
        plain.create_order("BTC/USDT", "market", "buy", 0.01)
        assert [s.name for s in otel.spans].count("order") == 1  # the plain ccxt exchange's order
