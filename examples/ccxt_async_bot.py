"""An asyncio bot on a real ccxt exchange class, auto-instrumented: every REST call is a CLIENT span
inside the trade's trace, with request/latency/error metrics by exchange and method.

Paper mode (the default) reads real market data through ccxt and simulates the fills locally;
``--live`` sends the orders through ccxt (needs API credentials in the environment:
EXCHANGE_API_KEY / EXCHANGE_SECRET), and the instrumentation makes each one an order of its
trade from ccxt's answer, with no lifecycle call in the bot. ``--api-url`` points every API URL of the exchange at
another host (a testnet, a recording proxy, a local fake), keeping the paths.

    python examples/ccxt_async_bot.py --exchange binance --symbol BTC/USDT --iterations 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import ccxt.async_support as ccxt_async

import otel_trading
from otel_trading import health

log = otel_trading.get_logger("ccxt_bot")


def point_api_at(exchange: Any, base_url: str) -> None:
    """Rewrites every ``exchange.urls['api']`` entry to ``base_url``'s scheme and host, keeping paths."""
    target = urlsplit(base_url)
    api = exchange.urls["api"]
    for key, value in list(api.items()):
        if isinstance(value, str):
            parts = urlsplit(value)
            api[key] = urlunsplit((target.scheme, target.netloc, parts.path, parts.query, ""))


async def trade_once(exchange: Any, book: otel_trading.Portfolio, symbol: str, live: bool,
                     rng: random.Random) -> None:
    side = rng.choice(["buy", "sell"])
    async with otel_trading.trade(symbol, side, strategy="ccxt-demo", exchange=exchange.id, portfolio=book) as t:
        ticker = await exchange.fetch_ticker(symbol)  # a ccxt.fetch_ticker span inside the trade
        price = float(ticker["last"])
        health.mark_market_data(symbol, ticker.get("timestamp"))
        book.mark(symbol, price)
        t.signal("long" if side == "buy" else "short", confidence=round(rng.uniform(0.5, 0.9), 2))
        t.risk_check(approved=True)
        amount = float(exchange.amount_to_precision(symbol, 20.0 / price))
        if live:  # an order of this trade, recorded from ccxt's answer (docs/instrumentation.md)
            placed = await exchange.create_order(symbol, "market", side, amount)
            status = placed.get("status")
        else:
            order = t.submit_order(amount, reference_price=price)
            order.fill(amount, price * (1 + rng.uniform(-2e-4, 2e-4)), fee=amount * price * 0.001)
            status = order.status
        log.info("order done", status=status, amount=amount)


async def main(args: argparse.Namespace) -> None:
    telemetry = otel_trading.configure(service_name="ccxt-bot", instrument=["ccxt"], log_console=args.log_console)
    exchange_class = getattr(ccxt_async, args.exchange, None)
    if not isinstance(exchange_class, type) or not issubclass(exchange_class, ccxt_async.Exchange):
        raise SystemExit(f"ccxt_async_bot: --exchange {args.exchange!r}: not a ccxt exchange id (binance, kraken, ...)")
    credentials = {"apiKey": os.environ.get("EXCHANGE_API_KEY"), "secret": os.environ.get("EXCHANGE_SECRET")}
    config = {k: v for k, v in credentials.items() if v} | {"enableRateLimit": True}
    if args.options:
        config["options"] = json.loads(args.options)
    exchange = exchange_class(config)
    if args.api_url:
        point_api_at(exchange, args.api_url)
    book = otel_trading.Portfolio("ccxt-paper", cash=1_000.0)
    rng = random.Random(args.seed)
    try:
        await exchange.load_markets()
        for _ in range(args.iterations):
            otel_trading.heartbeat()
            await trade_once(exchange, book, args.symbol, args.live, rng)
    finally:
        await exchange.close()
        telemetry.shutdown()
    snap = book.snapshot()
    print(f"{args.iterations} trades on {args.exchange}: equity {snap.equity:,.2f}, "
          f"open position {snap.positions.get(args.symbol)}")


def run(args: argparse.Namespace) -> int:
    """Runs the bot; an exchange that cannot be reached or refuses is one line on stderr, exit 1.
    The line names the exchange and the host, not ccxt's message: that holds the request URL,
    whose query string carries the signature of a signed request."""
    where = urlsplit(args.api_url).netloc if args.api_url else "its API"
    try:
        asyncio.run(main(args))
    except ccxt_async.NetworkError as exc:
        print(f"ccxt_async_bot: {args.exchange} is unreachable at {where} ({type(exc).__name__}); "
              "check the network, or point --api-url at a reachable host", file=sys.stderr)
        return 1
    except ccxt_async.ExchangeError as exc:
        print(f"ccxt_async_bot: {args.exchange} refused the request ({type(exc).__name__}); "
              "check the credentials, --options and --api-url", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exchange", default="binance", help="ccxt exchange id (default binance)")
    parser.add_argument("--symbol", default="BTC/USDT", help="unified symbol (default BTC/USDT)")
    parser.add_argument("--iterations", type=int, default=5, help="trades to make (default 5)")
    parser.add_argument("--api-url", help="send every API request to this base URL instead (testnet, fake)")
    parser.add_argument("--options", help="""ccxt exchange options as JSON: '{"fetchMarkets": {"types": ["spot"]}}'""")
    parser.add_argument("--live", action="store_true", help="send real orders (default: paper fills)")
    parser.add_argument("--seed", type=int, default=11, help="random seed (default 11)")
    parser.add_argument("--log-console", default="pretty", choices=["pretty", "json", "off"])
    sys.exit(run(parser.parse_args()))
