"""The quickstart: one round trip (buy, then sell), one trace, metrics on http://127.0.0.1:9464/metrics.

Run: `.venv/bin/python examples/quickstart.py`, then `.venv/bin/otel-trading report`: one closed trade.
"""

import otel_trading

otel_trading.configure(service_name="quickstart")
book = otel_trading.Portfolio("paper", cash=10_000.0)  # PnL and equity from the fills
with otel_trading.trade("BTC/USDT", "buy", portfolio=book) as t:
    t.submit_order(0.01, reference_price=50_000.0).fill(0.01, 50_010.0, fee=0.05)
    t.position_opened(0.01, 50_010.0)
    t.submit_order(0.01, side="sell", reference_price=50_600.0).fill(0.01, 50_590.0, fee=0.05)
    t.position_closed(exit_reason="take_profit")  # the trade is closed: PnL 5.70 after fees
