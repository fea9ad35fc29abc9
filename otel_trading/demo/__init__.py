"""``otel-trading demo``: an instrumented paper-trading bot on a deterministic simulated market.

    import otel_trading
    from otel_trading.demo import DemoOptions, run_demo

    otel_trading.configure(service_name="demo-bot")
    result = run_demo(DemoOptions(trades=20, seed=7))
    otel_trading.shutdown()

The bot trades a seeded market (price paths with regimes, a scripted rally, crash and error
burst) through ``SimulatedExchange``, a ccxt-shaped venue instrumented by the ccxt
instrumentation's own machinery, so its telemetry is what a real ccxt bot's would be: one
trace per trade, ``ccxt.*`` client spans, trading and exchange metrics, correlated logs.
It records through whatever configuration is in force (``configure()``, ``capture()``).
Same seed and options, same trades, PnL, rejects and errors: see ``_bot``.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import threading
from typing import TextIO

from otel_trading import alerts, config, health
from otel_trading.demo import _errors
from otel_trading.demo._alerting import start_alerts
from otel_trading.demo._bot import DemoBot
from otel_trading.demo._exchange import SimulatedExchange
from otel_trading.demo._progress import Progress, RecordedEquity, summary
from otel_trading.demo._scenario import DemoOptions, Scenario, Window
from otel_trading.demo._stats import DemoResult, DemoStats
from otel_trading.instrumentation.ccxt import instrument_class

_FEED_CHECK = "market_data"
_FEED_MAX_AGE_S = 5.0  # wall-clock seconds: the feed delivers every tick, far more often


def run_demo(options: DemoOptions, out: TextIO | None = None) -> DemoResult:
    """Runs the demo bot to its end and returns what happened; progress goes to ``out``
    (default stdout). The first Ctrl-C (in the main thread) stops it at the end of the current
    tick and returns the result so far (``interrupted``); a second one interrupts at once."""
    return asyncio.run(_run(options, sys.stdout if out is None else out))


def _export_metrics() -> None:
    """Has the configuration's metric readers collect and export now when they write the local
    store (not to stall the start on a collector that is down). The global meter provider is
    otel-trading's proxy, which has no force_flush: the configured one has."""
    telemetry = config.current()
    if (telemetry is not None and telemetry.meter_provider is not None
            and "local" in telemetry.settings.exporters["metrics"]):
        with contextlib.suppress(Exception):  # only an earlier point of the equity curve is at stake
            telemetry.meter_provider.force_flush(timeout_millis=2_000)


async def _run(options: DemoOptions, out: TextIO) -> DemoResult:
    undo = instrument_class(SimulatedExchange, _errors)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    interruptible = threading.current_thread() is threading.main_thread() and sys.platform != "win32"

    def interrupt() -> None:
        stop.set()
        loop.remove_signal_handler(signal.SIGINT)  # back to KeyboardInterrupt for a second Ctrl-C

    if interruptible:
        loop.add_signal_handler(signal.SIGINT, interrupt)
    progress = Progress(out, enabled=options.progress)
    bot = DemoBot(options, progress)
    _export_metrics()  # the starting equity, before the first trade (the report's recorded curve starts there)
    alerting = start_alerts(progress, lambda: bot.market.time)
    health.add_check(_FEED_CHECK, health.market_data_fresh(_FEED_MAX_AGE_S), interval=1.0)
    try:
        return await bot.run(stop)
    finally:
        health.remove_check(_FEED_CHECK)
        alerts.stop(timeout=2.0)
        progress.event(bot.market.time, alerting.tally())
        progress.finish()
        if interruptible:
            loop.remove_signal_handler(signal.SIGINT)
        undo()


__all__ = ["DemoOptions", "DemoResult", "DemoStats", "RecordedEquity", "Scenario", "SimulatedExchange", "Window",
           "run_demo", "summary"]
