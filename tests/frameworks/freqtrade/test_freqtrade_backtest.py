"""freqtrade backtests with the integration: real freqtrade 2026.x, offline (generated candles, fixed markets).

Each backtest runs in its own process (``ft_backtest_run.py``), as freqtrade does, so that the run
with the integration, the one without and the zero-code one under ``opentelemetry-instrument``
cannot share state.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from otel_trading.analytics._journal import read_journal
from otel_trading.export import load_store

RUNNER = Path(__file__).with_name("ft_backtest_run.py")
BIN = Path(sys.executable).parent
DAYS = "20"


def backtest(workdir: Path, mode: str, *launcher: str, **env: str) -> dict[str, Any]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")} | env
    command = [*launcher, sys.executable, str(RUNNER), str(workdir), mode, DAYS]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=environment, check=False)
    assert done.returncode == 0, f"{command} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    summary: dict[str, Any] = json.loads((workdir / "summary.json").read_text())
    return summary


def otel_report(store: Path) -> dict[str, Any]:
    done = subprocess.run([str(BIN / "otel-trading"), "report", "--store", str(store), "--format", "json"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


@pytest.fixture(scope="module")
def without(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return backtest(tmp_path_factory.mktemp("off"), "off")


@pytest.fixture(scope="module")
def instrumented(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    workdir = tmp_path_factory.mktemp("on")
    return workdir / "store", backtest(workdir, "on")


def test_report_reproduces_freqtrades_backtest_summary(instrumented: tuple[Path, dict[str, Any]]) -> None:
    store, summary = instrumented
    result = summary["result"]
    assert result["exit_reasons"].get("force_exit") == 1  # the harness leaves one trade open at the end
    report = otel_report(store)
    assert report["performance"]["trades"] == result["trades"] > 50
    assert report["performance"]["not_closed"] == 0
    assert report["performance"]["total_pnl"] == pytest.approx(result["profit_total_abs"], abs=1e-6)
    exits = {reason: group["trades"] for reason, group in report["by_exit_reason"].items()}
    assert exits == result["exit_reasons"]
    assert {reason: pytest.approx(group["total_pnl"], abs=1e-6) for reason, group in report["by_exit_reason"].items()
            } == result["profit_by_exit_reason"]
    assert report["orders"]["by_status"] == {"filled": 2 * result["trades"]}
    # the wallet: freqtrade's starting balance (1000 USDT) plus the profit of every trade, all closed
    closed = read_journal(load_store(store).spans).trades
    last = max(closed, key=lambda t: t.closed_ns)
    assert last.equity == pytest.approx(1000 + result["profit_total_abs"], abs=1e-6)


def test_each_freqtrade_trade_is_one_trace_at_simulated_times(instrumented: tuple[Path, dict[str, Any]]) -> None:
    store, summary = instrumented
    first = summary["result"]["first_trade"]
    spans = load_store(store).spans
    roots = [s for s in spans if s.name == "trade"]
    root = min(roots, key=lambda s: s.start_ns)
    attributes = root.attributes
    assert attributes["trading.trade_id"] == "1"
    assert attributes["trading.symbol"] == first["pair"]
    assert attributes["trading.side"] == "buy" and attributes["trading.position.side"] == "long"
    assert attributes["trading.strategy"] == "TinySma" and attributes["trading.exchange"] == "binance"
    assert attributes["trading.entry_tag"] == first["enter_tag"]
    assert attributes["trading.exit_reason"] == first["exit_reason"]
    assert attributes["trading.pnl.realized"] == pytest.approx(first["profit_abs"], abs=1e-8)
    assert root.start_ns == first["open_timestamp"] * 10**6
    closed_at = next(e.time_ns for e in root.events if e.name == "position.closed")
    assert closed_at == first["close_timestamp"] * 10**6
    orders = sorted((s for s in spans if s.name == "order" and s.trace_id == root.trace_id), key=lambda s: s.start_ns)
    assert [o.attributes["trading.side"] for o in orders] == ["buy", "sell"]
    entry, exit_ = orders
    assert entry.attributes["trading.order.average_price"] == pytest.approx(first["open_rate"])
    assert exit_.attributes["trading.order.average_price"] == pytest.approx(first["close_rate"])
    assert entry.attributes["trading.order.fee"] == pytest.approx(first["amount"] * first["open_rate"]
                                                                  * first["fee_open"])
    assert "trading.order.slippage_bps" in exit_.attributes  # against freqtrade's proposed rate
    assert {s.trace_id for s in spans if s.attributes.get("trading.trade_id") == "1"} == {root.trace_id}


def test_results_identical_with_and_without_the_integration(
        without: dict[str, Any], instrumented: tuple[Path, dict[str, Any]]) -> None:
    assert instrumented[1]["result"]["digest"] == without["result"]["digest"]


def test_a_failing_hook_is_counted_and_changes_nothing(tmp_path: Path, without: dict[str, Any]) -> None:
    broken = backtest(tmp_path, "broken")
    assert broken["result"]["digest"] == without["result"]["digest"]
    trades = without["result"]["trades"]
    # order_filled (2 per trade) and LocalTrade.close (1 per trade) each failed, counted by place.
    counted = {p["attributes"]["where"]: p["value"] for p in broken["failures"]["points"]}
    assert counted == {"freqtrade order_filled": 2 * trades, "freqtrade trade close": trades}
    assert broken["trade_spans"] == 0


def test_zero_code_under_opentelemetry_instrument(tmp_path: Path, without: dict[str, Any]) -> None:
    store = tmp_path / "store"
    summary = backtest(tmp_path, "plain", str(BIN / "opentelemetry-instrument"), "--",
                       OTEL_PYTHON_DISTRO="otel_trading", OTEL_TRADING_INSTRUMENT="freqtrade",
                       OTEL_TRADING_STORE_DIR=str(store),
                       OTEL_SERVICE_NAME="ft-zero-code", OTEL_TRADING_LOG_CONSOLE="off",
                       OTEL_TRADING_SYSTEM_METRICS="false", OTEL_METRICS_EXPORTER="none")
    assert summary["result"]["digest"] == without["result"]["digest"]
    report = otel_report(store)
    assert report["performance"]["trades"] == without["result"]["trades"]
    assert report["performance"]["total_pnl"] == pytest.approx(without["result"]["profit_total_abs"], abs=1e-6)


def test_futures_long_and_short_with_leverage(tmp_path: Path) -> None:
    summary = backtest(tmp_path, "futures")
    result = summary["result"]
    assert 0 < result["shorts"] < result["trades"]
    report = otel_report(tmp_path / "store")
    assert report["performance"]["trades"] == result["trades"]
    assert report["performance"]["total_pnl"] == pytest.approx(result["profit_total_abs"], abs=1e-6)
    roots = [s for s in load_store(tmp_path / "store").spans if s.name == "trade"]
    sides = Counter((s.attributes["trading.side"], s.attributes["trading.position.side"],
                     s.attributes["trading.leverage"]) for s in roots)
    longs = result["trades"] - result["shorts"]
    assert sides == {("sell", "short", 3.0): result["shorts"], ("buy", "long", 3.0): longs}
