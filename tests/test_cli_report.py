"""``otel-trading report``: formats, filters, exit codes and the plot, run as the console script on
the demo's store (structure, and agreement with build_report computed in-process; not bytes).
Hand-checked numbers are in test_journal.py."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from cli_runner import clean_environment, run_cli

from otel_trading.analytics import ReportFilter, TradingReport, build_report
from otel_trading.export import load_store
from otel_trading.export._metric_queries import report_with_recorded_equity

TEXT_SECTIONS = (
    "Performance", "Order latency", "Slippage", "Rejects by reason", "Exchange errors by type",
    "Exchange errors by method", "Rejects and errors by hour (UTC)", "By symbol", "By strategy",
    "By exit reason",
)
JSON_KEYS = {
    "schema", "store", "filters", "runs", "period", "performance", "risk", "orders", "exchange", "problems_by_hour",
    "by_symbol", "by_strategy", "by_exit_reason", "equity_curve",
}


@pytest.fixture(scope="module")
def store(demo_store: Path) -> Path:
    """The store of the short seeded ``otel-trading demo`` run (read only)."""
    return demo_store


@pytest.fixture(scope="module")
def expected(store: Path) -> TradingReport:
    """What the journal computes in-process from the same store, with the equity the store's
    metrics recorded (the demo exports them every second): the CLI must agree with it."""
    report = build_report(load_store(store).spans)
    recorded = report_with_recorded_equity(report, store)
    assert recorded is not None, "the demo's store records trading.equity over its trades"
    return recorded


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
    assert stats.trades > 0 and expected.exchange_errors > 0 and expected.rejects_by_reason  # what the demo does
    assert lines[0].startswith(f"otel-trading report: {stats.trades} closed trades, ")
    assert re.search(rf"closed trades\s+{stats.trades} \({stats.wins} wins?, {stats.losses} loss(es)?, ", result.stdout)
    assert re.search(rf"total PnL\s+{expected.stats.total_pnl:,.2f}\n", result.stdout)
    assert ("per trade (periods_per_year=1, not annualised), on the trades' trading.portfolio.equity; the equity, "
            "the drawdown and the equity curve are the recorded trading.equity") in " ".join(result.stdout.split())
    for reason, count in expected.rejects_by_reason.items():
        assert re.search(rf"\n  {re.escape(reason)}\s+{count}\n", result.stdout)
    for error_type, count in expected.errors_by_type.items():
        assert re.search(rf"\n  {re.escape(error_type)}\s+{count}\n", result.stdout)
    for symbol, symbol_stats in expected.by_symbol.items():
        assert re.search(rf"\n  {re.escape(symbol)}\s+{symbol_stats.trades}\s", result.stdout)


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
    assert performance["not_closed"] == len(expected.journal.unclosed_trades)
    assert performance["total_pnl"] == pytest.approx(expected.stats.total_pnl)
    assert performance["win_rate"] == pytest.approx(expected.stats.win_rate)
    assert risk["basis"] == "equity" and risk["periods_per_year"] == 1
    assert risk["sharpe"] == pytest.approx(expected.risk.sharpe)
    assert risk["max_drawdown_relative"] == pytest.approx(expected.risk.max_drawdown_relative)
    assert orders["count"] == len(expected.journal.orders)
    assert orders["by_status"] == dict(expected.orders_by_status)
    assert orders["ack_latency_s"]["p50"] == pytest.approx(expected.ack_latency.p50)
    assert orders["fill_latency_s"]["count"] == expected.fill_latency.count
    assert orders["slippage"]["mean_bps"] == pytest.approx(expected.slippage.mean_bps)
    assert orders["rejects_by_reason"] == dict(expected.rejects_by_reason)
    exchange = document["exchange"]
    assert exchange["errors_by_type"] == dict(expected.errors_by_type)
    assert exchange["errors_by_method"] == dict(expected.errors_by_method)
    assert exchange["calls"] == len(expected.journal.exchange_calls)
    assert set(document["by_symbol"]) == set(expected.by_symbol)
    assert set(document["by_strategy"]) == set(expected.by_strategy)
    exits = document["by_exit_reason"]
    assert {reason: group["trades"] for reason, group in exits.items()} == dict(
        Counter(t.exit_reason or "unknown" for t in expected.journal.trades))
    assert sum(group["trades"] for group in exits.values()) == expected.stats.trades
    assert [point["value"] for point in document["equity_curve"]] == [p.value for p in expected.equity_curve]
    assert risk["equity_source"] == "recorded" and len(document["equity_curve"]) > 1
    hours = document["problems_by_hour"]
    assert sum(h["rejects"] for h in hours) == sum(expected.rejects_by_reason.values())
    assert sum(h["errors"] for h in hours) == expected.exchange_errors
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:00:00\.000Z", h["hour"]) for h in hours)
    numbers = [performance["total_pnl"], risk["sharpe"], orders["ack_latency_s"]["max"], orders["slippage"]["cost"]]
    assert all(isinstance(n, float) for n in numbers)


def test_filters_by_symbol_strategy_service_and_time(store: Path, expected: TradingReport) -> None:
    spans = load_store(store).spans
    symbol = next(iter(expected.by_symbol))
    code, by_symbol = report_json(store, "--symbol", symbol)
    in_process = build_report(spans, ReportFilter(symbol=symbol))
    assert code == 0 and by_symbol["filters"]["symbol"] == symbol
    assert by_symbol["performance"]["trades"] == in_process.stats.trades == expected.by_symbol[symbol].trades
    assert set(by_symbol["by_symbol"]) == {symbol}
    assert by_symbol["exchange"]["errors_by_type"] == dict(in_process.errors_by_type)
    strategy = next(iter(expected.by_strategy))
    code, by_strategy = report_json(store, "--strategy", strategy)
    assert code == 0 and set(by_strategy["by_strategy"]) == {strategy}
    service = expected.journal.trades[0].service
    assert service is not None
    code, recent = report_json(store, "--since", "1h", "--service", service)
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
    from otel_trading.analytics._report_document import json_number

    assert json_number(math.inf) == "inf" and json_number(-math.inf) == "-inf"
    assert json_number(math.nan) is None and json_number(None) is None and json_number(1.5) == 1.5
