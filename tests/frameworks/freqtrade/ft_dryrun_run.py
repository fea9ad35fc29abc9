"""A freqtrade ``trade`` loop (dry-run) against a loopback Binance (127.0.0.1), with the integration on.

Run with the freqtrade venv's python: ``ft_dryrun_run.py WORKDIR SECONDS``. ccxt is redirected to the
venue by freqtrade's config alone; the bot is interrupted like Ctrl-C after SECONDS. Telemetry goes to
the local store in ``WORKDIR/store``; freqtrade's own trades are in ``WORKDIR/dry.sqlite``.
"""

from __future__ import annotations

import _thread
import json
import shutil
import sys
import threading
from pathlib import Path

import ccxt
from ft_loopback_binance import Venue

import otel_trading

HERE = Path(__file__).parent


def main(workdir: Path, seconds: float) -> None:
    venue = Venue()
    api = {k: venue.url + "/" + v.split("/", 3)[3] for k, v in ccxt.binance().urls["api"].items()
           if isinstance(v, str) and v.startswith("https://")}
    ccxt_config = {"urls": {"api": api}, "options": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False}}
    userdir = workdir / "user_data"
    shutil.rmtree(workdir, ignore_errors=True)
    (userdir / "strategies").mkdir(parents=True)
    shutil.copy(HERE / "strategies" / "QuickLoop.py", userdir / "strategies")
    config = {
        "max_open_trades": 2, "stake_currency": "USDT", "stake_amount": 100, "dry_run": True, "dry_run_wallet": 1000,
        "trading_mode": "spot", "timeframe": "1m", "db_url": f"sqlite:///{workdir}/dry.sqlite",
        "initial_state": "running", "unfilledtimeout": {"entry": 10, "exit": 10, "unit": "minutes"},
        "entry_pricing": {"price_side": "other", "use_order_book": True, "order_book_top": 1},
        "exit_pricing": {"price_side": "other", "use_order_book": True, "order_book_top": 1},
        "exchange": {"name": "binance", "key": "", "secret": "", "enable_ws": False, "ccxt_config": ccxt_config,
                     "ccxt_async_config": ccxt_config, "pair_whitelist": ["BTC/USDT", "ETH/USDT"],
                     "pair_blacklist": []},
        "pairlists": [{"method": "StaticPairList"}], "internals": {"process_throttle_secs": 1, "heartbeat_interval": 0},
        "bot_name": "quickloop",
    }
    (workdir / "config.json").write_text(json.dumps(config))
    telemetry = otel_trading.configure(
        service_name="ft-dryrun", store_dir=workdir / "store", metrics_exporter="none", log_console="off",
        install_signal_handlers=False, system_metrics=False, instrument=["freqtrade", "ccxt"])
    from freqtrade.main import main as freqtrade_main

    # Not the default state: only freqtrade's "running" status message can make it active again.
    otel_trading.set_trading_state("halted", reason="harness")

    timer = threading.Timer(seconds, _thread.interrupt_main)
    timer.start()
    try:
        freqtrade_main(["trade", "--config", str(workdir / "config.json"), "--userdir", str(userdir),
                        "--strategy", "QuickLoop", "--logfile", str(workdir / "freqtrade.log")])
    except (SystemExit, KeyboardInterrupt):
        pass
    finally:
        timer.cancel()
        states = {state.value: value for state in otel_trading.TradingState
                  if (value := _state_value(state)) is not None}
        telemetry.shutdown()
        venue.close()
    (workdir / "summary.json").write_text(json.dumps({"venue_requests": dict(venue.requests), "state": states}))


def _state_value(state: otel_trading.TradingState) -> int | None:
    return 1 if otel_trading.trading_state() is state else 0


if __name__ == "__main__":
    main(Path(sys.argv[1]), float(sys.argv[2]))
