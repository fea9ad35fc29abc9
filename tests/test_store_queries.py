"""The store queries (``otel_trading.export._store_queries``) answer what the CLI views print on the same
store: ``traces --json``, ``traces ID --json``, ``logs --format json`` and ``report --format json``."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from cli_runner import run_cli

from otel_trading.analytics._journal import Journal, ReportFilter, build_report
from otel_trading.export import load_store
from otel_trading.export._index_rows import render_value
from otel_trading.export._log_filter import equals_text
from otel_trading.export._runs import RunSelection
from otel_trading.export._store_queries import (
    search_logs,
    store_report,
    trace_detail,
    trace_summaries,
    trades,
    trading_report,
)


@pytest.fixture(scope="module")
def store(demo_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("queries") / "store"
    shutil.copytree(demo_store, directory, ignore=shutil.ignore_patterns(".index*"))
    return directory


def _cli_lines(*args: str) -> list[dict[str, Any]]:
    result = run_cli(*args)
    assert result.returncode in (0, 1), result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def _listed(store: Path, *options: str) -> list[dict[str, Any]]:
    return _cli_lines("traces", "--store", str(store), "--json", "--limit", "0", *options)


def test_trace_summaries_equal_the_traces_listing(store: Path) -> None:
    listed = _listed(store)
    summaries = trace_summaries(store, limit=None)
    assert len(summaries) == len(listed) > 20
    for summary, line in zip(summaries, listed, strict=True):
        assert (summary.trace_id, summary.name, summary.start_ns, summary.span_count, summary.symbol,
                summary.correlation_id, summary.service, summary.run, summary.error, summary.partial) == \
            (line["trace_id"], line["root"], line["start_unix_nano"], line["span_count"], line["symbol"],
             line["trade_id"], line["service"], line["run"], line["error"], line["partial"])
        assert summary.duration_ms == pytest.approx(line["duration_s"] * 1e3)
        assert (summary.error_count > 0) == (line["status"] == "error")
        assert (summary.side, summary.outcome, summary.pnl, summary.exit_reason) == \
            (line["side"], line["outcome"], line["pnl"], line["exit_reason"])
    assert json.loads(json.dumps([dataclasses.asdict(s) for s in summaries[:3]]))  # plain JSON values
    assert len(trace_summaries(store)) == min(100, len(listed))  # the default limit


def test_trace_summary_filters_equal_the_listing_options(store: Path) -> None:
    errors = [line["trace_id"] for line in _listed(store, "--errors")]
    assert errors and [s.trace_id for s in trace_summaries(store, status="error", limit=None)] == errors
    ok = {s.trace_id for s in trace_summaries(store, status="ok", limit=None)}
    assert not ok & set(errors) and len(ok) + len(errors) == len(trace_summaries(store, limit=None))
    trade_traces = [line["trace_id"] for line in _listed(store, "--name", "trade", "--symbol", "BTC/USDT")]
    assert trade_traces == [s.trace_id for s in trace_summaries(store, name="trade", symbol="BTC/USDT", limit=None)]
    one = trace_summaries(store, name="trade", limit=1)[0]
    assert one.correlation_id is not None
    by_id = [line["trace_id"] for line in _listed(store, "--trade-id", one.correlation_id)]
    assert [s.trace_id for s in trace_summaries(store, correlation_id=one.correlation_id)] == by_id
    assert one.trace_id in by_id


def test_trace_summaries_by_time_duration_service_and_attribute(store: Path) -> None:
    everything = trace_summaries(store, limit=None)
    middle = everything[len(everything) // 2].start_ns
    assert [s.trace_id for s in trace_summaries(store, since_ns=middle, limit=None)] == \
        [s.trace_id for s in everything if s.start_ns >= middle]
    assert [s.trace_id for s in trace_summaries(store, until_ns=middle, limit=None)] == \
        [s.trace_id for s in everything if s.start_ns <= middle]
    durations = sorted(s.duration_ms for s in everything)
    cut = durations[len(durations) // 2]
    assert {s.trace_id for s in trace_summaries(store, min_duration_ms=cut, limit=None)} == \
        {s.trace_id for s in everything if s.duration_ms >= cut}
    assert {s.trace_id for s in trace_summaries(store, max_duration_ms=cut, limit=None)} == \
        {s.trace_id for s in everything if s.duration_ms <= cut}
    assert len(trace_summaries(store, service="demo-bot", limit=None)) == len(everything)
    assert trace_summaries(store, service="no-such-bot") == []
    # A child span's attribute finds its trace: the rejected orders' reasons are on the order spans.
    rejected = trace_summaries(store, attribute=("trading.order.status", "rejected"), limit=None)
    assert rejected and all(s.error for s in rejected)
    closed = [s for s in everything if s.pnl is not None]
    assert [s.trace_id for s in trace_summaries(store, attribute=("trading.pnl.realized", repr(closed[0].pnl)))] \
        == [closed[0].trace_id]


def test_trace_detail_equals_the_waterfall_document(store: Path) -> None:
    trade = trace_summaries(store, name="trade", status="error", limit=1)[0]
    [document] = _cli_lines("traces", trade.trace_id, "--store", str(store), "--json")
    detail = trace_detail(store, trade.trace_id[:10])
    assert detail is not None and detail.trace_id == trade.trace_id

    def flatten(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [item for node in nodes for item in (node, *flatten(node["children"]))]

    spans = flatten(document["spans"])
    assert sorted(span.span_id for span in detail.spans) == sorted(span["span_id"] for span in spans)
    by_id = {span["span_id"]: span for span in spans}
    for span in detail.spans:
        shown = by_id[span.span_id]
        assert (span.name, span.parent_span_id, span.status, span.status_message, span.attributes, span.kind) == \
            (shown["name"], shown["parent_span_id"], shown["status"], shown["status_message"],
             shown["attributes"], shown["kind"])
        assert [event.name for event in span.events] == [event["name"] for event in shown["events"]]
    logs = [log for span in spans for log in span["logs"]] + document["logs"]
    assert sorted(log.time_ns for log in detail.logs) == sorted(log["time_unix_nano"] for log in logs)
    assert detail.logs and [log.time_ns for log in detail.logs] == sorted(log.time_ns for log in detail.logs)
    assert trace_detail(store, "f" * 32) is None
    assert trace_detail(store, "") is None


def _cli_logs(store: Path, *options: str) -> list[dict[str, Any]]:
    return _cli_lines("logs", "--store", str(store), "--format", "json", "--limit", "0", *options)


def _same_logs(found: list[Any], printed: list[dict[str, Any]]) -> None:
    """``found`` newest first is what the CLI printed oldest first (equal times in any order)."""
    assert sorted((log.time_ns, log.message, log.level, log.trace_id) for log in found) == \
        sorted((log["time_unix_nano"], log["body"], log["level"], log["trace_id"]) for log in printed)
    assert [log.time_ns for log in found] == sorted((log.time_ns for log in found), reverse=True)


def test_search_logs_equals_the_logs_command(store: Path) -> None:
    everything = _cli_logs(store)
    found = search_logs(store, limit=None)
    _same_logs(found, everything)
    assert len(search_logs(store)) == min(100, len(everything))
    _same_logs(search_logs(store, text="REJECTED", limit=None), _cli_logs(store, "--grep", "rejected"))
    _same_logs(search_logs(store, min_level="warn", limit=None), _cli_logs(store, "--level", "warn"))
    _same_logs(search_logs(store, fields=[("symbol", "BTC/USDT")], limit=None),
               _cli_logs(store, "symbol=BTC/USDT"))
    with_trade = next(log for log in found if log.correlation_id)
    _same_logs(search_logs(store, correlation_id=with_trade.correlation_id, limit=None),
               _cli_logs(store, "--trade-id", str(with_trade.correlation_id)))
    with_trace = next(log for log in found if log.trace_id)
    assert with_trace.trace_id is not None
    _same_logs(search_logs(store, trace_id=with_trace.trace_id[:8], limit=None),
               _cli_logs(store, "--trace-id", with_trace.trace_id[:8]))
    assert search_logs(store, service="no-such-bot") == []
    with pytest.raises(ValueError, match="min_level 'loud'"):
        search_logs(store, min_level="loud")


def test_search_logs_pages_with_a_cursor(store: Path) -> None:
    everything = search_logs(store, limit=None)
    pages: list[Any] = []
    cursor: int | None = None
    while True:
        page = search_logs(store, limit=25, before_ns=cursor)
        if not page:
            break
        pages += page
        cursor = page[-1].time_ns
    # Records sharing the cursor's nanosecond are skipped by "older than": none in the demo's store.
    assert [log.time_ns for log in pages] == [log.time_ns for log in everything]
    middle = everything[len(everything) // 2].time_ns
    assert search_logs(store, since_ns=middle, until_ns=middle, limit=None) == \
        [log for log in everything if log.time_ns == middle]


def test_trades_equal_the_report(store: Path) -> None:
    report = store_report(store)
    rows = trades(store)
    closed = [row for row in rows if row.status == "closed"]
    assert len(closed) == report["performance"]["trades"] > 0
    assert len(rows) - len(closed) == report["performance"]["not_closed"]
    assert sum(row.pnl or 0.0 for row in closed) == pytest.approx(report["performance"]["total_pnl"])
    assert [row.opened_ns for row in rows] == sorted((row.opened_ns for row in rows), reverse=True)
    for row in closed:
        assert row.closed_ns is not None and row.duration_ms == (row.closed_ns - row.opened_ns) / 1e6
    assert all(row.pnl is None and row.closed_ns is None for row in rows if row.status == "open")
    listed = {s.trace_id: s for s in trace_summaries(store, name="trade", limit=None)}
    assert {row.trace_id for row in rows} == set(listed)
    assert all(listed[row.trace_id].correlation_id == row.trade_id for row in rows)
    for symbol, stats in report["by_symbol"].items():
        assert len(trades(store, symbol=symbol, status="closed")) == stats["trades"]
    for reason, stats in report["by_exit_reason"].items():
        assert len(trades(store, exit_reason=reason)) == stats["trades"]
    assert {row.side for row in trades(store, side="sell")} <= {"sell"}
    assert len(trades(store, limit=2)) == 2


@pytest.mark.parametrize("options", [(), ("symbol", "BTC/USDT"), ("strategy", "ema-crossover")])
def test_store_report_is_what_report_prints(store: Path, options: tuple[str, ...]) -> None:
    arguments = [f"--{options[0]}", options[1]] if options else []
    result = run_cli("report", "--store", str(store), "--format", "json", *arguments)
    assert result.returncode in (0, 1), result.stderr
    filters = {options[0]: options[1]} if options else {}
    assert store_report(store, **filters) == json.loads(result.stdout)


@pytest.mark.parametrize("selection", [ReportFilter(), ReportFilter(symbol="BTC/USDT"),
                                       ReportFilter(strategy="ema-crossover", service="demo-bot")])
def test_the_report_from_the_index_rows_is_the_report_of_every_span(store: Path, selection: ReportFilter) -> None:
    expected = build_report(load_store(store, indexed=False, logs=False).spans, selection)
    found = trading_report(store, selection, RunSelection()).report
    # The exchange calls and orders are counted in SQL, not listed; the trades are the same records.
    assert found.journal == dataclasses.replace(expected.journal, exchange_calls=(), orders=())
    listed = trading_report(store, selection, RunSelection(), orders=True).report
    assert listed.journal == dataclasses.replace(expected.journal, exchange_calls=())
    assert dataclasses.replace(listed, journal=found.journal) == found
    assert expected.exchange_calls_by_method and expected.journal.trades
    # The recorded equity (metric lines) may replace the reconstructed curve: the rest is equal.
    assert dataclasses.replace(found, journal=expected.journal, risk=expected.risk,
                               equity_curve=expected.equity_curve) == expected
    other = trading_report(store, selection, RunSelection(run="no-such-run")).report
    assert other.journal == Journal() and other.exchange_calls_by_method == {}


def test_an_attribute_finds_every_trace_with_a_span_carrying_it(store: Path) -> None:
    spans = load_store(store, indexed=False, logs=False).spans
    samples: dict[str, Any] = {}
    for span in spans:  # one value of each type the store holds (text, int, float, bool, list)
        for key, value in span.attributes.items():
            samples.setdefault(type(value).__name__, (key, value))
    assert {"str", "int", "float", "bool"} <= set(samples)
    for key, value in samples.values():
        for text in {render_value(value), *([str(float(value))] if type(value) in (int, float) else [])}:
            expected = {span.trace_id for span in spans
                        if key in span.attributes and equals_text(span.attributes[key], text)}
            found = trace_summaries(store, attribute=(key, text), limit=None)
            assert {summary.trace_id for summary in found} == expected, (key, text)
            assert [s.start_ns for s in found] == sorted((s.start_ns for s in found), reverse=True)
    assert trace_summaries(store, attribute=("trading.symbol", 'BTC"/USDT')) == []
