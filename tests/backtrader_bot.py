"""A backtrader bot for the tests and the collector-stack run: generated bars, long and short
trades with stop-loss orders, fully offline.

As a script it is a bot run under ``configure(instrument=["backtrader"])``:

    python tests/backtrader_bot.py --bars 3000 --store DIR [--prometheus-port P --linger S]

prints one JSON line with backtrader's own numbers (TradeAnalyzer, final value) and, with
``--linger``, keeps its Prometheus endpoint up for that many seconds after the backtest (Ctrl-C
ends the wait, and the bot still shuts its telemetry down and exits 0).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import math
import random
import sys
import time
from pathlib import Path
from typing import Any

import backtrader as bt

SYMBOL = "SYN/USDT"


def make_csv(path: Path, bars: int, seed: int = 7) -> Path:
    """5-minute OHLCV bars of a random walk with cycles (so that SMA crosses trade both ways)."""
    rnd = random.Random(seed)  # noqa: S311 - test data, not secrets
    start = dt.datetime(2024, 1, 1)
    price = 100.0
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["datetime", "open", "high", "low", "close", "volume"])
        for i in range(bars):
            opened = price
            price = max(1.0, price * math.exp(rnd.gauss(0, 0.01) + 0.003 * math.sin(i / 40)))
            high, low = max(opened, price) * 1.002, min(opened, price) * 0.998
            writer.writerow([(start + dt.timedelta(minutes=5 * i)).strftime("%Y-%m-%d %H:%M:%S"),
                             f"{opened:.4f}", f"{high:.4f}", f"{low:.4f}", f"{price:.4f}", rnd.randint(100, 1000)])
    return path


class LongShortCross(bt.Strategy):  # type: ignore[misc]
    """Long on a fast-over-slow SMA cross, short on the opposite, each with a stop order."""

    params = (("fast", 10), ("slow", 30), ("size", 10), ("stop", 0.015))

    def __init__(self) -> None:
        self.cross = bt.ind.CrossOver(bt.ind.SMA(period=self.p.fast), bt.ind.SMA(period=self.p.slow))
        self.entry_order: Any = None
        self.stop_order: Any = None

    def notify_order(self, order: Any) -> None:
        if order.status != order.Completed or self.entry_order is None or order.ref != self.entry_order.ref:
            return  # (notifications carry copies of the orders: compare refs)
        if self.position.size > 0:
            self.stop_order = self.sell(exectype=bt.Order.Stop, price=order.executed.price * (1 - self.p.stop),
                                        size=self.position.size)
        elif self.position.size < 0:
            self.stop_order = self.buy(exectype=bt.Order.Stop, price=order.executed.price * (1 + self.p.stop),
                                       size=-self.position.size)

    def notify_trade(self, trade: Any) -> None:
        if trade.isclosed and self.stop_order is not None and not self.stop_order.alive():
            self.stop_order = None  # it was hit

    def next(self) -> None:
        if self.cross == 0:
            return
        if self.position:
            if self.stop_order is not None:
                self.cancel(self.stop_order)
                self.stop_order = None
            self.close()
        if self.cross > 0:
            self.entry_order = self.buy(size=self.p.size)
        else:
            self.entry_order = self.sell(size=self.p.size)


def make_cerebro(data: Path, **cerebro_args: Any) -> Any:
    cerebro = bt.Cerebro(stdstats=False, **cerebro_args)
    cerebro.adddata(bt.feeds.GenericCSVData(
        dataname=str(data), dtformat="%Y-%m-%d %H:%M:%S", timeframe=bt.TimeFrame.Minutes, compression=5,
        datetime=0, open=1, high=2, low=3, close=4, volume=5, openinterest=-1), name=SYMBOL)
    cerebro.broker.setcash(100_000.0)
    cerebro.broker.setcommission(commission=0.001)
    cerebro.addanalyzer(bt.analyzers.TradeAnalyzer, _name="ta")
    return cerebro


def run_backtest(data: Path, **params: Any) -> tuple[Any, Any]:
    """Runs LongShortCross (with ``params``) on ``data``: (the Cerebro, its strategy)."""
    cerebro = make_cerebro(data)
    cerebro.addstrategy(LongShortCross, **params)
    return cerebro, cerebro.run()[0]


def own_numbers(cerebro: Any, strategy: Any) -> dict[str, Any]:
    """backtrader's own results: TradeAnalyzer's closed count and net PnL, the broker's final value."""
    analysis = strategy.analyzers.ta.get_analysis()
    closed = analysis.total.closed if "total" in analysis and "closed" in analysis.total else 0
    return {"closed": closed, "pnl_net": analysis.pnl.net.total if closed else 0.0,
            "final_value": cerebro.broker.getvalue()}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bars", type=int, default=3000)
    parser.add_argument("--store", required=True)
    parser.add_argument("--prometheus-port", type=int)
    parser.add_argument("--linger", type=float, default=0.0)
    parser.add_argument("--service-name", default="backtrader-bot")
    args = parser.parse_args(argv)
    import otel_trading

    options: dict[str, Any] = {"service_name": args.service_name, "store_dir": args.store,
                               "instrument": ["backtrader"]}
    if args.prometheus_port is not None:
        options |= {"metrics_exporter": "prometheus", "prometheus_port": args.prometheus_port}
    telemetry = otel_trading.configure(**options)
    Path(args.store).mkdir(parents=True, exist_ok=True)  # the store writes its files on first export
    data = make_csv(Path(args.store) / "bars.csv", args.bars)
    cerebro, strategy = run_backtest(data)
    print(json.dumps(own_numbers(cerebro, strategy)), flush=True)
    try:
        time.sleep(args.linger)  # /metrics stays up, with the backtest's final values
    except KeyboardInterrupt:
        print("stopped lingering", flush=True)
    telemetry.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
