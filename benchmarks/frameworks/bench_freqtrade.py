"""freqtrade backtest wall time with the freqtrade integration on vs off (target <= 1.3x).

Run with the freqtrade venv:
``.venv-freqtrade/bin/python benchmarks/frameworks/bench_freqtrade.py [--days N] [--reps N]``.
The backtest is the offline one of the tests (tests/frameworks/freqtrade/ft_backtest_run.py: real freqtrade,
generated 5-minute candles for two pairs, markets patched). The timed part is freqtrade's ``main()``
(imports done before, in both modes); "on" has ``configure(instrument=["freqtrade"])`` with the local
store made before the timer starts and flushed (shutdown) after it stops. Runs are interleaved, the
minimum of each mode is compared. Prints one markdown table row.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "frameworks" / "freqtrade"))

import ft_backtest_run as harness

import otel_trading

TARGET = 1.3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=90, help="days of 5-minute candles (default 90)")
    parser.add_argument("--reps", type=int, default=5, help="runs of each mode (default 5)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-freqtrade-"))
    argv = harness.prepare(workdir, args.days)
    harness.patch_markets_offline()
    import freqtrade.main
    import freqtrade.optimize.backtesting  # noqa: F401

    times: dict[str, list[float]] = {"off": [], "on": []}
    for rep in range(args.reps):
        for mode in ("off", "on") if rep % 2 == 0 else ("on", "off"):
            telemetry = None
            if mode == "on":
                telemetry = otel_trading.configure(
                    service_name="bench-freqtrade", store_dir=workdir / f"store-{rep}", metrics_exporter="none",
                    log_console="off", install_signal_handlers=False, system_metrics=False,
                    instrument=["freqtrade"])
            with contextlib.redirect_stdout(io.StringIO()):  # freqtrade prints its result tables
                times[mode].append(harness.run_freqtrade(argv))
            if telemetry is not None:
                telemetry.shutdown()
            logging.getLogger().handlers.clear()  # freqtrade adds its log handlers again on every main()
    off, on = min(times["off"]), min(times["on"])
    ratio = on / off
    summary = harness.result(workdir)
    print(f"| freqtrade backtest, {args.days} d x 2 pairs 5m, {summary['trades']} trades | {off:.3f} | {on:.3f} | "
          f"{ratio:.2f}x | <= {TARGET}x | {'PASS' if ratio <= TARGET else 'FAIL'} |")


if __name__ == "__main__":
    main()
