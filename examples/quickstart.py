"""Three lines of set-up, then a toy trading loop: traces, metrics and logs on the local defaults.

Run: `make demo` (or `python examples/quickstart.py`). Afterwards:
  - traces and logs: ./.otel-trading/traces.jsonl and logs.jsonl (OTLP/JSON lines)
  - metrics: printed below, scraped from the Prometheus endpoint while the bot ran
"""

from __future__ import annotations

import asyncio
import random
import urllib.request

import otel_trading
from otel_trading import get_logger, span, traced

log = get_logger("quickstart")


@traced(capture={"symbol": "trading.symbol"})
async def fetch_price(symbol: str) -> float:
    await asyncio.sleep(random.uniform(0.001, 0.01))
    return 100 + random.gauss(0, 1)


@traced(capture={"symbol": "trading.symbol", "side": "trading.side", "amount": "trading.amount"})
async def place_order(symbol: str, side: str, amount: float, api_key: str) -> str:
    async with span("risk_check", **{"trading.symbol": symbol}):
        if amount > 0.5:
            raise ValueError(f"order size {amount} above the risk limit")
    await asyncio.sleep(random.uniform(0.002, 0.02))
    return f"order-{random.randrange(10**6)}"


async def trade_once(symbol: str) -> None:
    price = await fetch_price(symbol)
    side = "buy" if price < 100 else "sell"
    try:
        order_id = await place_order(symbol, side, random.uniform(0.1, 0.6), api_key="demo-key-never-logged")
        log.info("order placed", symbol=symbol, side=side, price=round(price, 2), order_id=order_id)
    except ValueError as exc:
        log.warning("order rejected by risk", symbol=symbol, reason=str(exc))


async def main() -> None:
    telemetry = otel_trading.configure(service_name="quickstart-bot", log_console="pretty")
    for _ in range(20):
        await asyncio.gather(trade_once("BTC/USDT"), trade_once("ETH/USDT"))
    if telemetry.prometheus_url:
        body = urllib.request.urlopen(telemetry.prometheus_url, timeout=5).read().decode()  # noqa: S310
        calls = [line for line in body.splitlines() if line.startswith("otel_trading_function_calls_total")]
        print("\nmetrics at", telemetry.prometheus_url)
        print("\n".join(calls))
    telemetry.shutdown()
    print(f"\ntraces and logs written to {telemetry.settings.store_dir.resolve()}/")


if __name__ == "__main__":
    asyncio.run(main())
