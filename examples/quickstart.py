"""The three-line quickstart: one trade, one trace, metrics on http://127.0.0.1:9464/metrics.

Run: `.venv/bin/python examples/quickstart.py`, then look at ./.otel-trading/traces.jsonl.
"""

import otel_trading

otel_trading.configure(service_name="quickstart")
with otel_trading.trade("BTC/USDT", "buy") as t:
    t.submit_order(0.01, reference_price=50_000.0).fill(0.01, 50_010.0, fee=0.05)
