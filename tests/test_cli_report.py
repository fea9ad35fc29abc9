"""``otel-trading report``: formats, filters, exit codes and the plot, run as the console script
on a store recorded with the public API (structure and consistency with build_report, not bytes)."""

from __future__ import annotations

import json
import math
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import ccxt
import pytest
from cli_runner import clean_environment, run_cli
from fake_exchange import FakeBinance, binance_config

import otel_trading
from otel_trading.analytics import TradingReport, build_report
from otel_trading.export import load_store
from otel_trading.instrumentation.ccxt import CcxtInstrumentor

TEXT_SECTIONS = (
    "Performance", "Order latency", "Slippage", "Rejects by reason", "Exchange errors by type",
    "Exchange errors by method", "Rejects and errors by hour (UTC)", "By symbol", "By strategy",
)
INSUFFICIENT_MSG = "Account has insufficient balance for requested action."
JSON_KEYS = {
    "schema", "store", "filters", "period", "performance", "risk", "orders", "exchange", "problems_by_hour",
    "by_symbol", "by_strategy", "equity_curve",
}


def record_bot(store: Path) -> None:
    """A seeded paper bot: 14 trades on two symbols and strategies (two rejected, never closed),
    one create_order the venue refuses (ETH), and one winning SOL trade (profit factor inf)."""
    rng = random.Random(11)  # noqa: S311 - seeded simulation, not security
    with pytest.MonkeyPatch.context() as env, FakeBinance() as venue:
        for name in [n for n in os.environ if n.startswith("OTEL_")]:
            env.delenv(name)
        telemetry = otel_trading.configure(
            service_name="report-bot", store_dir=store, metrics_exporter="none", log_console="off",
            install_signal_handlers=False, system_metrics=False, instrument=["ccxt"],
        )
        try:
            exchange = venue.point(ccxt.binance(binance_config(apiKey="k", secret="s")))
            exchange.load_markets()
            portfolio = otel_trading.Portfolio("main", cash=10_000.0)
            for i in range(14):
                symbol = ("BTC/USDT", "ETH/USDT")[i % 2]
                price = 100.0 if symbol == "BTC/USDT" else 50.0
                with otel_trading.trade(symbol, "buy", strategy=("breakout", "meanrev")[i % 3 == 0],
                                        portfolio=portfolio) as t:
                    order = t.submit_order(1.0, reference_price=price)
                    if i % 5 == 4:
                        order.rejected(("insufficient_funds", "invalid_order")[i % 2])
                        continue
                    time.sleep(rng.uniform(0.001, 0.003))
                    order.accepted(f"v-{i}")
                    time.sleep(rng.uniform(0.001, 0.006))
                    order.fill(1.0, price * (1 + rng.uniform(-0.0005, 0.001)))
                    if i == 1:
                        venue.fail("/api/v3/order", 400, {"code": -2010, "msg": INSUFFICIENT_MSG})
                        with pytest.raises(ccxt.InsufficientFunds):
                            exchange.create_order(symbol, "market", "sell", 1.0)
                    exit_price = price * (1 + rng.uniform(-0.02, 0.03))
                    t.submit_order(1.0, side="sell").fill(1.0, exit_price)
                    t.position_closed(exit_reason="take_profit" if exit_price > price else "stop_loss")
            with otel_trading.trade("SOL/USDT", "buy", strategy="breakout", portfolio=portfolio) as t:
                t.submit_order(1.0).fill(1.0, 20.0)
                t.submit_order(1.0, side="sell").fill(1.0, 21.0)
                t.position_closed(exit_reason="take_profit")
        finally:
            telemetry.shutdown()
            if CcxtInstrumentor().is_instrumented_by_opentelemetry:
                CcxtInstrumentor().uninstrument()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("report") / "store"
    record_bot(directory)
    return directory


@pytest.fixture(scope="module")
def expected(store: Path) -> TradingReport:
    """What the journal computes in-process from the same store: the CLI must agree with it."""
    return build_report(load_store(store).spans)


def report(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_cli("report", *args, timeout=60, **env)


def report_json(store: Path, *args: str) -> tuple[int, dict[str, Any]]:
    result = report("--store", str(store), "--format", "json", *args)
    return result.returncode, json.loads(result.stdout)


def test_text_report_has_every_section_and_the_journals_numbers(store: Path, expected: TradingReport) -> None:
    result = report("--store", str(store))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for title in TEXT_SECTIONS:
        assert title in lines, title
    stats = expected.stats
    assert lines[0].startswith(f"otel-trading report: {stats.trades} closed trades, ")
    assert re.search(rf"closed trades\s+{stats.trades} \({stats.wins} wins?, {stats.losses} loss(es)?, ", result.stdout)
    assert re.search(rf"total PnL\s+{expected.stats.total_pnl:,.2f}\n", result.stdout)
    assert "per trade (periods_per_year=1, not annualised), on the equity curve" in result.stdout
    assert re.search(r"\n  insufficient_funds\s+\d+\n", result.stdout)
    assert re.search(r"\n  InsufficientFunds\s+1\n", result.stdout)
    assert re.search(r"\n  SOL/USDT\s+1\s+100\.00%.*\binf\b", result.stdout)


def test_markdown_report_is_github_tables(store: Path) -> None:
    result = report("--store", str(store), "--format", "markdown")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert text.startswith("# otel-trading report\n")
    assert [line[3:] for line in text.splitlines() if line.startswith("## ")] == list(TEXT_SECTIONS)
    for block in re.findall(r"(?:^\|.*\|\n)+", text, flags=re.MULTILINE):
        rows = block.splitlines()
        assert re.fullmatch(r"\|(?:-{3}:?\|)+", rows[1]), rows[1]  # header separator
        columns = {row.count(" | ") for row in rows if not row.startswith("|--")}
        assert len(columns) == 1, rows  # every row as wide as the header


def test_json_document_matches_the_journal(store: Path, expected: TradingReport) -> None:
    code, document = report_json(store)
    assert code == 0
    assert set(document) == JSON_KEYS
    assert document["schema"] == "otel-trading.report/1"
    performance, risk, orders = document["performance"], document["risk"], document["orders"]
    assert performance["trades"] == expected.stats.trades
    assert performance["not_closed"] == len(expected.journal.unclosed_trades) == 2
    assert performance["total_pnl"] == pytest.approx(expected.stats.total_pnl)
    assert performance["win_rate"] == pytest.approx(expected.stats.win_rate)
    assert risk["basis"] == "equity" and risk["periods_per_year"] == 1
    assert risk["sharpe"] == pytest.approx(expected.risk.sharpe)
    assert risk["max_drawdown_relative"] == pytest.approx(expected.risk.max_drawdown_relative)
    assert orders["count"] == len(expected.journal.orders)
    assert orders["ack_latency_s"]["p50"] == pytest.approx(expected.ack_latency.p50)
    assert orders["fill_latency_s"]["count"] == expected.fill_latency.count
    assert orders["slippage"]["mean_bps"] == pytest.approx(expected.slippage.mean_bps)
    assert orders["rejects_by_reason"] == dict(expected.rejects_by_reason)
    assert sum(orders["rejects_by_reason"].values()) == 2
    assert document["exchange"]["errors_by_type"] == {"InsufficientFunds": 1}
    assert document["exchange"]["errors_by_method"] == {"create_order": 1}
    assert document["by_symbol"]["SOL/USDT"]["profit_factor"] == "inf"  # JSON has no infinity
    assert set(document["by_strategy"]) == {"breakout", "meanrev"}
    assert len(document["equity_curve"]) == expected.stats.trades + 1
    hours = document["problems_by_hour"]
    assert sum(h["rejects"] for h in hours) == 2 and sum(h["errors"] for h in hours) == 1
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:00:00\.000Z", h["hour"]) for h in hours)
    numbers = [performance["total_pnl"], risk["sharpe"], orders["ack_latency_s"]["max"], orders["slippage"]["cost"]]
    assert all(isinstance(n, float) for n in numbers)


def test_filters_by_symbol_strategy_service_and_time(store: Path, expected: TradingReport) -> None:
    code, btc = report_json(store, "--symbol", "BTC/USDT")
    assert code == 0
    assert btc["performance"]["trades"] == sum(1 for t in expected.journal.trades if t.symbol == "BTC/USDT")
    assert set(btc["by_symbol"]) == {"BTC/USDT"} and btc["filters"]["symbol"] == "BTC/USDT"
    assert btc["exchange"]["errors"] == 0
    code, meanrev = report_json(store, "--strategy", "meanrev")
    assert code == 0 and set(meanrev["by_strategy"]) == {"meanrev"}
    code, recent = report_json(store, "--since", "1h", "--service", "report-bot")
    assert code == 0 and recent["performance"]["trades"] == expected.stats.trades


def test_nothing_matched_exits_1_with_a_reason_and_json_stays_a_document(store: Path, tmp_path: Path) -> None:
    result = report("--store", str(store), "--service", "another-bot")
    assert result.returncode == 1 and result.stdout == ""
    assert "no closed trades in" in result.stderr and "service=another-bot" in result.stderr
    code, document = report_json(store, "--to", "2000-01-01T00:00:00Z")
    assert code == 1
    assert document["performance"]["trades"] == 0 and document["performance"]["win_rate"] is None
    assert document["risk"]["sharpe"] is None and document["equity_curve"] == []
    missing = report("--store", str(tmp_path / "nowhere"))
    assert missing.returncode == 1 and "does not exist" in missing.stderr


def test_damaged_lines_are_skipped_and_reported(store: Path, tmp_path: Path, expected: TradingReport) -> None:
    damaged = tmp_path / "store"
    damaged.mkdir()
    lines = (store / "traces.jsonl").read_text().splitlines(keepends=True)
    (damaged / "traces.jsonl").write_text("".join([*lines[:-1], "{not json\n", lines[-1]]))
    code, document = report_json(damaged)
    result = report("--store", str(damaged))
    assert code == 0 and result.returncode == 0
    assert "traces.jsonl:" in result.stderr and "skipped" in result.stderr
    assert 0 < document["performance"]["trades"] <= expected.stats.trades


def test_help_and_bad_arguments() -> None:
    result = report("--help")
    assert result.returncode == 0
    for option in ("--store", "--since", "--from", "--to", "--symbol", "--strategy", "--service", "--format",
                   "--plot"):
        assert option in result.stdout
    bad_format = report("--format", "yaml")
    assert bad_format.returncode == 2 and "--format" in bad_format.stderr
    bad_since = report("--since", "yesterday-ish")
    assert bad_since.returncode == 2 and "--since" in bad_since.stderr
    both = report("--since", "1h", "--from", "2h")
    assert both.returncode == 2 and "--from" in both.stderr


def test_plot_writes_one_png_with_three_panels(store: Path, tmp_path: Path) -> None:
    import matplotlib.image

    target = tmp_path / "report.png"
    result = report("--store", str(store), "--plot", str(target))
    assert result.returncode == 0, result.stderr
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    height, width, _channels = matplotlib.image.imread(target).shape
    assert (width, height) == (1000, 1000)
    unwritable = report("--store", str(store), "--plot", str(tmp_path / "no" / "such" / "dir.png"))
    assert unwritable.returncode == 2 and "--plot" in unwritable.stderr


def test_plot_without_matplotlib_is_a_usage_error(store: Path, tmp_path: Path) -> None:
    target = tmp_path / "report.png"
    # Python's own way of making a package unimportable: None in sys.modules.
    code = ("import sys; sys.modules['matplotlib'] = None; from otel_trading.cli import main; "
            f"sys.exit(main(['report', '--store', {str(store)!r}, '--plot', {str(target)!r}]))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            env=clean_environment(), check=False)
    assert result.returncode == 2
    assert "install otel-trading[plot]" in result.stderr
    assert result.stdout == "" and not target.exists()


def test_json_numbers_are_finite_or_named() -> None:
    from otel_trading.cli._report_render import json_number

    assert json_number(math.inf) == "inf" and json_number(-math.inf) == "-inf"
    assert json_number(math.nan) is None and json_number(None) is None and json_number(1.5) == 1.5
