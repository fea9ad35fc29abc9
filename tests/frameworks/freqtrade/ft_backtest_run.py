"""One offline freqtrade backtest (real freqtrade, generated candles), for the freqtrade integration tests.

Run with the freqtrade venv's python: ``ft_backtest_run.py WORKDIR MODE [DAYS]``. MODE:

- ``off``: no otel-trading at all;
- ``plain``: freqtrade alone in this script (instrumented from outside, e.g. under ``opentelemetry-instrument``);
- ``on``: ``otel_trading.configure(instrument=["freqtrade"])`` with the local store in ``WORKDIR/store``;
- ``broken``: as ``on`` inside ``capture()``, with one internal function of the integration made to fail;
- ``futures``: as ``on``, a futures backtest (long and short, leverage 3, mark and funding data generated).

Only the harness touches freqtrade's network: ``Exchange._api_reload_markets`` returns fixed markets.
It writes ``WORKDIR/summary.json``: freqtrade's own result (trades, Σprofit_abs, exit reasons, a
digest of the exported trade list) and, for ``broken``, the failures the integration counted.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import random
import shutil
import sys
import time
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
PAIRS = ("BTC/USDT", "ETH/USDT")
START = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)


def market(symbol: str) -> dict[str, Any]:
    """A ccxt market: spot ``BTC/USDT``, or a linear perpetual swap ``BTC/USDT:USDT``."""
    base, rest = symbol.split("/")
    quote, _, settle = rest.partition(":")
    swap = bool(settle)
    return {"id": base + quote, "symbol": symbol, "base": base, "quote": quote, "baseId": base, "quoteId": quote,
            "settle": settle or None, "settleId": settle or None, "active": True, "type": "swap" if swap else "spot",
            "spot": not swap, "margin": False, "swap": swap, "future": False, "option": False, "contract": swap,
            "linear": True if swap else None, "inverse": False if swap else None,
            "contractSize": 1.0 if swap else None, "expiry": None, "expiryDatetime": None, "strike": None,
            "optionType": None,
            "taker": 0.001, "maker": 0.001, "percentage": True, "tierBased": False,
            "precision": {"amount": 0.00001, "price": 0.01},
            "limits": {"amount": {"min": 0.00001, "max": 9000.0}, "cost": {"min": 5.0, "max": None},
                       "price": {"min": 0.01, "max": 1_000_000.0}, "leverage": {"min": None, "max": None}},
            "info": {}}


def pairs_of(futures: bool) -> tuple[str, ...]:
    return tuple(f"{pair}:USDT" for pair in PAIRS) if futures else PAIRS


def patch_markets_offline(pairs: tuple[str, ...] = PAIRS) -> None:
    from freqtrade.exchange.exchange import Exchange

    async def _api_reload_markets(self: Any, reload: bool = False) -> None:
        self._api_async.set_markets([market(p) for p in pairs])

    Exchange._api_reload_markets = _api_reload_markets  # type: ignore[method-assign]


def write_candles(userdir: Path, days: int, futures: bool = False) -> dt.datetime:
    import pandas as pd
    from freqtrade.data.history import get_datahandler
    from freqtrade.enums import CandleType

    handler = get_datahandler(userdir / "data" / "binance", "feather")
    bars = days * 288
    for k, pair in enumerate(pairs_of(futures)):
        rnd = random.Random(11 + k)  # noqa: S311 - reproducible synthetic candles
        price, rows = (40_000.0 if k == 0 else 2_500.0), []
        for i in range(bars):
            opened = price
            price = price * math.exp(rnd.gauss(0, 0.004) + 0.002 * math.sin(i / 50))
            rows.append((START + dt.timedelta(minutes=5 * i), opened, max(opened, price) * 1.001,
                         min(opened, price) * 0.999, price, rnd.uniform(10, 100)))
        frame = pd.DataFrame(rows, columns=["date", "open", "high", "low", "close", "volume"])
        handler.ohlcv_store(pair, "5m", frame, CandleType.FUTURES if futures else CandleType.SPOT)
        if futures:
            hourly = frame.set_index("date").resample("1h").agg(
                {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}).reset_index()
            handler.ohlcv_store(pair, "1h", hourly, CandleType.MARK)
            funding = pd.DataFrame({"date": hourly["date"], "funding_rate": 0.0001})  # 2026.9: date, funding_rate
            handler.ohlcv_store(pair, "1h", funding, CandleType.FUNDING_RATE)
    return START + dt.timedelta(minutes=5 * bars)


def prepare(workdir: Path, days: int, futures: bool = False) -> list[str]:
    """The user_data folder, candles and config of the backtest; returns freqtrade's argv."""
    shutil.rmtree(workdir / "user_data", ignore_errors=True)
    userdir = workdir / "user_data"
    for sub in ("data/binance", "strategies", "backtest_results", "logs"):
        (userdir / sub).mkdir(parents=True, exist_ok=True)
    strategy = "TinySmaLS" if futures else "TinySma"
    shutil.copy(HERE / "strategies" / f"{strategy}.py", userdir / "strategies")
    end = write_candles(userdir, days, futures)
    # Binance futures has no ticker pricing: the order book it is (served by the backtest itself).
    pricing = {"price_side": "same", "use_order_book": futures, "order_book_top": 1}
    config = {
        "max_open_trades": 2, "stake_currency": "USDT", "stake_amount": 100, "tradable_balance_ratio": 0.99,
        "dry_run": True, "dry_run_wallet": 1000, "trading_mode": "spot", "timeframe": "5m",
        "dataformat_ohlcv": "feather", "export": "trades",
        "entry_pricing": pricing, "exit_pricing": pricing,
        **({"trading_mode": "futures", "margin_mode": "isolated"} if futures else {}),
        "exchange": {"name": "binance", "key": "", "secret": "", "pair_whitelist": list(pairs_of(futures)),
                     "pair_blacklist": []},
        "pairlists": [{"method": "StaticPairList"}],
        "bot_name": "offline", "initial_state": "running", "internals": {"process_throttle_secs": 5},
    }
    (userdir / "config.json").write_text(json.dumps(config))
    # The timerange ends 7 hours before the data, while a trade is open: freqtrade force-exits it.
    return ["backtesting", "--config", str(userdir / "config.json"), "--userdir", str(userdir),
            "--strategy", strategy, "--timerange", f"{START:%Y%m%d}-{int(end.timestamp()) - 7 * 3600}",
            "--cache", "none", "--logfile", str(workdir / "freqtrade.log")]


def run_freqtrade(argv: list[str]) -> float:
    from freqtrade.main import main

    started = time.perf_counter()
    try:
        main(argv)
    except SystemExit as exit_:
        if exit_.code not in (0, None):
            raise
    return time.perf_counter() - started


def result(workdir: Path) -> dict[str, Any]:
    """freqtrade's own summary of the latest backtest, from its exported result."""
    archive = sorted((workdir / "user_data" / "backtest_results").glob("*.zip"))[-1]  # the latest run
    with zipfile.ZipFile(archive) as zipped:
        name = next(n for n in zipped.namelist()
                    if n.endswith(".json") and "_config" not in n and "market_change" not in n)
        (strategy,) = json.loads(zipped.read(name))["strategy"].values()
    trades = strategy["trades"]
    return {
        "trades": len(trades),
        "profit_total_abs": strategy["profit_total_abs"],
        "sum_profit_abs": math.fsum(t["profit_abs"] for t in trades),
        "exit_reasons": dict(Counter(t["exit_reason"] for t in trades)),
        "profit_by_exit_reason": {reason: math.fsum(t["profit_abs"] for t in trades if t["exit_reason"] == reason)
                                  for reason in {t["exit_reason"] for t in trades}},
        "shorts": sum(1 for t in trades if t["is_short"]),
        "digest": hashlib.sha256(json.dumps(trades, sort_keys=True).encode()).hexdigest(),
        "first_trade": trades[0],
    }


def main(workdir: Path, mode: str, days: int) -> None:
    futures = mode == "futures"
    argv = prepare(workdir, days, futures)
    patch_markets_offline(pairs_of(futures))
    summary: dict[str, Any] = {"mode": mode}
    if mode in ("on", "futures"):
        import otel_trading

        telemetry = otel_trading.configure(
            service_name="ft-backtest", store_dir=workdir / "store", metrics_exporter="none", log_console="off",
            install_signal_handlers=False, system_metrics=False, instrument=["freqtrade"])
        summary["wall_s"] = run_freqtrade(argv)
        telemetry.shutdown()
    elif mode == "broken":
        from otel_trading.instrumentation.freqtrade import _observer
        from otel_trading.testing import capture

        def fail(*_args: Any, **_kwargs: Any) -> None:
            raise RuntimeError("an internal failure of the integration, on purpose")

        _observer.FreqtradeTrades.sync = fail  # type: ignore[method-assign]
        with capture(instrument=["freqtrade"]) as otel:
            summary["wall_s"] = run_freqtrade(argv)
            failures = otel.metrics_as_dict("otel_trading.instrumentation.failures")
            summary["failures"] = failures.get("otel_trading.instrumentation.failures")
            summary["trade_spans"] = len([s for s in otel.spans if s.name == "trade"])
    else:
        summary["wall_s"] = run_freqtrade(argv)
    summary["result"] = result(workdir)
    (workdir / "summary.json").write_text(json.dumps(summary, default=str))


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 20)
