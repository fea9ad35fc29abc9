"""docs/semantic-conventions.md is the contract: what the code emits is listed there, and
everything listed there is emitted, under the Prometheus name the document gives.

One scenario drives every emitting part of the SDK (traced functions, the heartbeat, the
trade lifecycle, portfolios, trading state, model metrics, market data, health checks,
the ccxt instrumentation, export loss) with the Prometheus endpoint on; the test then
compares the captured metric names, span names, span and event attribute keys, and the
scraped Prometheus names with the document's tables, both ways.
"""

from __future__ import annotations

import asyncio
import re
import time
import urllib.request
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

import ccxt
import ccxt.async_support as ccxt_async
import pytest
from fake_exchange import FakeBinance, binance_config
from opentelemetry.sdk.trace import ReadableSpan
from test_docs import prose_lines

import otel_trading
from otel_trading import health
from otel_trading.instrumentation._hooks import guarded
from otel_trading.instrumentation.ccxt import METHODS
from otel_trading.testing import TelemetryCapture, capture
from otel_trading.trading import _registry
from otel_trading.trading._metrics import GUARD

DOC = Path(__file__).resolve().parent.parent / "docs" / "semantic-conventions.md"
_NAME = re.compile(r"`([^`]+)`")
# Spans the scenario itself names (user code), as opposed to spans the SDK names.
USER_SPANS = frozenset({"tick", "fail", "strategy.step"})


@dataclass
class Conventions:
    metrics: dict[str, str] = field(default_factory=dict)  # name -> Prometheus name
    system_metrics: set[str] = field(default_factory=set)
    spans: set[str] = field(default_factory=set)
    attributes: set[str] = field(default_factory=set)
    events: set[str] = field(default_factory=set)

    def add_row(self, first_column: str, row: dict[str, str], subsection: str) -> None:
        names = _NAME.findall(row[first_column])
        if first_column == "Metric" and subsection == "System and process metrics":
            self.system_metrics.update(names)
        elif first_column == "Metric":
            self.metrics[names[0]] = row["Prometheus name"].strip("`")
        elif first_column == "Span":
            self.spans.update(names)
        elif first_column in ("Attribute", "Event attribute"):
            self.attributes.update(names)
        elif first_column == "Event":
            self.events.update(names)
            self.attributes.update(_NAME.findall(row.get("Attributes", "")))


def cells(line: str) -> list[str]:
    escaped = line.strip().strip("|").replace("\\|", "\0")  # "\|" is a pipe inside a cell
    return [cell.replace("\0", "|").strip() for cell in escaped.split("|")]


def parse(path: Path) -> Conventions:
    """The names in the tables of ``## Metrics`` and ``## Span attributes`` (and their subsections)."""
    found = Conventions()
    section = subsection = ""
    header: list[str] | None = None
    for line in prose_lines(path):
        if line.startswith("## "):
            section, subsection, header = line[3:].strip(), "", None
        elif line.startswith("### "):
            subsection, header = line[4:].strip(), None
        elif not line.startswith("|"):
            header = None
        elif header is None:
            header = cells(line)
        elif not set(line) <= set("|-: ") and section in ("Metrics", "Span attributes"):
            found.add_row(header[0], dict(zip(header, cells(line), strict=False)), subsection)
    return found


def prometheus_names(documented: str) -> list[str]:
    """``x_seconds_{bucket,sum,count}`` -> the three series names; others as they are."""
    match = re.fullmatch(r"(.*)_\{(.*)\}", documented)
    if match is None:
        return [documented]
    return [f"{match[1]}_{suffix}" for suffix in match[2].split(",")]


# --- the scenario ---------------------------------------------------------------------------


@otel_trading.traced
def tick() -> None:
    otel_trading.heartbeat()


@otel_trading.traced
def fail() -> None:
    raise ValueError("rejected")


def trading_scenario() -> otel_trading.Portfolio:
    now = [0.0]
    book = otel_trading.Portfolio("conventions", cash=1_000.0, returns_period=60.0, clock=lambda: now[0])
    # The position attributes a framework integration (freqtrade) sets, given here as a user would.
    framework = {"trading.position.side": "long", "trading.entry_tag": "breakout", "trading.leverage": 1.0}
    with otel_trading.trade("BTC/USDT", "buy", strategy="conv", exchange="paper", portfolio=book, **framework) as t:
        t.signal("long", confidence=0.7, model="m1")
        t.risk_check(approved=True)
        entry = t.submit_order(0.01, order_type="limit", price=100.0, reference_price=99.0, client_order_id="c1")
        entry.accepted("v1")
        entry.modified(price=100.5)
        entry.fill(0.004, 100.0, fee=0.01, fee_currency="USDT", liquidity="maker")
        entry.fee_charged(0.002, fee_currency="USDT")  # a fee the venue reported apart from its fill
        entry.fill(0.006, 100.5)
        t.position_opened(0.01, 100.3)
        t.submit_order(0.01, side="sell").rejected("insufficient_funds")
        t.submit_order(0.01, side="sell", order_type="limit", price=120.0).cancelled("user")
        t.submit_order(0.01, side="sell", order_type="limit", price=130.0).expired("gtt")
        for minute, price in enumerate((101.0, 99.0, 104.0, 101.0), start=1):  # four return periods
            now[0] = minute * 60.0
            book.mark("BTC/USDT", price)
        exit_order = t.submit_order(0.01, side="sell", reference_price=101.0)
        exit_order.fill(0.01, 101.5)
        t.position_closed(exit_reason="take_profit", exit_price=101.5)
        with otel_trading.span("strategy.step"):
            tick()
        t.submit_order(1.0)  # left open: ended when the trade closes
    with otel_trading.trade("ETH/USDT", "sell") as denied:
        denied.risk_check(approved=False, reason="max_position")
    book.apply_fill("ETH/USDT", "sell", 1.0, 10.0)  # an open position for the per-symbol gauges
    book.mark("ETH/USDT", 9.0)
    otel_trading.TradingMetrics("BTC/USDT", exchange="paper").websocket_reconnect("ticker")
    otel_trading.record_model_metrics("m1", accuracy=0.6, predictions={"long": 1})
    health.mark_market_data("BTC/USDT")
    previous = otel_trading.set_trading_state("halted", reason="drill")
    otel_trading.set_trading_state(previous)
    registry, guard = _registry.REGISTRY.get(), GUARD.get()  # the capture's own: gone with it
    registry.max_open = 1
    try:
        otel_trading.trade("SOL/USDT", "buy").start()
        otel_trading.trade("SOL/USDT", "buy").start()  # evicts the first
    finally:
        registry.max_open = _registry.MAX_OPEN_TRADES
        for leftover in otel_trading.open_trades():
            leftover.close()
    guard.max_values = 0
    otel_trading.TradingMetrics("NEW/COIN").signal("long")  # folded into "other"
    return book  # alive while the metrics are read: portfolios report while referenced


def ccxt_scenario(venue: FakeBinance) -> list[object]:
    """Every attribute the ccxt spans can carry, one failure, and live exchanges for the rate-limit gauges."""
    exchange = venue.point(ccxt.binance(binance_config(apiKey="k" * 16, secret="s" * 16)))
    exchange.load_markets()
    order = exchange.create_order("BTC/USDT", "limit", "buy", 0.001, 60_000)
    exchange.fetch_ohlcv("BTC/USDT", "1m")
    venue.fail("/api/v3/order", 400, {"code": -2013, "msg": "Order does not exist."})
    with pytest.raises(ccxt.OrderNotFound):
        exchange.fetch_order(order["id"], "BTC/USDT")
    async_exchange = venue.point(ccxt_async.binance(binance_config(enableRateLimit=True)))

    async def load() -> None:
        try:
            await async_exchange.load_markets()
        finally:
            await async_exchange.close()

    asyncio.run(load())
    return [exchange, async_exchange]


def health_scenario() -> None:
    health.add_check("conventions_ok", lambda: True, interval=0.05)
    health.add_check("conventions_bad", lambda: False, interval=0.05, critical=False)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        checks = health.report()["checks"]
        if all(checks[name]["status"] != "pending" for name in ("conventions_ok", "conventions_bad")):
            break
        time.sleep(0.02)


def alerts_scenario(directory: Path) -> None:
    from otel_trading.alerts import AlertConfig, Route, build_engine, rule
    from otel_trading.alerts.channels import FileChannel

    halted = rule("ConventionsHalted", gauge="trading.state", where={"trading.state": "halted"}, aggregate="max",
                  at_least=1)
    config = AlertConfig(rules=[halted], routes=[Route(("file",), group_wait_s=0)])
    engine, dispatcher = build_engine(config, channels={"file": FileChannel("file", path=directory / "alerts.jsonl")})
    otel_trading.set_trading_state("halted", reason="conventions")
    engine.evaluate()
    otel_trading.set_trading_state("active")
    broken, _ = build_engine(AlertConfig(rules=[halted]), collect=lambda: 1 / 0,  # type: ignore[arg-type, return-value]
                             dispatcher=dispatcher)
    broken.evaluate()  # a failed collection is counted
    assert dispatcher.close(5)
    broken.stop()  # the active-alerts gauge of `engine` is still reported


@dataclass
class Emitted:
    metrics: set[str]
    system_metrics: set[str]
    spans: list[ReadableSpan]
    prometheus_body: str


def collect(otel: TelemetryCapture) -> tuple[set[str], set[str]]:
    data = otel._reader.get_metrics_data()
    ours: set[str] = set()
    system: set[str] = set()
    assert data is not None
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            names = {metric.name for metric in scope_metrics.metrics}
            (system if "system_metrics" in scope_metrics.scope.name else ours).update(names)
    return ours, system


@guarded("conventions test hook")
def failing_hook() -> None:
    raise RuntimeError("a bug in a hook of ours")


@pytest.fixture(scope="module")
def emitted(tmp_path_factory: pytest.TempPathFactory) -> Emitted:
    with capture(metrics_exporter="prometheus", prometheus_port=0, instrument=["ccxt"]) as otel:
        tick()
        with pytest.raises(ValueError, match="rejected"):
            fail()
        book = trading_scenario()
        with FakeBinance() as venue:
            exchanges = ccxt_scenario(venue)
        health_scenario()
        alerts_scenario(tmp_path_factory.mktemp("alerts"))
        still_open = otel_trading.trade("ADA/USDT", "buy").start()  # for the open-trades gauge
        spans = otel.spans
        url = otel.telemetry.prometheus_url
        assert url is not None
        body = urllib.request.urlopen(url, timeout=10).read().decode()  # noqa: S310 - loopback
        metrics, system = collect(otel)
        health.clear_checks()
        still_open.close()
        del book, exchanges
    # Export loss is its own scenario: a one-item queue that cannot keep up; and a framework
    # hook of ours failing.
    with capture(max_queue_size=1, max_export_batch_size=1, schedule_delay=10) as lossy:
        for _ in range(20):
            tick()
        failing_hook()
        lossy_metrics, _ = collect(lossy)
    return Emitted(metrics | lossy_metrics, system, spans, body)


@pytest.fixture(scope="module")
def documented() -> Conventions:
    return parse(DOC)


def test_every_emitted_metric_is_documented_and_every_documented_one_is_emitted(
    emitted: Emitted, documented: Conventions
) -> None:
    assert sorted(emitted.metrics - set(documented.metrics)) == [], "emitted but not in the document"
    assert sorted(set(documented.metrics) - emitted.metrics) == [], "documented but never emitted"


# System metrics the oldest supported system-metrics instrumentation (0.60b0) does not emit yet.
_SYSTEM_METRICS_SINCE = {"process.disk.io": (0, 63)}


def test_system_metrics_match_their_table(emitted: Emitted, documented: Conventions) -> None:
    installed = tuple(int(part) for part in version("opentelemetry-instrumentation-system-metrics").split("b")[0]
                      .split(".")[:2])
    expected = {m for m in documented.system_metrics if installed >= _SYSTEM_METRICS_SINCE.get(m, (0, 0))}
    assert sorted(emitted.system_metrics - documented.system_metrics) == [], "emitted but not in the document"
    assert sorted(expected - emitted.system_metrics) == [], "documented but never emitted"


def test_documented_prometheus_names_are_the_scraped_ones(emitted: Emitted, documented: Conventions) -> None:
    scraped = {line.split("{")[0].split(" ")[0] for line in emitted.prometheus_body.splitlines()
               if line and not line.startswith("#")}
    missing = {
        name: prometheus
        for name, prometheus in documented.metrics.items()
        if name in emitted.metrics and not set(prometheus_names(prometheus)) <= scraped
        # emitted by the lossy run, not the scraped one
        and name not in ("otel_trading.telemetry.dropped", "otel_trading.instrumentation.failures")
    }
    assert missing == {}


def test_every_sdk_span_name_is_documented_and_the_other_way_round(
    emitted: Emitted, documented: Conventions
) -> None:
    sdk_spans = {span.name for span in emitted.spans} - USER_SPANS
    assert sorted(sdk_spans - documented.spans) == [], "emitted but not in the document"
    # Every instrumented ccxt method is listed; the scenario calls a few of them.
    assert documented.spans == {"trade", "order", "trading.state_change"} | {f"ccxt.{method}" for method in METHODS}


def test_every_span_and_event_attribute_is_documented_and_the_other_way_round(
    emitted: Emitted, documented: Conventions
) -> None:
    keys: set[str] = set()
    events: set[str] = set()
    for span in emitted.spans:
        keys.update(span.attributes or {})
        for event in span.events:
            keys.update(event.attributes or {})
            events.add(event.name)
    assert sorted(keys - documented.attributes) == [], "emitted but not in the document"
    assert sorted(documented.attributes - keys) == [], "documented but never emitted"
    assert sorted(events ^ documented.events) == []


def test_the_parser_reads_each_kind_of_table(tmp_path: Path) -> None:
    doc = tmp_path / "conventions.md"
    doc.write_text("\n".join([
        "## Metrics", "", "| Metric | Instrument | Unit | Attributes | Prometheus name | Meaning |",
        "|---|---|---|---|---|---|", "| `a.b` | Counter | `1` | none | `a_b_total` | x |", "",
        "### System and process metrics", "", "| Metric | Instrument |", "|---|---|", "| `system.x` | Gauge |", "",
        "## Span attributes", "", "| Span | Parent |", "|---|---|", "| `trade` | none |", "",
        "| Event | On | Attributes |", "|---|---|---|", "| `e1`, `e2` | `trade` | `k1`, `k2` |", "",
        "```", "| `not.a.table` | x |", "```",
    ]))
    parsed = parse(doc)
    assert parsed.metrics == {"a.b": "a_b_total"} and parsed.system_metrics == {"system.x"}
    assert parsed.spans == {"trade"} and parsed.events == {"e1", "e2"} and parsed.attributes == {"k1", "k2"}
    assert prometheus_names("h_seconds_{bucket,sum,count}") == ["h_seconds_bucket", "h_seconds_sum",
                                                                 "h_seconds_count"]


def test_the_metric_catalog_is_the_documented_table(emitted: Emitted, documented: Conventions) -> None:
    from otel_trading.metrics._catalog import CATALOG, Kind

    assert sorted(CATALOG) == sorted({*documented.metrics, *documented.system_metrics, *emitted.metrics,
                                      *emitted.system_metrics})
    for name, prometheus in documented.metrics.items():
        info = CATALOG[name]
        expected = prometheus_names(prometheus)[0].removesuffix("_bucket") if info.kind is Kind.HISTOGRAM \
            else prometheus
        assert info.prometheus_name == expected, name
