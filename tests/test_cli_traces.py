"""``otel-trading traces``: the trace list, the waterfall of one trace, and a damaged store."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cli_runner import SCRIPT, clean_environment, run_cli

# A store with what the commands must show: a filled trade, a trade whose order is rejected, a
# trade that raises, a trade still open at shutdown (its root never stored: partial), a span
# under a remote parent (an orphan), nested spans, and logs at every level tied to spans.
SCENARIO = textwrap.dedent("""
    import sys

    from opentelemetry import context, propagate

    import otel_trading
    from otel_trading import get_logger, span

    telemetry = otel_trading.configure(
        store_dir=sys.argv[1], service_name="scenario-bot", metrics_exporter="none", log_console="off",
        install_signal_handlers=False, log_level="debug",
    )
    log = get_logger("bot")
    book = otel_trading.Portfolio("book", base_currency="USDT", cash=10_000.0)

    with otel_trading.trade("BTC/USDT", "buy", strategy="breakout", trade_id="trade-win-1", portfolio=book) as t:
        t.signal("long", confidence=0.7)
        t.risk_check(approved=True)
        with span("decide", symbol="BTC/USDT"):
            log.debug("features ready", rows=3)
        order = t.submit_order(0.1, order_type="limit", price=100.0, reference_price=100.0)
        order.accepted("v-1")
        order.fill(0.1, 100.0, fee=0.01)
        t.position_opened(0.1, 100.0)
        exit_order = t.submit_order(0.1, side="sell", reference_price=110.0)
        exit_order.fill(0.1, 110.0, fee=0.01)
        t.position_closed(exit_reason="take_profit", exit_price=110.0)
        log.info("trade closed", pnl=t.realized_pnl, note="take profit hit")

    with otel_trading.trade("ETH/USDT", "sell", trade_id="trade-rejected-2") as t:
        t.signal("short")
        t.risk_check(approved=True)
        t.submit_order(1.0).rejected("insufficient_funds")
        log.warning("order rejected, giving up", retry=False)

    try:
        with otel_trading.trade("SOL/USDT", "buy", trade_id="trade-crash-3"):
            try:
                raise ConnectionError("exchange down")
            except ConnectionError:
                log.exception("exchange call failed")
            raise RuntimeError("strategy bug")
    except RuntimeError:
        pass

    remote = propagate.extract({"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"})
    token = context.attach(remote)
    with span("handle_webhook"):
        log.info("webhook received", source="tradingview")
    context.detach(token)

    still_open = otel_trading.trade("XRP/USDT", "buy", trade_id="trade-open-4").start()
    with still_open.activate():
        still_open.submit_order(5.0).fill(5.0, 0.5)
    telemetry.force_flush()
    log.critical("halting", reason="drawdown")
    telemetry.shutdown()
""")


def record_scenario(directory: Path) -> Path:
    """Runs SCENARIO in a fresh interpreter with its store in ``directory``."""
    result = subprocess.run([sys.executable, "-c", SCENARIO, str(directory)], capture_output=True, text=True,
                            timeout=120, env=clean_environment(), check=False)
    assert result.returncode == 0, result.stderr
    return directory


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record_scenario(tmp_path_factory.mktemp("scenario") / "store")


def traces(store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("traces", "--store", str(store), *args)


def listed(store: Path, *args: str) -> list[dict[str, object]]:
    result = traces(store, "--json", *args)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def trace_of(store: Path, trade_id: str) -> str:
    [summary] = listed(store, "--trade-id", trade_id)
    return str(summary["trace_id"])


# -- the list ------------------------------------------------------------------------------


def test_list_is_one_line_per_trace_newest_first(store: Path) -> None:
    result = traces(store)
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["START", "TRACE", "ROOT", "SYMBOL", "SIDE", "DURATION", "SPANS", "RESULT", "STATUS"]
    assert len(rows) == 5
    starts = [row[:23] for row in rows]
    assert starts == sorted(starts, reverse=True)
    win = next(row for row in rows if "BTC/USDT" in row)
    assert re.search(r"\btrade\s+BTC/USDT\s+buy\s+\S+s\s+4\s+win \+0\.98 take_profit\s+ok$", win), win


def test_list_ends_with_the_command_for_the_latest_trades_waterfall(store: Path) -> None:
    result = traces(store)
    latest_trade = next(s for s in listed(store) if s["root"] == "trade")
    # The command as it can be typed here (.venv/bin/otel-trading when the venv is not on PATH).
    command = os.path.relpath(SCRIPT) if shutil.which("otel-trading") is None else "otel-trading"
    hint = f"otel-trading: the waterfall of the latest trade: {command} traces {str(latest_trade['trace_id'])[:16]}"
    assert result.stderr.splitlines()[-1] == f"{hint} --store {store}"
    typed = result.stderr.splitlines()[-1].split(": ")[-1].split()
    waterfall = subprocess.run(typed, capture_output=True, text=True, timeout=60, check=False)
    assert waterfall.returncode == 0 and waterfall.stdout.startswith(f"trace {latest_trade['trace_id']}")
    assert "waterfall" not in traces(store, "--json").stderr  # the JSON lines are for programs


def test_list_json_carries_status_outcome_and_partial_traces(store: Path) -> None:
    by_trade = {summary["trade_id"]: summary for summary in listed(store)}
    win = by_trade["trade-win-1"]
    assert (win["root"], win["symbol"], win["side"], win["status"]) == ("trade", "BTC/USDT", "buy", "ok")
    assert (win["outcome"], win["exit_reason"], win["span_count"]) == ("win", "take_profit", 4)
    assert isinstance(win["pnl"], float) and win["pnl"] > 0 and win["service"] == "scenario-bot"
    assert len(str(win["trace_id"])) == 32 and str(win["start"]).endswith("Z")
    rejected = by_trade["trade-rejected-2"]
    assert rejected["status"] == "error" and rejected["error"] == "order rejected: insufficient_funds"
    crashed = by_trade["trade-crash-3"]
    assert crashed["status"] == "error" and "RuntimeError: strategy bug" in str(crashed["error"])
    open_trade = by_trade["trade-open-4"]  # the root was never ended: listed from its order span
    assert open_trade["partial"] is True and open_trade["root"] == "order" and open_trade["symbol"] == "XRP/USDT"
    webhook = next(s for s in by_trade.values() if s["root"] == "handle_webhook")
    assert webhook["partial"] is True and webhook["trace_id"] == "0af7651916cd43dd8448eb211c80319c"


def test_partial_traces_are_marked_in_the_list(store: Path) -> None:
    result = traces(store, "--symbol", "XRP/USDT")
    assert result.returncode == 0, result.stderr
    [row] = result.stdout.splitlines()[1:]
    assert "order [partial]" in row


def test_filters(store: Path) -> None:
    errors = listed(store, "--errors")
    assert {s["trade_id"] for s in errors} == {"trade-rejected-2", "trade-crash-3"}
    assert {s["root"] for s in listed(store, "--name", "trade")} == {"trade"}
    assert [s["symbol"] for s in listed(store, "--symbol", "ETH/USDT")] == ["ETH/USDT"]
    assert [s["trade_id"] for s in listed(store, "--correlation-id", "trade-win-1")] == ["trade-win-1"]
    assert len(listed(store, "--since", "1h")) == 5
    assert len(listed(store, "--limit", "0")) == 5
    nothing = traces(store, "--to", "2000-01-01T00:00:00Z")
    assert nothing.returncode == 1 and "no traces match (of 5" in nothing.stderr


def test_limit_keeps_the_most_recent_and_says_so(store: Path) -> None:
    everything = listed(store)
    result = traces(store, "--limit", "2")
    assert result.returncode == 0
    rows = result.stdout.splitlines()[1:]
    assert [row.split()[2] for row in rows] == [str(s["trace_id"])[:16] for s in everything[:2]]
    assert "showed the 2 most recent of 5 matching traces" in result.stderr


# -- one trace -----------------------------------------------------------------------------


def test_waterfall_nests_spans_with_events_and_logs_in_time_order(store: Path) -> None:
    trace_id = trace_of(store, "trade-win-1")
    result = traces(store, trace_id[:8])
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"trace {trace_id}  service scenario-bot"
    assert "trade  BTC/USDT  buy" in lines[1] and "4 spans" in lines[1] and "win +" in lines[1]
    rows = waterfall_rows(result.stdout)
    assert_tree_order(rows)

    def depth_of(fragment: str) -> int:
        return next(row.depth for row in rows if fragment in row.text)

    assert depth_of("trade  ok") < depth_of("◆ signal") == depth_of("decide  ok") == depth_of("order  ok")
    assert depth_of("features ready") > depth_of("decide  ok")  # the log under the span it was written in
    assert depth_of("order.accepted") > depth_of("order  ok")
    assert depth_of("trade closed") == depth_of("◆ signal")
    assert "order.type=limit" in result.stdout and "order.slippage_bps=" in result.stdout
    assert "pnl.realized=" in result.stdout and "exit_reason=take_profit" in result.stdout
    bars = [row.timeline for row in rows if "█" in row.timeline]
    assert len(bars) == 4 and len({bar.index("█") for bar in bars}) > 1  # bars start at their offsets


@dataclass(frozen=True)
class Row:
    offset_s: float
    timeline: str
    depth: int
    text: str


def waterfall_rows(output: str) -> list[Row]:
    """The rows below the column header, split into offset, timeline, tree depth and text."""
    lines = output.splitlines()
    header = next(i for i, line in enumerate(lines) if line.lstrip().startswith("OFFSET"))
    text_column = lines[header].index("SPAN")
    timeline_column = lines[header].index("TIMELINE")
    rows = []
    for line in lines[header + 1:]:
        offset = line.split()[0]
        text = line[text_column:]
        rows.append(Row(float(re.sub(r"[^\d.]", "", offset)) * _unit(offset), line[timeline_column:text_column],
                        (len(text) - len(text.lstrip())) // 2, text.strip()))
    return rows


def _unit(offset: str) -> float:
    return {"µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[re.sub(r"[\d.+]", "", offset)]


def assert_tree_order(rows: list[Row]) -> None:
    """Each row comes after the span it is under, and the items under one span in time order."""
    open_spans: list[Row] = []
    last_offset_at_depth: dict[int, float] = {}
    for row in rows:
        while open_spans and open_spans[-1].depth >= row.depth:
            open_spans.pop()
        last_offset_at_depth = {d: o for d, o in last_offset_at_depth.items() if d <= row.depth}
        assert row.offset_s >= last_offset_at_depth.get(row.depth, 0.0), row
        assert not open_spans or row.offset_s >= open_spans[-1].offset_s, row
        last_offset_at_depth[row.depth] = row.offset_s
        if "█" in row.timeline or "#" in row.timeline:
            open_spans.append(row)


def test_waterfall_attributes_option_shows_every_attribute(store: Path) -> None:
    trace_id = trace_of(store, "trade-win-1")
    short = traces(store, trace_id).stdout
    full = traces(store, trace_id, "--attributes").stdout
    assert "trading.portfolio.equity=" not in short
    assert "trading.portfolio.equity=" in full and "trading.order.reference_price=" in full


def test_waterfall_shows_errors_and_exceptions(store: Path) -> None:
    result = traces(store, trace_of(store, "trade-rejected-2"))
    assert "order  error: order rejected: insufficient_funds" in result.stdout
    assert "WARN bot order rejected, giving up" in result.stdout
    crashed = traces(store, trace_of(store, "trade-crash-3")).stdout
    assert "trade  error: RuntimeError: strategy bug" in crashed
    assert "◆ exception" in crashed and "ERROR bot exchange call failed" in crashed


def test_partial_and_orphan_traces_are_flagged(store: Path) -> None:
    open_trade = traces(store, trace_of(store, "trade-open-4")).stdout
    assert "partial: the root span is not in the store" in open_trade
    assert re.search(r"order  ok  \[orphan: parent [0-9a-f]{8} not in the store\]", open_trade)
    webhook = traces(store, "0af7651916cd43dd").stdout
    assert "handle_webhook  ok  [orphan: parent b7ad6b71 not in the store]" in webhook
    assert "INFO bot webhook received" in webhook


def test_trace_json_is_one_document_with_the_span_tree(store: Path) -> None:
    trace_id = trace_of(store, "trade-win-1")
    result = traces(store, trace_id, "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["trace_id"] == trace_id and document["span_count"] == 4 and document["logs"] == []
    [root] = document["spans"]
    assert root["name"] == "trade" and root["orphan"] is None and root["parent_span_id"] is None
    assert [e["name"] for e in root["events"]] == ["signal", "risk_check", "position.opened", "position.closed"]
    assert [log["body"] for log in root["logs"]] == ["position closed", "trade closed"]
    children = {child["name"] for child in root["children"]}
    assert children == {"decide", "order"}
    decide = next(child for child in root["children"] if child["name"] == "decide")
    assert [log["body"] for log in decide["logs"]] == ["features ready"]
    entry = next(child for child in root["children"] if child["attributes"].get("trading.order.type") == "limit")
    assert [e["name"] for e in entry["events"]] == ["order.accepted", "order.fill", "order.filled"]
    assert entry["offset_s"] > 0 and entry["duration_s"] > 0 and entry["status"] == "unset"


def test_trace_id_resolution(store: Path, tmp_path: Path) -> None:
    trace_id = trace_of(store, "trade-win-1")
    assert traces(store, trace_id.upper()).returncode == 0
    missing = traces(store, "ffffffffffff")
    assert missing.returncode == 1 and f"no trace ffffffffffff in {store}" in missing.stderr
    for bad in ("1234567", "not-hex-at-all", "0" * 33):
        result = traces(store, bad)
        assert result.returncode == 2 and "expected 8 to 32 hex digits" in result.stderr, bad
    # Two traces sharing their first 12 hex digits: a 12-digit prefix is ambiguous.
    twins = tmp_path / "twins"
    twins.mkdir()
    line = (store / "traces.jsonl").read_text().splitlines()[0]
    ids = sorted(set(re.findall(r'"traceId":\s*"([0-9a-f]{32})"', line)))
    lines = [line.replace(ids[0], "abcdef012345" + suffix * 20) for suffix in ("1", "2")]
    (twins / "traces.jsonl").write_text("\n".join(lines) + "\n")
    ambiguous = traces(twins, "abcdef012345")
    assert ambiguous.returncode == 2
    assert "is ambiguous: 2 traces start with it" in ambiguous.stderr
    assert "abcdef0123451111" in ambiguous.stderr and "abcdef0123452222" in ambiguous.stderr
    assert traces(twins, "abcdef0123452").returncode == 0


# -- usage and damaged stores --------------------------------------------------------------


def test_help_and_bad_arguments(tmp_path: Path) -> None:
    result = run_cli("traces", "--help")
    assert result.returncode == 0
    for option in ("--limit", "--since", "--from", "--to", "--errors", "--name", "--symbol", "--trade-id",
                   "--attributes", "--json", "--store"):
        assert option in result.stdout
    for args, named in ((["--limit", "-3"], "--limit"), (["--limit", "x"], "--limit"),
                        (["--since", "yesterday"], "--since"), (["--from", "soon"], "--from"),
                        (["--bogus"], "--bogus")):
        bad = run_cli("traces", *args, "--store", str(tmp_path / "none"))  # arguments checked first
        assert bad.returncode == 2 and named in bad.stderr, (args, bad.stderr)
        assert "Traceback" not in bad.stderr


def test_missing_and_empty_store(tmp_path: Path) -> None:
    missing = run_cli("traces", "--store", str(tmp_path / "nowhere"))
    assert missing.returncode == 1
    assert f"no telemetry found at {tmp_path / 'nowhere'}" in missing.stderr
    assert "otel-trading demo" in missing.stderr and "configure()" in missing.stderr
    (tmp_path / "empty").mkdir()
    empty = run_cli("traces", "--store", str(tmp_path / "empty"))
    assert empty.returncode == 1 and "no traces in" in empty.stderr
    (tmp_path / "file").write_text("x")
    not_a_directory = run_cli("traces", "--store", str(tmp_path / "file"))
    assert not_a_directory.returncode == 2 and "not a directory" in not_a_directory.stderr


def test_damaged_store_is_read_as_far_as_it_can_be(store: Path, tmp_path: Path) -> None:
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    good = (store / "traces.jsonl").read_text()
    rotated = damaged / "traces-20260101T000000000000.jsonl"
    rotated.write_text("this is not json\n" + good)
    (damaged / "traces-20260101T000000000001.jsonl").write_bytes(b"\x00\xff\xfe binary \x00\n"
                                                                 + b"[" * 100_000 + b"]" * 100_000 + b"\n")
    (damaged / "traces.jsonl").write_text(good + '{"resourceSpans":[{"scopeSp')  # a write in progress
    (damaged / "logs.jsonl").mkdir()  # a directory where a file should be
    result = traces(damaged, "--json", "--limit", "0")
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 5  # every good span read (twice: counted once)
    assert f"skipped {rotated}:1: not an OTLP/JSON record: not JSON" in result.stderr
    assert "traces-20260101T000000000001.jsonl:1:" in result.stderr
    assert ("traces-20260101T000000000001.jsonl:2: not an OTLP/JSON record: nested too deeply"
            in result.stderr)
    assert "Traceback" not in result.stderr and "traces.jsonl:" not in result.stderr.replace(
        "-20260101T000000000000.jsonl", "").replace("-20260101T000000000001.jsonl", "")
    one = traces(damaged, trace_of(store, "trade-win-1"))
    assert one.returncode == 0 and "logs.jsonl: cannot read" in one.stderr and "Traceback" not in one.stderr


# -- on the demo's store -------------------------------------------------------------------


def test_demo_store_list(demo_store: Path) -> None:
    result = traces(demo_store)
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["START", "TRACE", "ROOT", "SYMBOL", "SIDE", "DURATION", "SPANS", "RESULT", "STATUS"]
    assert 0 < len(rows) <= 20
    assert [row[:23] for row in rows] == sorted((row[:23] for row in rows), reverse=True)
    everything = listed(demo_store, "--limit", "0")
    assert len(everything) > 20 and "most recent of" in result.stderr
    assert {s["root"] for s in everything} >= {"trade"}
    trades = [s for s in everything if s["root"] == "trade"]
    assert all(s["symbol"] and s["side"] in ("buy", "sell") and s["trade_id"] for s in trades)
    closed = [s for s in trades if s["outcome"] is not None]
    assert closed and all(s["outcome"] in ("win", "loss", "breakeven") and isinstance(s["pnl"], float)
                          and s["exit_reason"] for s in closed)
    failed = listed(demo_store, "--errors", "--limit", "0")
    assert failed and all(s["status"] == "error" and s["error"] for s in failed)
    assert len(failed) == sum(1 for s in everything if s["status"] == "error")
    assert {s["root"] for s in listed(demo_store, "--name", "trade", "--limit", "0")} == {"trade"}
    symbol = str(trades[0]["symbol"])
    assert {s["symbol"] for s in listed(demo_store, "--symbol", symbol, "--limit", "0")} == {symbol}
    [one] = listed(demo_store, "--trade-id", str(trades[0]["trade_id"]))
    assert one["trace_id"] == trades[0]["trace_id"]


def test_demo_store_waterfall_and_its_json_agree(demo_store: Path) -> None:
    closed = next(s for s in listed(demo_store, "--name", "trade", "--limit", "0") if s["outcome"] is not None)
    trace_id = str(closed["trace_id"])
    result = traces(demo_store, trace_id[:10])
    assert result.returncode == 0, result.stderr
    rows = waterfall_rows(result.stdout)
    assert_tree_order(rows)
    spans = [row for row in rows if "█" in row.timeline]
    assert spans[0].depth == 0 and spans[0].text.startswith("trade  ok") and spans[0].offset_s == 0
    assert len(spans) == closed["span_count"]
    assert all(row.depth >= 1 for row in rows[1:])
    assert any(row.text.startswith("◆ order.fill") for row in rows)
    assert any(row.text.startswith("◆ position.closed") for row in rows)
    logs = [row for row in rows if row.text.startswith("▸ ")]
    assert logs and all(re.match(r"▸ (DEBUG|INFO|WARN|ERROR|FATAL) \S+ ", row.text) for row in logs)

    document = json.loads(traces(demo_store, trace_id, "--json").stdout)
    assert document["trace_id"] == trace_id and document["outcome"] == closed["outcome"]

    def walk(node: dict[str, Any]) -> list[dict[str, Any]]:
        return [node, *(n for child in node["children"] for n in walk(child))]

    nodes = [n for root in document["spans"] for n in walk(root)]
    assert len(nodes) == closed["span_count"] and document["spans"][0]["name"] == "trade"
    assert all(log["span_id"] == node["span_id"] and log["trace_id"] == trace_id
               for node in nodes for log in node["logs"])
    assert sum(len(node["logs"]) for node in nodes) + len(document["logs"]) == len(logs)
    assert sum(len(node["events"]) for node in nodes) == sum(1 for row in rows if row.text.startswith("◆ "))
