"""A paper-trading bot on the local defaults: every trade one trace, a portfolio, logs, metrics.

Run: `python examples/paper_bot.py [--trades N] [--seed S]` (the full demo is `otel-trading demo`). Afterwards:
  - traces and logs: ./.otel-trading/traces.jsonl and logs.jsonl (OTLP/JSON lines)
  - metrics: a few series are printed, scraped from the Prometheus endpoint while the bot ran
"""

from __future__ import annotations

import argparse
import asyncio
import random
import urllib.request

from opentelemetry.trace import SpanKind

import otel_trading
from otel_trading import get_logger, traced

log = get_logger("paper_bot")


class PaperExchange:
    """A simulated venue: a random-walk price, latency, occasional rejects and partial fills."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.prices = {"BTC/USDT": 50_000.0, "ETH/USDT": 3_000.0}

    @traced(capture={"symbol": "trading.symbol"}, kind=SpanKind.CLIENT)
    async def fetch_ticker(self, symbol: str) -> float:
        await asyncio.sleep(self.rng.uniform(0.001, 0.005))
        self.prices[symbol] *= 1 + self.rng.gauss(0, 0.002)
        otel_trading.health.mark_market_data(symbol)
        return self.prices[symbol]

    async def execute(self, order: otel_trading.Order, price: float) -> None:
        await asyncio.sleep(self.rng.uniform(0.002, 0.02))
        if self.rng.random() < 0.08:
            order.rejected("insufficient_funds")
            return
        order.accepted(f"paper-{self.rng.randrange(10**9)}")
        remaining = order.amount
        while remaining > 1e-12:
            part = remaining if self.rng.random() < 0.7 else remaining / 2
            fill_price = price * (1 + order_sign(order) * abs(self.rng.gauss(0, 0.0004)))
            await asyncio.sleep(self.rng.uniform(0.001, 0.01))
            order.fill(part, fill_price, fee=part * fill_price * 0.001, fee_currency="USDT")
            remaining -= part


def order_sign(order: otel_trading.Order) -> int:
    return 1 if order.side == "buy" else -1


async def trade_once(exchange: PaperExchange, book: otel_trading.Portfolio, symbol: str) -> None:
    price = await exchange.fetch_ticker(symbol)
    book.mark(symbol, price)
    side = "buy" if exchange.rng.random() < 0.5 else "sell"
    exit_side = "sell" if side == "buy" else "buy"
    async with otel_trading.trade(symbol, side, strategy="coin-flip", exchange="paper", portfolio=book) as t:
        t.signal("long" if side == "buy" else "short", confidence=round(exchange.rng.uniform(0.5, 0.9), 2))
        amount = round(200.0 / price, 6)
        approved = otel_trading.trading_state() is otel_trading.TradingState.ACTIVE
        t.risk_check(approved, None if approved else "trading_halted")
        if not approved:
            return
        entry = t.submit_order(amount, reference_price=price)
        await exchange.execute(entry, price)
        if entry.filled_amount == 0:
            return
        t.position_opened(entry.filled_amount, entry.average_price or price)
        exit_price = await exchange.fetch_ticker(symbol)
        exit_order = t.submit_order(entry.filled_amount, side=exit_side, reference_price=exit_price)
        await exchange.execute(exit_order, exit_price)
        book.mark(symbol, exit_price)
        reason = "take_profit" if (exit_price - price) * order_sign(entry) > 0 else "stop_loss"
        t.position_closed(exit_reason=reason, exit_price=exit_price)
        log.info("trade closed", symbol=symbol, side=side, pnl=round(t.realized_pnl, 4))


async def main(trades: int, seed: int) -> None:
    telemetry = otel_trading.configure(service_name="paper-bot", log_console="pretty")
    exchange = PaperExchange(random.Random(seed))
    book = otel_trading.Portfolio("paper", base_currency="USDT", cash=10_000.0)
    for _ in range(trades // 2):
        otel_trading.heartbeat()
        await asyncio.gather(trade_once(exchange, book, "BTC/USDT"), trade_once(exchange, book, "ETH/USDT"))
    snap = book.snapshot()
    print(f"\n{trades} trades: equity {snap.equity:,.2f} USDT, realized PnL {snap.realized_pnl:+,.2f}, "
          f"max drawdown {snap.max_drawdown:.2%}")
    if telemetry.prometheus_url:
        body = urllib.request.urlopen(telemetry.prometheus_url, timeout=5).read().decode()  # noqa: S310
        wanted = ("trading_orders_total", "trading_equity", "trading_performance_win_rate")
        print("metrics at", telemetry.prometheus_url)
        print("\n".join(line for line in body.splitlines() if line.startswith(wanted)))
    telemetry.shutdown()
    print(f"traces and logs written to {telemetry.settings.store_dir.resolve()}/")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=20, help="number of trades (default 20)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    args = parser.parse_args()
    asyncio.run(main(args.trades, args.seed))
