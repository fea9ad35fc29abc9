"""``otel-trading demo``: the instrumented paper-trading bot on its simulated market.

End to end through the console script (as a user runs it: pipes, a real terminal, a real
OTLP receiver, Ctrl-C), and in-process for the pieces (market, strategy, risk, the ccxt
wrapping of the simulated exchange) where many seeds or exact values are wanted.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import pty
import re
import shutil
import signal
import socket
import subprocess
import sys
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from cli_runner import DEMO_ARGS, SCRIPT, clean_environment, run_cli
from otlp_receiver import HttpOtlpReceiver

import otel_trading
from otel_trading import TradingState
from otel_trading.cli._demo import demo_options
from otel_trading.cli._main import build_parser
from otel_trading.console import serve_store
from otel_trading.demo import DemoOptions, DemoResult, Scenario, SimulatedExchange, run_demo
from otel_trading.demo import _errors as demo_errors
from otel_trading.demo._market import SimulatedMarket
from otel_trading.demo._risk import RiskLimits, RiskManager
from otel_trading.demo._scenario import MARKET_START
from otel_trading.demo._strategy import EmaCrossover
from otel_trading.export import load_store
from otel_trading.instrumentation.ccxt import instrument_class
from otel_trading.testing import TelemetryCapture, capture

# Summary lines that depend on wall-clock time, not on the seed.
TIMING_LINES = ("order latency", "time ", "recorded ")


@pytest.fixture(autouse=True)
def _active_trading_state() -> Iterator[None]:
    """The trading state is process-wide: each test starts and ends ``active``."""
    otel_trading.set_trading_state(TradingState.ACTIVE)
    yield
    otel_trading.set_trading_state(TradingState.ACTIVE)


def summary_numbers(stdout: str) -> list[str]:
    """The summary lines that must not change between runs with the same seed."""
    summary = stdout[stdout.index("Summary"):stdout.index("Telemetry:")]
    return [line for line in summary.splitlines()[1:] if line.strip() and not line.strip().startswith(TIMING_LINES)]


def quick(seed: int, trades: int = 16, **rates: float) -> DemoOptions:
    """In-process options: no real latency and no pacing; the outcome is the same as at any speed."""
    return DemoOptions(trades=trades, seed=seed, speed=1e9, latency_scale=0.0, progress=False, **rates)


# --- the demo's store: trades are traces ----------------------------------------------------------


def test_each_trade_is_a_trace_with_orders_and_ccxt_client_spans(demo_store: Path) -> None:
    contents = load_store(demo_store)
    assert contents.problems == []
    spans = contents.spans
    by_id = {s.span_id: s for s in spans}
    trades = [s for s in spans if s.name == "trade"]
    assert trades and all(s.parent_span_id is None for s in trades)
    closed = [s for s in trades if "trading.trade.outcome" in s.attributes]
    assert len(closed) == 16  # --trades 16: sixteen round trips, each with its PnL and the equity after it
    assert all(isinstance(s.attributes["trading.portfolio.equity"], float) for s in closed)
    assert {s.attributes["trading.exchange"] for s in trades} == {"simulated"}
    assert {s.attributes["trading.strategy"] for s in trades} == {"ema-crossover"}

    ccxt_spans = [s for s in spans if s.name.startswith("ccxt.")]
    assert {s.kind for s in ccxt_spans} == {"client"}
    assert {"ccxt.create_order", "ccxt.fetch_ticker", "ccxt.fetch_balance"} <= {s.name for s in ccxt_spans}
    in_trades = [s for s in ccxt_spans if s.parent_span_id in by_id and by_id[s.parent_span_id].name == "trade"]
    assert {s.name for s in in_trades} >= {"ccxt.create_order", "ccxt.fetch_ticker"}
    for span in in_trades:  # the client spans of a trade carry its correlation id, in its trace
        parent = by_id[span.parent_span_id or ""]
        assert span.trace_id == parent.trace_id
        assert span.attributes["correlation_id"] == parent.attributes["trading.trade_id"]
        assert span.attributes["trading.exchange"] == "simulated"
    created = [s for s in in_trades if s.name == "ccxt.create_order" and not s.is_error]
    assert all(s.attributes["trading.order.venue_id"] and s.attributes["trading.symbol"] for s in created)

    errors = Counter(s.attributes["error.type"] for s in ccxt_spans if s.is_error)
    assert errors["RateLimitExceeded"] > 0 and errors["RequestTimeout"] + errors["NetworkError"] > 0

    orders = [s for s in spans if s.name == "order"]
    # Each order is sent by one create_order and recorded once (not twice): the bot submits it by
    # hand with its client id, which the ccxt instrumentation's automatic orders leave alone.
    assert len(orders) <= len([s for s in ccxt_spans if s.name == "ccxt.create_order"])
    statuses = Counter(s.attributes["trading.order.status"] for s in orders)
    assert statuses["filled"] >= 16 and statuses["rejected"] > 0  # every exit fills, in the end
    for order in orders:
        assert by_id[order.parent_span_id or ""].name == "trade"
    rejected = [s for s in orders if s.attributes["trading.order.status"] == "rejected"]
    assert all(s.is_error and s.attributes["trading.order.reason"] for s in rejected)


def test_logs_are_correlated_and_tell_the_breaker_story(demo_store: Path) -> None:
    logs = load_store(demo_store).logs
    bodies = Counter(record.body for record in logs)
    assert bodies["position opened"] == bodies["position closed"] == 16
    assert bodies["exchange call failed"] > 0 and bodies["order filled"] > 0
    closed = [r for r in logs if r.body == "position closed"]
    assert all(r.trace_id and r.attributes["trade_id"] == r.attributes["correlation_id"] for r in closed)
    changes = [r for r in logs if r.body == "trading state changed"]
    states = [r.attributes["state"] for r in changes]
    assert states[:2] == ["halted", "active"], states  # the crash trips the breaker, which later resets
    assert all(r.severity_text == "WARNING" for r in changes)


# --- determinism --------------------------------------------------------------------------------


def test_same_seed_same_outcome_through_real_latencies(tmp_path: Path) -> None:
    first = run_cli(*DEMO_ARGS, "--no-progress", "--store", str(tmp_path / "a"), cwd=tmp_path)
    second = run_cli(*DEMO_ARGS, "--no-progress", "--store", str(tmp_path / "b"), cwd=tmp_path)
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert summary_numbers(first.stdout) == summary_numbers(second.stdout)
    assert any(line.strip().startswith("trades") and "16 closed" in line for line in summary_numbers(first.stdout))

    def journal(store: Path) -> list[tuple[object, ...]]:
        trades = [s for s in load_store(store).spans if s.name == "trade" and "trading.trade.outcome" in s.attributes]
        trades.sort(key=lambda s: s.start_ns)
        return [(s.attributes["trading.symbol"], s.attributes["trading.exit_reason"],
                 round(s.attributes["trading.pnl.realized"], 6)) for s in trades]

    assert journal(tmp_path / "a") == journal(tmp_path / "b")


def test_in_process_runs_repeat_exactly_and_seeds_differ() -> None:
    def fingerprint(result: DemoResult) -> tuple[object, ...]:
        stats = dataclasses.replace(result.stats, order_latencies_s=[])
        return (stats, round(result.equity, 9), result.ticks, result.max_drawdown)

    with capture(system_metrics=False):
        first, again, other = run_demo(quick(3)), run_demo(quick(3)), run_demo(quick(4))
    assert fingerprint(first) == fingerprint(again)
    assert fingerprint(first) != fingerprint(other)
    assert first.stats.trades_closed == other.stats.trades_closed == 16


def test_every_seed_goes_through_the_scripted_crash_and_error_burst() -> None:
    with capture(system_metrics=False):
        for seed in range(8):
            result = run_demo(quick(seed))
            stats = result.stats
            assert sum(stats.breaker_trips.values()) >= 1, seed
            assert stats.breaker_resumes == sum(stats.breaker_trips.values()), seed
            assert stats.exchange_errors["RateLimitExceeded"] > 0, seed
            assert stats.exchange_errors["RequestTimeout"] + stats.exchange_errors["NetworkError"] > 0, seed
            assert stats.feed_gaps >= 1 and sum(stats.rejects.values()) >= 1, seed
            assert stats.trades_closed == 16 and result.open_positions == 0, seed


def test_rates_change_the_venue_but_not_the_market() -> None:
    quiet = DemoOptions(reject_rate=0.0, error_rate=0.0, gap_rate=0.0)
    loud = DemoOptions(reject_rate=1.0, error_rate=0.5, gap_rate=0.05)
    paths = []
    for options in (quiet, loud):
        market = SimulatedMarket(options.symbols, 5, options.scenario, options.gap_rate)
        for _ in range(200):
            market.advance()
        paths.append(market.prices)
    assert paths[0] == paths[1]

    with capture(system_metrics=False):
        result = run_demo(quick(5, trades=4, reject_rate=0.0, error_rate=0.0, gap_rate=0.0))
    # Left: what the script does on its own (the burst, the feed gap of the last symbol).
    assert set(result.stats.rejects) <= {"rate_limited", "network_error"}
    assert result.stats.feed_gaps <= 1


# --- the pieces -------------------------------------------------------------------------------


def test_price_paths_are_seeded_and_each_symbol_keeps_its_own() -> None:
    def path(symbols: tuple[str, ...], seed: int, ticks: int = 300) -> list[float]:
        market = SimulatedMarket(symbols, seed, Scenario(), 0.0)
        prices = []
        for _ in range(ticks):
            market.advance()
            prices.append(market.prices["BTC/USDT"])
        return prices

    btc = path(("BTC/USDT", "ETH/USDT"), 9)
    assert btc == path(("BTC/USDT", "ETH/USDT"), 9)
    assert btc == path(("BTC/USDT",), 9)  # adding a symbol leaves the others' paths alone
    assert btc != path(("BTC/USDT", "ETH/USDT"), 10)
    scenario = Scenario()
    before_crash, after_crash = btc[scenario.crash.start - 2], btc[scenario.crash.start]
    assert after_crash < before_crash * 0.93  # the scripted crash opens with a gap


def test_feed_gaps_hide_a_symbol_but_not_its_price() -> None:
    scenario = Scenario()
    market = SimulatedMarket(("BTC/USDT", "SOL/USDT"), 1, scenario, 0.0)
    seen = []
    while market.tick < scenario.feed_gap.end + 1:
        market.advance()
        seen.append((market.tick, market.has_data("BTC/USDT"), market.has_data("SOL/USDT")))
    assert all(btc for _, btc, _ in seen)
    assert [tick for tick, _, sol in seen if not sol] == list(range(scenario.feed_gap.start, scenario.feed_gap.end))


def test_crossover_signal_confidence_follows_the_trend() -> None:
    strategy = EmaCrossover()
    signals = [strategy.update("X/USDT", 100.0 * (1.0 + 0.001 * ((-1) ** i))) for i in range(30)]
    noise = [s for s in signals if s is not None]
    assert noise and max(s.confidence for s in noise if s.direction == "long") < 0.9
    rally = [strategy.update("X/USDT", 100.0 * 1.003**i) for i in range(1, 15)]
    assert all(s is not None and s.direction == "long" for s in rally[3:])
    assert rally[-1] is not None and rally[-1].confidence > 0.99 and rally[-1].zscore > 3
    assert sum(1 for s in rally if s is not None and s.fresh) == 1  # one new crossover, one fresh signal
    selloff = [strategy.update("X/USDT", 104.0 * 0.996**i) for i in range(1, 15)]
    assert selloff[-1] is not None and selloff[-1].direction == "flat" and not selloff[-1].tradable


def test_breaker_trips_on_a_loss_streak_and_resets_after_its_cooldown(otel_capture: TelemetryCapture) -> None:
    risk = RiskManager(RiskLimits(max_consecutive_losses=3, cooldown_ticks=10))
    start = MARKET_START + 3600  # well inside a market day
    assert risk.evaluate(1, start, 10_000.0) is None
    for pnl in (-5.0, -3.0, 2.0, -1.0, -1.0):
        risk.trade_closed(pnl)
    assert risk.evaluate(2, start + 1, 10_000.0) is None  # two losses in a row since the win
    risk.trade_closed(-4.0)
    change = risk.evaluate(3, start + 2, 10_000.0)
    assert change is not None and change.state is TradingState.HALTED and change.reason == "consecutive_losses"
    assert otel_trading.trading_state() is TradingState.HALTED
    assert risk.check_entry(100.0, _snapshot()) == (False, "trading_halted")
    risk.trade_closed(-9.0)  # the breaker's own flattening does not extend the halt
    assert risk.evaluate(12, start + 11, 10_000.0) is None
    change = risk.evaluate(13, start + 12, 10_000.0)
    assert change is not None and change.state is TradingState.ACTIVE and change.reason == "cooldown_elapsed"
    assert otel_trading.trading_state() is TradingState.ACTIVE
    assert otel_capture.value("trading.circuit_breaker.trips", **{"trading.state.reason": "consecutive_losses"}) == 1


def test_daily_loss_limit_halts_until_the_market_midnight(otel_capture: TelemetryCapture) -> None:
    risk = RiskManager(RiskLimits(daily_loss_limit=0.02, max_daily_halt_ticks=500))
    assert risk.evaluate(1, MARKET_START + 1, 10_000.0) is None
    change = risk.evaluate(2, MARKET_START + 2, 9_790.0)
    assert change is not None and change.reason == "daily_loss_limit"
    midnight_tick = 120  # the market opens two minutes before midnight
    assert change.until_tick == midnight_tick
    assert risk.evaluate(midnight_tick - 1, MARKET_START + midnight_tick - 1, 9_790.0) is None
    change = risk.evaluate(midnight_tick, MARKET_START + midnight_tick, 9_790.0)
    assert change is not None and change.state is TradingState.ACTIVE and change.reason == "new_trading_day"
    # A new day: the loss counts from today's equity, so the same equity is no loss at all.
    assert risk.evaluate(midnight_tick + 1, MARKET_START + midnight_tick + 1, 9_790.0) is None

    capped = RiskManager(RiskLimits(daily_loss_limit=0.02, max_daily_halt_ticks=30))
    capped.evaluate(1, MARKET_START + 1, 10_000.0)
    change = capped.evaluate(2, MARKET_START + 2, 9_700.0)
    assert change is not None and change.until_tick == 32
    change = capped.evaluate(32, MARKET_START + 32, 9_700.0)
    assert change is not None and change.reason == "cooldown_elapsed"
    assert capped.evaluate(33, MARKET_START + 33, 9_700.0) is None  # the loss counts from here now


def test_a_crash_trips_the_breaker_and_exposure_is_limited(otel_capture: TelemetryCapture) -> None:
    risk = RiskManager(RiskLimits(crash_move=0.05, crash_lookback=5, cooldown_ticks=3))
    start = MARKET_START + 3600
    for tick, price in enumerate((100.0, 101.0, 99.0, 97.0), start=1):
        risk.observe("BTC/USDT", price)
        assert risk.evaluate(tick, start + tick, 10_000.0) is None
    risk.observe("BTC/USDT", 95.5)  # 5.4% below the high of the last five ticks
    change = risk.evaluate(5, start + 5, 10_000.0)
    assert change is not None and change.reason == "market_crash" and change.until_tick == 8

    otel_trading.set_trading_state(TradingState.ACTIVE)  # the state is process-wide, the check reads it too
    calm = RiskManager(RiskLimits(max_exposure_fraction=0.5))
    assert calm.check_entry(2_000.0, _snapshot(exposure=2_500.0)) == (True, None)
    assert calm.check_entry(2_000.0, _snapshot(exposure=3_500.0)) == (False, "exposure_limit")


def _snapshot(exposure: float = 0.0) -> otel_trading.trading.PortfolioSnapshot:
    book = otel_trading.Portfolio("risk-test", cash=10_000.0)
    if exposure:
        book.apply_fill("BTC/USDT", "buy", exposure / 100.0, 100.0)
    return book.snapshot()


# --- the simulated exchange is instrumented like a ccxt exchange ---------------------------------


class _TinyVenue:
    """The least a class needs for ``instrument_class``: ccxt's method names and an ``id``."""

    id = "tiny"

    async def fetch_ticker(self, symbol: str, params: dict[str, object] | None = None) -> dict[str, object]:  # noqa: ARG002
        if symbol == "BAD/USDT":
            raise demo_errors.BadSymbol("tiny does not have market symbol BAD/USDT")
        return {"symbol": symbol, "last": 1.0}

    def fetch_balance(self, params: dict[str, object] | None = None) -> dict[str, object]:  # noqa: ARG002
        raise demo_errors.RateLimitExceeded("tiny 429")


def test_instrument_class_gives_ccxt_spans_and_metrics_and_undoes(otel_capture: TelemetryCapture) -> None:
    original = _TinyVenue.__dict__["fetch_ticker"]
    undo = instrument_class(_TinyVenue, demo_errors)
    assert instrument_class(_TinyVenue, demo_errors)() is None  # a second time wraps nothing
    venue = _TinyVenue()
    import asyncio

    assert asyncio.run(venue.fetch_ticker("ETH/USDT")) == {"symbol": "ETH/USDT", "last": 1.0}
    with pytest.raises(demo_errors.BadSymbol):
        asyncio.run(venue.fetch_ticker("BAD/USDT"))
    with pytest.raises(demo_errors.RateLimitExceeded):
        venue.fetch_balance()
    spans = [s for s in otel_capture.spans if s.name.startswith("ccxt.")]
    assert [(s.name, s.attributes["trading.exchange"], s.attributes.get("error.type")) for s in spans] == [
        ("ccxt.fetch_ticker", "tiny", None), ("ccxt.fetch_ticker", "tiny", "ExchangeError"),
        ("ccxt.fetch_balance", "tiny", "RateLimitExceeded"),
    ]
    assert spans[0].attributes["trading.symbol"] == "ETH/USDT"
    assert otel_capture.value("trading.exchange.errors", **{"error.type": "RateLimitExceeded"}) == 1
    undo()
    assert _TinyVenue.__dict__["fetch_ticker"] is original
    with pytest.raises(TypeError, match="expected a class"):
        instrument_class(_TinyVenue(), demo_errors)  # type: ignore[arg-type]


def test_simulated_exchange_errors_are_classified_like_ccxt_ones() -> None:
    ccxt_errors = importlib.import_module("ccxt.base.errors")
    from otel_trading.instrumentation.ccxt import ERROR_CLASSES
    from otel_trading.instrumentation.ccxt._errors import ErrorClassifier

    ours, theirs = ErrorClassifier(demo_errors), ErrorClassifier(ccxt_errors)
    for name in (*ERROR_CLASSES, "BadSymbol", "OperationFailed", "BaseError"):
        ours_type, ccxt_type = getattr(demo_errors, name), getattr(ccxt_errors, name)
        assert ours(ours_type("x")) == theirs(ccxt_type("x")), name
    assert isinstance(SimulatedExchange.id, str) and SimulatedExchange.id == "simulated"
    assert isinstance(demo_errors, ModuleType)


# --- the command ----------------------------------------------------------------------------


def test_progress_is_plain_lines_when_stdout_is_not_a_terminal(tmp_path: Path) -> None:
    result = run_cli("demo", "--trades", "12", "--seed", "2", "--speed", "1000", "--prometheus-port", "0",
                     "--store", str(tmp_path / "store"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stdout and "\x1b[" not in result.stdout
    lines = result.stdout.splitlines()
    status = [line for line in lines if re.search(r"^\d\d:\d\d:\d\d  trades \d+ \(\d+W/\d+L\)  PnL ", line)]
    assert status, result.stdout  # at least one every 10 trades
    assert any("circuit breaker tripped" in line for line in lines)
    assert any("scenario: market crash" in line for line in lines)
    assert f"traces, metrics, logs -> {(tmp_path / 'store').resolve()} (local store)" in result.stdout
    assert f"otel-trading logs --level warn --store {tmp_path / 'store'}" in result.stdout


def test_progress_redraws_one_line_on_a_terminal(tmp_path: Path) -> None:
    controller, terminal = pty.openpty()
    with (tmp_path / "stderr").open("w") as stderr:
        process = subprocess.Popen(
            [str(SCRIPT), "demo", "--trades", "6", "--seed", "2", "--speed", "1000", "--prometheus-port", "0"],
            stdin=subprocess.DEVNULL, stdout=terminal, stderr=stderr, cwd=tmp_path, env=clean_environment(),
        )
    os.close(terminal)
    chunks = []
    while True:
        try:
            data = os.read(controller, 65536)
        except OSError:  # EIO: the demo exited and closed its terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(controller)
    assert process.wait(timeout=60) == 0, (tmp_path / "stderr").read_text()
    output = b"".join(chunks).decode()
    assert output.count("\r\x1b[K") >= 2  # the status line, redrawn in place
    assert "Summary" in output and "otel-trading traces\r\n" in output  # default store: no --store hint


def test_otlp_endpoint_sends_everything_to_the_collector(tmp_path: Path, http_receiver: HttpOtlpReceiver) -> None:
    result = run_cli("demo", "--trades", "3", "--seed", "4", "--speed", "2000", "--otlp-endpoint",
                     http_receiver.endpoint, "--otlp-protocol", "http/protobuf", "--no-progress", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    names = Counter(span.name for span in http_receiver.spans())
    assert names["trade"] >= 3 and names["order"] >= 6 and names["ccxt.create_order"] >= 6
    assert {"trading.exchange.requests", "trading.orders", "trading.equity"} <= http_receiver.metric_names()
    assert any(r.body.string_value == "position closed" for r in http_receiver.log_records())
    services = {resource.get("service.name") for resource in http_receiver.resources()}
    assert services == {"demo-bot"}
    assert f"traces, metrics, logs -> {http_receiver.endpoint} (OTLP http/protobuf)" in result.stdout
    assert not (tmp_path / ".otel-trading").exists() and "otel-trading traces" not in result.stdout


def test_ctrl_c_prints_the_summary_so_far_and_flushes(tmp_path: Path) -> None:
    store = tmp_path / "store"
    process = subprocess.Popen(
        [str(SCRIPT), "demo", "--duration", "60s", "--speed", "50", "--prometheus-port", "0", "--store", str(store)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=clean_environment(),
    )
    assert process.stdout is not None
    for line in process.stdout:  # the first scenario event: the bot has been trading for a while
        if "scenario:" in line:
            break
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert "Summary (interrupted)" in stdout and "Telemetry:" in stdout
    assert load_store(store).spans  # flushed before exiting


def test_help_lists_every_option_with_its_default() -> None:
    result = run_cli("demo", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    for option in ("--trades", "--duration", "--seed", "--speed", "--symbols", "--store", "--prometheus-port",
                   "--otlp-endpoint", "--otlp-protocol", "--service-name", "--linger", "--no-progress", "--log-console",
                   "--reject-rate", "--error-rate", "--gap-rate", "--partial-fill-rate"):
        assert option in text, option
    assert "(default: 7)" in text and "(default: demo-bot)" in text and "(default: 20.0)" in text
    assert "(default: None)" not in text and "(default: False)" not in text
    options = result.stdout[result.stdout.index("options:"):result.stdout.index("Afterwards:")]
    for block in re.split(r"\n(?=  -)", options):  # one option and its help each
        assert block.count("default") <= 1, block  # said once, not by the help and again by argparse


def test_next_commands_work_as_typed_without_the_venv_on_path(tmp_path: Path) -> None:
    """After `make demo` the script is only in .venv/bin: the hints must say so, and run as shown."""
    store = tmp_path / "my store"
    path_without_venv = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                                        if Path(p).resolve() != SCRIPT.parent.resolve())
    result = run_cli("demo", "--trades", "3", "--seed", "4", "--speed", "2000", "--prometheus-port", "0",
                     "--no-progress", "--store", str(store), cwd=tmp_path, PATH=path_without_venv)
    assert result.returncode == 0, result.stderr
    hints = result.stdout[result.stdout.index("Next:"):].splitlines()[1:]
    assert [hint.split(" --store")[0].strip() for hint in hints] == [
        f"{SCRIPT} traces", f"{SCRIPT} logs --level warn", f"{SCRIPT} report"]
    for hint in hints:
        typed = subprocess.run(hint.strip(), shell=True, cwd=tmp_path, capture_output=True, text=True,  # noqa: S602
                               env=clean_environment(PATH=path_without_venv), timeout=60, check=False)
        # 1: it ran and found nothing to show (no warnings in 3 trades); a shell's "not found" is 127
        assert typed.returncode in (0, 1) and (typed.stdout or "otel-trading: " in typed.stderr), (hint, typed)


def test_next_commands_name_the_script_as_it_can_be_typed(tmp_path: Path) -> None:
    from otel_trading.cli._invocation import typed_command

    venv_bin = tmp_path / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    script = venv_bin / "otel-trading"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    assert typed_command(str(script), cwd=tmp_path, search_path="/usr/bin") == ".venv/bin/otel-trading"
    assert typed_command(str(script), cwd=tmp_path / ".venv" / "bin", search_path="/usr/bin") == "./otel-trading"
    assert typed_command(str(script), cwd=Path("/a/b/c/d"), search_path="/usr/bin") == str(script)
    assert typed_command(str(script), cwd=tmp_path, search_path=str(venv_bin)) == "otel-trading"
    assert typed_command("-c", cwd=tmp_path, search_path="/usr/bin") == "otel-trading"  # in-process: no script


def test_a_busy_prometheus_port_is_reported_the_same_everywhere(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli("demo", "--trades", "2", "--seed", "4", "--speed", "2000", "--no-progress", "--linger", "30s",
                         "--prometheus-port", str(port), "--store", str(tmp_path / "store"), "--no-console",
                         cwd=tmp_path, timeout=25)
    assert result.returncode == 0, result.stderr
    not_served = (f"metrics -> not served: could not listen on 127.0.0.1:{port} (port in use?); "
                  "--prometheus-port picks another, 0 a free one")
    header, footer = result.stdout.split("Telemetry:")
    assert not_served in header and not_served in footer, result.stdout
    assert "served while the demo ran" not in result.stdout and "http://" not in result.stdout
    assert "Not lingering: no metrics endpoint is served and no metrics exporter pushes" in result.stdout
    assert f"Prometheus endpoint not started on 127.0.0.1:{port}" in result.stderr
    assert "other exporters" not in result.stderr
    assert "Metrics still go to the local store." in result.stderr


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("--reject-rate", "1.5"), "--reject-rate 1.5: expected a probability between 0 and 1"),
        (("--gap-rate", "-0.1"), "--gap-rate -0.1: expected a probability between 0 and 1"),
        (("--duration", "soon"), "--duration 'soon': expected a duration like 30s"),
        (("--trades", "0"), "--trades 0: expected at least 1"),
        (("--speed", "0"), "--speed 0.0: expected simulated seconds per second > 0"),
        (("--symbols", "BTC/EUR"), "--symbols 'BTC/EUR': 'BTC/EUR' is not of the form BASE/USDT"),
        (("--symbols", "BTC/USDT,btc/usdt"), "lists a symbol twice"),
        (("--prometheus-port", "70000"), "--prometheus-port 70000: expected 0 to 65535"),
        (("--error-rate", "lots"), "argument --error-rate: invalid float value: 'lots'"),
        (("--linger", "0s"), "--linger 0s: expected more than 0 seconds"),
        (("--linger", "later"), "--linger 'later': expected a duration like 30s"),
    ],
)
def test_bad_arguments_exit_2_naming_the_option(arguments: tuple[str, ...], message: str) -> None:
    result = run_cli("demo", *arguments)
    assert result.returncode == 2
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_cli_defaults_are_the_demo_defaults() -> None:
    args = build_parser().parse_args(["demo"])
    assert demo_options(args) == DemoOptions()
    assert demo_options(build_parser().parse_args(["demo", "--duration", "2m"])).trades is None


def test_options_are_checked_in_process_too() -> None:
    with pytest.raises(ValueError, match="trades or duration_s"):
        DemoOptions(trades=None)
    with pytest.raises(ValueError, match="error_rate: expected a probability"):
        DemoOptions(error_rate=2.0)


def test_the_default_rule_pack_fires_and_resolves_the_scenario_alerts(tmp_path: Path) -> None:
    result = run_cli("demo", "--trades", "12", "--seed", "7", "--prometheus-port", "0", "--store", str(tmp_path / "s"),
                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    [tally] = [line for line in result.stdout.splitlines() if "alerts fired:" in line]
    fired, resolved = tally.split("alerts fired: ")[1].split("; resolved: ")
    for name in ("DailyLossLimit", "TradingHalted", "ExchangeErrorStreak"):
        assert name in fired and name in resolved, tally
    assert "alert firing: TradingHalted (critical)" in result.stdout


def _summary_lines(stdout: str) -> dict[str, str]:
    """The summary's equity lines by their first word (equity, recorded, per)."""
    return dict(line.strip().split(maxsplit=1) for line in stdout.splitlines()
                if line.startswith("  ") and line.strip().split(maxsplit=1)[0] in ("equity", "recorded", "per"))


def test_the_summary_and_the_report_agree_on_equity_and_drawdown(tmp_path: Path) -> None:
    """The demo exports its metrics every second, so the report's equity is the recorded
    trading.equity; the summary labels both its equities (every tick, and the recorded one the
    report shows) and its recorded line is the report's, which the store-mode console charts."""
    store = tmp_path / "store"
    demo = run_cli(*DEMO_ARGS, "--no-progress", "--store", str(store), cwd=tmp_path)
    assert demo.returncode == 0, demo.stderr
    summary = _summary_lines(demo.stdout)
    assert summary["equity"].endswith(": marked to market every tick"), summary
    assert "per" not in summary, summary  # the report does not show the per-trade curve then
    recorded = re.fullmatch(r"([\d,.]+) USDT, max drawdown ([\d.]+%): trading.equity as the store's metrics "
                            r"recorded it \((\d+) points\), as otel-trading report shows it", summary["recorded"])
    assert recorded, summary
    report = run_cli("report", "--store", str(store), cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    assert re.search(rf"max drawdown +[\d,.]+ \({re.escape(recorded[2])}\)", report.stdout), report.stdout
    # From the equity before the first trade (exported when the demo starts) to the one after the last.
    assert re.search(rf"equity +10,000.00 -> {re.escape(recorded[1])}\n", report.stdout), report.stdout
    assert f"recorded trading.equity ({recorded[3]} points" in report.stdout, report.stdout
    # The store-mode console has more than one point to chart.
    with serve_store(store, port=0) as console:
        for path in ("/api/metrics/trading.equity", "/api/overview"):
            with urllib.request.urlopen(console.url + path, timeout=10) as response:  # noqa: S310 - loopback
                answer = json.load(response)
            points = answer["series"][0]["points"] if "series" in answer else answer["equity"]
            assert len(points) > 1, (path, answer)


def test_a_demo_without_recorded_equity_shows_the_per_trade_curve_the_report_shows(tmp_path: Path) -> None:
    """With no metrics in the store (only the Prometheus endpoint) the report reconstructs the
    equity from the trades: the summary's second line is that curve."""
    store = tmp_path / "store"
    demo = run_cli(*DEMO_ARGS, "--no-progress", "--store", str(store), cwd=tmp_path,
                   OTEL_METRICS_EXPORTER="prometheus")
    assert demo.returncode == 0, demo.stderr
    summary = _summary_lines(demo.stdout)
    assert "recorded" not in summary, summary
    per_trade = re.fullmatch(r"trade +([\d,.]+) USDT, max drawdown ([\d.]+%): at each close, from the closed "
                             r"trades' returns alone, as otel-trading report computes it", summary["per"])
    assert per_trade, summary
    report = run_cli("report", "--store", str(store), cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    assert re.search(rf"max drawdown +[\d,.]+ \({re.escape(per_trade[2])}\)", report.stdout), report.stdout
    assert re.search(rf"equity +10,000.00 -> {re.escape(per_trade[1])}\n", report.stdout), report.stdout


def project_extras(root: Path) -> dict[str, list[str]]:
    """pyproject.toml's optional dependencies, by extra."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # the dev extra installs the backport there
        import tomli as tomllib
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras: dict[str, list[str]] = project["optional-dependencies"]
    return extras


def test_make_demo_installs_the_runtime_only_and_nothing_after_make_test(tmp_path: Path) -> None:
    """`make demo` is a new user's first command: it must not pull the dev toolchain (mypy, ruff,
    matplotlib, ccxt, ...), and must not reinstall into a venv `make test` already set up."""
    root = Path(__file__).resolve().parent.parent
    for name in ("Makefile", "pyproject.toml", "tests/constraints-otel-min.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes((root / name).read_bytes())

    def plan(target: str) -> list[str]:
        make = shutil.which("make")
        assert make is not None, "make is what the README's two commands run"
        made = subprocess.run([make, "-n", target], cwd=tmp_path, capture_output=True, text=True, check=True)
        return made.stdout.splitlines()

    demo = plan("demo")
    # The runtime, plus only extras that add no package (the console's: a stdlib server).
    (install,) = [line for line in demo if line.startswith(".venv/bin/python -m pip install --quiet -e ")]
    installed = re.fullmatch(r"\.venv/bin/python -m pip install --quiet -e '?\.(?:\[([\w,-]+)\])?'?", install)
    assert installed, install
    extras = project_extras(root)
    for extra in installed[1].split(",") if installed[1] else ():
        assert extras[extra] == [], f"make demo installs .[{extra}], which pulls {extras[extra]}"
    test = plan("test")
    assert ".venv/bin/python -m pip install --quiet -e '.[dev]'" in test
    (touch,) = [line for line in test if line.startswith("touch .venv/")]
    for stamp in touch.split()[1:]:  # what the dev install leaves: a venv with both stamps
        (tmp_path / stamp).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / stamp).touch()
    assert plan("demo") == [".venv/bin/otel-trading demo"]
    assert (root / ".ci" / "run").read_text().rstrip().endswith("\nmake test")
