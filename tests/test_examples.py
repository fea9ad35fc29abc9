"""The examples run as a user runs them, and their telemetry has the documented shape."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_example(name: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["OTEL_EXPORTER_PROMETHEUS_PORT"] = "0"
    result = subprocess.run([sys.executable, str(EXAMPLES / name), *args], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def spans_by_trace(store: Path) -> dict[str, list[dict[str, Any]]]:
    traces: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in (store / "traces.jsonl").read_text().splitlines():
        for resource_spans in json.loads(line)["resourceSpans"]:
            for scope_spans in resource_spans["scopeSpans"]:
                for span in scope_spans["spans"]:
                    traces[span["traceId"]].append(span)
    return traces


def attributes(span: dict[str, Any]) -> dict[str, Any]:
    return {a["key"]: next(iter(a["value"].values())) for a in span.get("attributes", [])}


def test_quickstart_makes_one_trade_trace(tmp_path: Path) -> None:
    run_example("quickstart.py", tmp_path)
    (spans,) = spans_by_trace(tmp_path / ".otel-trading").values()
    names = sorted(span["name"] for span in spans)
    assert names == ["order", "order", "trade"]  # the entry and the exit
    assert {attributes(s)["trading.order.status"] for s in spans if s["name"] == "order"} == {"filled"}
    (trade,) = [s for s in spans if s["name"] == "trade"]
    assert attributes(trade)["trading.trade.outcome"] == "win"


def readme_quickstart() -> str:
    readme = (EXAMPLES.parent / "README.md").read_text()
    section = readme[readme.index("## Quickstart"):]
    return section[section.index("```python\n") + len("```python\n"):section.index("```\n", 10)]


@pytest.mark.parametrize("source", ["examples/quickstart.py", "README.md"])
def test_the_quickstart_is_a_round_trip_the_report_shows(source: str, tmp_path: Path) -> None:
    """A new user's first run: the quickstart, then `otel-trading report` in the same directory."""
    from cli_runner import run_cli

    if source == "README.md":
        (tmp_path / "quickstart.py").write_text(readme_quickstart())
        run_example(str(tmp_path / "quickstart.py"), tmp_path)
    else:
        run_example("quickstart.py", tmp_path)
    report = run_cli("report", cwd=tmp_path)
    assert report.returncode == 0, report.stdout + report.stderr
    assert "closed trades        1 (1 win, 0 losses, 0 breakeven)" in report.stdout
    assert "not closed           0" in report.stdout


def test_paper_bot_trades_are_traces_with_orders_and_no_secrets(tmp_path: Path) -> None:
    result = run_example("paper_bot.py", tmp_path, "--trades", "6", "--seed", "1")
    assert "6 trades: equity" in result.stdout
    assert "trading_orders_total{" in result.stdout
    traces = spans_by_trace(tmp_path / ".otel-trading")
    trade_traces = [spans for spans in traces.values() if any(s["name"] == "trade" for s in spans)]
    assert len(trade_traces) == 6
    for spans in trade_traces:
        (root,) = [s for s in spans if s["name"] == "trade"]
        trade_id = attributes(root)["trading.trade_id"]
        assert all(attributes(s).get("correlation_id") == trade_id for s in spans)
    logs = (tmp_path / ".otel-trading" / "logs.jsonl").read_text()
    assert "trade closed" in logs


def test_event_driven_bot_closes_every_trade_from_the_stream_thread(tmp_path: Path) -> None:
    result = run_example("event_driven_bot.py", tmp_path, "--orders", "8")
    assert "8 trades, 0 still open" in result.stdout
    traces = spans_by_trace(tmp_path / ".otel-trading")
    assert len(traces) == 8
    statuses = sorted(attributes(s)["trading.order.status"] for spans in traces.values() for s in spans
                      if s["name"] == "order")
    assert set(statuses) <= {"filled", "rejected"} and "filled" in statuses


@pytest.mark.parametrize("name", ["paper_bot.py", "event_driven_bot.py"])
def test_examples_have_help(name: str, tmp_path: Path) -> None:
    result = run_example(name, tmp_path, "--help")
    assert "--seed" in result.stdout


def test_ccxt_async_bot_traces_real_ccxt_calls_inside_each_trade(tmp_path: Path) -> None:
    from fake_exchange import FakeBinance

    with FakeBinance() as venue:
        result = run_example("ccxt_async_bot.py", tmp_path, "--api-url", venue.url, "--iterations", "3",
                             "--log-console", "off", "--options", '{"fetchMarkets": {"types": ["spot"]}}')
    assert "3 trades on binance" in result.stdout
    traces = spans_by_trace(tmp_path / ".otel-trading")
    trade_traces = [spans for spans in traces.values() if any(s["name"] == "trade" for s in spans)]
    assert len(trade_traces) == 3
    for spans in trade_traces:
        names = {s["name"] for s in spans}
        assert {"trade", "order", "ccxt.fetch_ticker"} <= names
        (ticker,) = [s for s in spans if s["name"] == "ccxt.fetch_ticker"]
        assert attributes(ticker)["trading.exchange"] == "binance"


def test_ccxt_async_bot_live_orders_are_recorded_from_ccxt_answers_once(tmp_path: Path) -> None:
    from fake_exchange import FakeBinance, binance_config

    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")} | {
        "OTEL_EXPORTER_PROMETHEUS_PORT": "0", "EXCHANGE_API_KEY": "key", "EXCHANGE_SECRET": "secret"}
    with FakeBinance(keep_orders=True) as venue:
        result = subprocess.run(
            [sys.executable, str(EXAMPLES / "ccxt_async_bot.py"), "--api-url", venue.url, "--iterations", "2",
             "--live", "--log-console", "off", "--options", json.dumps(binance_config()["options"])],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    traces = spans_by_trace(tmp_path / ".otel-trading")
    trade_traces = [spans for spans in traces.values() if any(s["name"] == "trade" for s in spans)]
    assert len(trade_traces) == 2
    for spans in trade_traces:
        (order,) = [s for s in spans if s["name"] == "order"]  # once: no hand-written twin
        assert attributes(order)["trading.order.status"] == "filled"
        assert {"order.accepted", "order.fill", "order.filled"} <= {e["name"] for e in order.get("events", [])}


def test_ccxt_async_bot_says_in_one_line_that_the_exchange_is_unreachable(tmp_path: Path) -> None:
    from otlp_receiver import closed_port

    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")} | {"OTEL_EXPORTER_PROMETHEUS_PORT": "0"}
    result = subprocess.run([sys.executable, str(EXAMPLES / "ccxt_async_bot.py"), "--api-url",
                             f"http://127.0.0.1:{closed_port()}", "--log-console", "off"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"ccxt_async_bot: binance is unreachable at {result.args[3].removeprefix('http://')} (ExchangeNotAvailable); "
        "check the network, or point --api-url at a reachable host"], result.stderr
