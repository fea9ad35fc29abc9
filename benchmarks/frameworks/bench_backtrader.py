"""Overhead of the backtrader integration: a backtest's wall time with the instrumentation on vs off.

    .venv/bin/python benchmarks/frameworks/bench_backtrader.py [--bars 5000] [--repeat 5]

The bot of tests/backtrader_bot.py (SMA cross, long and short, with stop orders; ``--fast`` and
``--slow`` set its periods, so how often it trades) on generated 5-minute bars, under
``configure()``. "on": ``Cerebro.run`` with the TradeTelemetry Analyzer, then the export of
everything it recorded (``force_flush``), so the exporter thread's work is in the time; "off":
the same run with the instrumentor switched off. The two alternate, the garbage collector runs
before each, and the table shows the min of each.
Prints one markdown row per exporter (local store, none): | case | off s | on s | ratio | target | PASS/FAIL |
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))

from backtrader_bot import make_csv, own_numbers, run_backtest

import otel_trading
from otel_trading.instrumentation.backtrader import ANALYZER_NAME, BacktraderInstrumentor

TARGET = 1.3


def measure(data: Path, store: str, args: argparse.Namespace, exporter: str) -> tuple[float, float, int]:
    """min wall time off, min wall time on, closed trades: under configure() with ``exporter`` for traces and logs."""
    telemetry = otel_trading.configure(service_name="bench-backtrader", store_dir=store, traces_exporter=exporter,
                                       logs_exporter=exporter, metrics_exporter="none", log_console="off")
    instrumentor = BacktraderInstrumentor()
    off: list[float] = []
    on: list[float] = []
    trades = 0
    try:
        for _ in range(args.repeat):
            for instrumented in (False, True):
                if instrumented:
                    instrumentor.instrument()
                gc.collect()
                started = time.perf_counter()
                cerebro, strategy = run_backtest(data, fast=args.fast, slow=args.slow)
                if instrumented:
                    telemetry.force_flush()  # the export of what the run recorded counts too
                elapsed = time.perf_counter() - started
                if instrumented:
                    instrumentor.uninstrument()
                    recorded = strategy.analyzers.getbyname(ANALYZER_NAME).get_analysis()["closed"]
                    trades = own_numbers(cerebro, strategy)["closed"]
                    assert recorded == trades, (recorded, trades)  # measured what it claims to
                (on if instrumented else off).append(elapsed)
    finally:
        telemetry.shutdown()
    return min(off), min(on), trades


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bars", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    # SMA periods: 20/60 trades 58 times on 5000 bars ("tens of trades"); 10/30 trades 155 times.
    parser.add_argument("--fast", type=int, default=20)
    parser.add_argument("--slow", type=int, default=60)
    args = parser.parse_args()
    verdicts = []
    with tempfile.TemporaryDirectory() as store:
        data = make_csv(Path(store) / "bars.csv", args.bars)
        # "local": spans and log lines written to the store, as a backtest does by default; "none":
        # the instrumentation's own work alone (the SDK records, nothing is encoded or written).
        for exporter in ("local", "none"):
            off, on, trades = measure(data, store, args, exporter)
            ratio = on / off
            verdicts.append(ratio <= TARGET)
            print(f"| backtrader backtest, {args.bars} bars/{trades} trades, {exporter} exporter | {off:.3f} | "
                  f"{on:.3f} | {ratio:.2f}x | <= {TARGET}x | {'PASS' if ratio <= TARGET else 'FAIL'} |", flush=True)
    return 0 if all(verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
