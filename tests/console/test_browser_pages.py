"""The console's pages in a real browser over a demo store (read-only mode).

The numbers on screen are compared with `otel-trading report --format json` on the same
store: the page and the report must agree, whatever code computes each.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from cli_runner import report_json
from console_helpers import HOSTILE_MESSAGE, HOSTILE_NAME, wait_until

from otel_trading.console import ConsoleServer, serve_store

PAGES = [
    ("/", "#overview .cards"),
    ("/trades", "#trades tbody tr"),
    ("/traces", "#traces tbody tr"),
    ("/logs", "#logs li"),
    ("/metrics", "#metric-chart"),
    ("/alerts", "#alerts-off"),
    ("/controls", "#controls-off"),
]


@pytest.fixture(scope="module")
def report(demo_store: Path) -> dict[str, Any]:
    return report_json(demo_store)


def value_of(page: Any, selector: str) -> float:
    raw = page.get_attribute(selector, "data-value")
    assert raw not in (None, ""), f"{selector} has no value"
    return float(raw)


def money(value: float) -> str:
    """As the page prints PnL: sign, thousands separators, two decimals."""
    return f"{'+' if value > 0 else ''}{value:,.2f}"


@pytest.mark.parametrize(("path", "ready"), PAGES, ids=[path for path, _ in PAGES])
def test_every_page_renders(page: Any, store_console: ConsoleServer, path: str, ready: str) -> None:
    page.goto(store_console.url + path)
    page.wait_for_selector(ready)
    assert page.locator("#nav a.active").count() == 1
    text = page.inner_text("#view")
    assert "Could not load" not in text
    assert not re.search(r"\b(undefined|null|NaN|\[object Object\])\b", text), text


def test_pages_load_nothing_from_elsewhere(page: Any, store_console: ConsoleServer) -> None:
    """No CDN, no font service: the bot's machine may be offline, and nothing leaves it."""
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(store_console.login_url)
    for path, ready in PAGES:
        if path == "/controls":  # not in the menu of a read-only console
            page.goto(store_console.url + path)
        else:
            page.click(f"#nav a[href='{path}']")
        page.wait_for_selector(ready)
    assert requested
    elsewhere = [url for url in requested if not url.startswith((store_console.url + "/", "data:"))]
    assert elsewhere == []


def test_login_url_token_leaves_the_address_bar(page: Any, store_console: ConsoleServer) -> None:
    page.goto(store_console.login_url)
    page.wait_for_selector("#overview .cards")
    assert "token" not in page.url
    assert store_console.token not in page.url
    assert page.evaluate("Object.values(sessionStorage)") == [store_console.token]
    page.go_back()  # the tokenized URL was replaced, not pushed: the tab's history never had it
    assert "token" not in page.url


def test_store_mode_has_no_controls(page: Any, store_console: ConsoleServer) -> None:
    page.goto(store_console.login_url)
    page.wait_for_selector("#overview .cards")
    assert not page.is_visible("#nav-controls")
    page.goto(store_console.url + "/controls")
    page.wait_for_selector("#controls-off")
    assert page.locator("button.control").count() == 0
    status = page.evaluate("""async () => (await fetch('/api/controls', {method: 'POST',
        headers: {'Content-Type': 'application/json',
                  'X-Console-Token': sessionStorage.getItem('otel-trading-console-token') || ''},
        body: JSON.stringify({state: 'halted', reason: 'test'})})).status""")
    assert status in (404, 405)


def test_overview_numbers_equal_the_report(page: Any, store_console: ConsoleServer, report: dict[str, Any]) -> None:
    page.goto(store_console.url + "/")
    page.wait_for_selector("#overview .cards")
    total_pnl = report["performance"]["total_pnl"]
    assert value_of(page, "#pnl-realized") == pytest.approx(total_pnl, abs=1e-6)
    assert page.inner_text("#pnl-realized") == money(total_pnl)
    assert value_of(page, "#equity-last") == pytest.approx(report["risk"]["end_equity"], abs=1e-6)
    assert value_of(page, "#drawdown-max") == pytest.approx(report["risk"]["max_drawdown"], abs=1e-6)
    rejects = sum(report["orders"]["rejects_by_reason"].values())
    assert value_of(page, "#reject-rate") == pytest.approx(rejects / report["orders"]["count"], rel=1e-6)
    exchange = report["exchange"]
    assert value_of(page, "#error-rate") == pytest.approx(exchange["errors"] / exchange["calls"], rel=1e-6)
    # The equity chart is drawn: one path over the report's equity curve.
    assert page.locator("#chart-equity svg path.line").count() == 1


def test_overview_order_latency_equals_the_report(page: Any, store_console: ConsoleServer,
                                                  report: dict[str, Any]) -> None:
    page.goto(store_console.url + "/")
    page.wait_for_selector("#overview .cards")
    latency = json.loads(page.get_attribute("#order-latency", "data-value") or "null")
    ack = report["orders"]["ack_latency_s"]
    assert latency == pytest.approx([ack["p50"] * 1000, ack["p99"] * 1000], rel=1e-6)


def test_trades_page_filters_the_denied_trades_apart_from_the_open_ones(page: Any,
                                                                        store_console: ConsoleServer) -> None:
    """A demo trade its risk check denied ends without a position: listed as denied, not open."""
    with urllib.request.urlopen(store_console.url + "/api/trades?status=denied") as response:  # noqa: S310
        denied = json.loads(response.read())["trades"]
    assert denied, "the demo's risk check denied no trade: the test sees nothing"
    page.goto(store_console.url + "/trades?status=denied")
    page.wait_for_selector("#trades tbody tr")
    assert set(page.locator("#trades tbody td .badge").all_inner_texts()) == {"denied"}
    assert page.locator("#trades tbody tr").count() == len(denied)
    assert page.locator("#trade-filters select[name=status] option").all_inner_texts() == [
        "any", "closed", "open", "denied", "abandoned"]


def test_trades_table_equals_the_report(page: Any, store_console: ConsoleServer, report: dict[str, Any]) -> None:
    page.goto(store_console.url + "/trades")
    page.wait_for_selector("#trades tbody tr")
    performance = report["performance"]
    assert value_of(page, "#trades-closed") == performance["trades"]
    assert value_of(page, "#trades-pnl") == pytest.approx(performance["total_pnl"], abs=1e-6)
    closed = page.locator("#trades tbody tr:has(.badge:text-is('closed'))")
    wins = sum(1 for text in closed.locator("td.num[data-value]").all_inner_texts() if text.startswith("+"))
    assert wins == performance["wins"]

    # Filter by symbol: the count of that symbol's closed trades, and the filter is in the URL.
    symbol, expected = next(iter(report["by_symbol"].items()))
    page.fill("#trade-filters input[name=symbol]", symbol)
    page.select_option("#trade-filters select[name=status]", "closed")
    page.click("#trade-filters button[type=submit]")
    wait_until(page, f"document.querySelector('#trades-closed').dataset.value == {expected['trades']}")
    assert {text for text in page.locator("#trades tbody td:nth-child(3)").all_inner_texts()} == {symbol}
    assert "symbol=" in page.url and "status=closed" in page.url
    page.reload()  # bookmarkable: the same view from the URL alone
    page.wait_for_selector("#trades tbody tr")
    assert value_of(page, "#trades-closed") == expected["trades"]
    assert page.input_value("#trade-filters input[name=symbol]") == symbol

    # Sort by PnL, descending then ascending.
    page.click("#trades th[data-sort=pnl]")
    values = [float(v) for v in page.locator("#trades tbody td.num[data-value]").evaluate_all(
        "cells => cells.map(c => c.dataset.value).filter(v => v !== '')")]
    assert values == sorted(values, reverse=True) and len(values) == expected["trades"]
    page.click("#trades th[data-sort=pnl]")
    values = [float(v) for v in page.locator("#trades tbody td.num[data-value]").evaluate_all(
        "cells => cells.map(c => c.dataset.value).filter(v => v !== '')")]
    assert values == sorted(values)
    # Every column sorts, and a sorted view reloads as it was.
    page.click("#trades th[data-sort=trade_id]")
    page.reload()
    page.wait_for_selector("#trades tbody tr")
    ids = page.locator("#trades tbody tr").evaluate_all("rows => rows.map(r => r.dataset.tradeId)")
    assert ids == sorted(ids, reverse=True) and len(ids) == expected["trades"]


def test_a_trade_opens_its_waterfall_with_its_orders(page: Any, store_console: ConsoleServer) -> None:
    page.goto(store_console.url + "/trades?status=closed")
    page.wait_for_selector("#trades tbody tr")
    row = page.locator("#trades tbody tr").first
    trace_id = row.get_attribute("data-trace-id")
    trade_id = row.get_attribute("data-trade-id")
    assert trace_id
    row.locator("td").nth(2).click()
    page.wait_for_url(re.compile(f"/traces/{trace_id}$"))
    page.wait_for_selector("#waterfall .wf-span")
    names = page.locator("#waterfall .wf-span").evaluate_all("rows => rows.map(r => r.dataset.name)")
    assert names[0] == "trade"
    assert "order" in names
    assert any(name.startswith("ccxt.create_order") for name in names)
    assert trade_id in page.inner_text("#trace-facts")
    # The trade's log lines are interleaved under their spans, and a span shows its attributes.
    assert page.locator("#waterfall .wf-log").count() > 0
    page.locator("#waterfall .wf-span[data-name=order]").first.click()
    detail = page.inner_text("#span-detail")
    assert "trading.order.amount" in detail
    assert "order.filled" in detail or "order.accepted" in detail
    # The bars sit on one time axis: the root spans the whole width.
    root_width = page.locator("#waterfall .wf-span").first.locator(".wf-bar").evaluate("b => b.style.width")
    assert root_width == "100%"
    # Back returns to the filtered trades, as a browser's back button does on any site.
    page.go_back()
    page.wait_for_selector("#trades tbody tr")
    assert page.url.endswith("/trades?status=closed")
    assert page.input_value("#trade-filters select[name=status]") == "closed"


def test_log_search_finds_the_rejects(page: Any, store_console: ConsoleServer, report: dict[str, Any]) -> None:
    rejects = sum(report["orders"]["rejects_by_reason"].values())
    assert rejects > 0
    page.goto(store_console.url + "/logs")
    page.wait_for_selector("#logs li")
    page.select_option("#log-filters select[name=level]", "warning")
    page.fill("#log-filters input[name=q]", "reject")
    page.click("#log-filters button[type=submit]")
    page.wait_for_url(re.compile(r"q=reject"))
    wait_until(page, "document.querySelectorAll('#logs li').length > 0 && "
                           "[...document.querySelectorAll('#logs li')].every(li => /reject/i.test(li.textContent))")
    rejected = page.locator("#logs li", has_text="order rejected")
    assert rejected.count() == rejects
    levels = set(page.locator("#logs li").evaluate_all("lines => lines.map(l => l.dataset.level)"))
    assert levels <= {"warn", "warning", "error", "critical", "fatal"}
    times = page.locator("#logs li .log-time").all_inner_texts()
    assert times == sorted(times, reverse=True)  # newest first
    # Each line links to its trace.
    rejected.first.locator("a.log-trace").click()
    page.wait_for_selector("#waterfall .wf-span")
    assert page.locator("#waterfall .wf-log", has_text="order rejected").count() >= 1


def test_older_log_lines_continue_where_the_page_ended(page: Any, store_console: ConsoleServer) -> None:
    page.goto(store_console.url + "/logs?limit=50")
    page.wait_for_selector("#logs li")
    first_page = page.locator("#logs li").count()
    assert first_page == 50
    page.click("button:text('Older lines')")
    wait_until(page, f"document.querySelectorAll('#logs li').length > {first_page}")
    lines = page.locator("#logs li").evaluate_all(
        "items => items.map(li => li.querySelector('.log-time').textContent + ' ' + li.textContent)")
    assert len(lines) == len(set(lines)), "a line shown twice across pages"
    times = [line[:23] for line in lines]
    assert times == sorted(times, reverse=True)
    # No line skipped at the page boundary either: the page is the newest lines of the store, in order.
    everything = json.loads(api_text(store_console, "/api/logs?limit=1000"))["logs"]
    assert len(everything) > 100
    messages = page.locator("#logs li .log-message").all_inner_texts()
    assert len(messages) >= 99  # 50, then 50 more of which the boundary line may be the one shown already
    assert messages == [log["message"] for log in everything[:len(messages)]]


def test_trace_search_by_status_and_attribute(page: Any, store_console: ConsoleServer) -> None:
    page.goto(store_console.url + "/traces?status=error")
    page.wait_for_selector("#traces tbody tr")
    errors = page.locator("#traces tbody td:nth-child(7)").all_inner_texts()
    assert errors and all(int(count) > 0 for count in errors)
    page.goto(store_console.url + "/traces?attr=trading.symbol%3DETH%2FUSDT&name=trade")
    page.wait_for_selector("#traces tbody tr")
    assert set(page.locator("#traces tbody td:nth-child(8)").all_inner_texts()) == {"ETH/USDT"}
    assert set(page.locator("#traces tbody td:nth-child(3)").all_inner_texts()) == {"trade"}


def test_metrics_page_charts_a_metric_by_attribute(page: Any, store_console: ConsoleServer,
                                                   report: dict[str, Any]) -> None:
    catalog = json.loads(api_text(store_console, "/api/metrics"))["metrics"]
    assert "trading.orders" in {metric["name"] for metric in catalog}
    page.goto(store_console.url + "/metrics")
    page.wait_for_selector("#metric-name")
    page.select_option("#metric-name", "trading.orders")
    page.check("#metric-by input[value='trading.order.status']")
    page.wait_for_selector("#metric-chart .legend")
    assert "name=trading.orders" in page.url and "by=trading.order.status" in page.url
    legend = page.locator("#metric-chart .legend > span").all_inner_texts()
    by_status = report["orders"]["by_status"]
    assert {f"trading.order.status={status}" for status in by_status} <= set(legend)
    # Hovering the chart's right end reads the last values out: the filled orders equal the report's count.
    area = page.locator("#metric-chart .hover-area")
    box = area.bounding_box()
    assert box is not None
    area.hover(position={"x": box["width"] - 1, "y": box["height"] / 2})
    readout = page.inner_text("#metric-chart .chart-readout")
    assert f"trading.order.status=filled: {by_status['filled']} order" in readout


def test_a_late_answer_does_not_overwrite_a_newer_view(page: Any, store_console: ConsoleServer) -> None:
    """The first metric's answer is held back until after the second one's: the page keeps the second."""
    page.add_init_script("""
        const send = window.fetch.bind(window);
        window.fetch = (url, ...rest) => String(url).includes("/api/metrics/trading.equity")
            ? new Promise((resolve) => setTimeout(() => resolve(send(url, ...rest)), 1500))
            : send(url, ...rest);
    """)
    page.goto(store_console.url + "/metrics?name=trading.equity")
    page.wait_for_selector("#metric-name")
    page.select_option("#metric-name", "trading.orders")
    page.wait_for_selector("#metric-chart figcaption:text('trading.orders')")
    page.wait_for_timeout(2500)  # the held-back answer arrives meanwhile
    assert page.inner_text("#metric-chart figcaption") == "trading.orders (value)"
    assert "name=trading.orders" in page.url


@pytest.fixture(scope="module")
def hostile_console(hostile_store: Path) -> Any:
    with serve_store(hostile_store, port=0) as server:
        yield server


def api_text(console: ConsoleServer, path: str) -> str:
    try:
        with urllib.request.urlopen(console.url + path, timeout=10) as response:  # noqa: S310 - loopback
            return str(response.read().decode("utf-8"))
    except urllib.error.HTTPError as error:
        return str(error.read().decode("utf-8"))


def test_html_in_names_and_lines_is_text_not_markup(page: Any, hostile_console: ConsoleServer) -> None:
    page.goto(hostile_console.url + "/traces")
    page.wait_for_selector("#traces tbody tr")
    assert HOSTILE_NAME in page.inner_text("#traces")
    page.locator("#traces tbody a").first.click()
    page.wait_for_selector("#waterfall .wf-span")
    assert HOSTILE_NAME in page.inner_text("#waterfall")
    assert HOSTILE_MESSAGE in page.inner_text("#waterfall")
    page.goto(hostile_console.url + "/logs")
    page.wait_for_selector("#logs li")
    assert HOSTILE_MESSAGE in page.inner_text("#logs")
    assert page.evaluate("window.__xss") is None
    assert page.locator("#view img, #view script").count() == 0


def test_no_secret_on_any_page_or_api(page: Any, hostile_console: ConsoleServer) -> None:
    from canary import canaries_in

    seen: dict[str, str] = {}
    page.goto(hostile_console.url + "/traces")
    page.wait_for_selector("#traces tbody tr")
    trace_id = page.locator("#traces tbody tr").first.get_attribute("data-trace-id")
    for path, ready in [*PAGES[:1], ("/traces", "#traces tbody tr"), (f"/traces/{trace_id}", "#span-detail"),
                        ("/logs", "#logs li"), ("/trades", "#trades-summary")]:
        page.goto(hostile_console.url + path)
        page.wait_for_selector(ready)
        for span in page.locator("#waterfall .wf-span").all():
            span.click()
            seen[f"{path} span"] = seen.get(f"{path} span", "") + page.content()
        seen[path] = page.content()
    for path in ["/api/info", "/api/overview", "/api/trades", "/api/traces", f"/api/traces/{trace_id}", "/api/logs",
                 "/api/metrics", "/api/health"]:
        seen[path] = api_text(hostile_console, path)
    leaks = {where: canaries_in(text) for where, text in seen.items() if canaries_in(text)}
    assert leaks == {}


def test_trades_page_pages_with_more_and_keeps_the_servers_summary(page: Any, store_console: ConsoleServer,
                                                                   report: dict[str, Any]) -> None:
    """A page at a time (two trades here, the URL's limit): "More" appends the next ones in the same
    order, the summary stays the server's over every trade, and the last page has no "More"."""
    with urllib.request.urlopen(store_console.url + "/api/trades?sort=trade_id&order=desc") as response:  # noqa: S310
        every = json.loads(response.read())
    assert every["total"] > 4, "the demo store has too few trades to page"
    page.goto(store_console.url + "/trades?limit=2&sort=trade_id&order=desc")
    page.wait_for_selector("#trades tbody tr")
    assert page.locator("#trades tbody tr").count() == 2
    assert value_of(page, "#trades-count") == every["total"]
    assert value_of(page, "#trades-closed") == report["performance"]["trades"]
    assert value_of(page, "#trades-pnl") == pytest.approx(report["performance"]["total_pnl"], abs=1e-6)
    page.click("#trades-more")
    wait_until(page, "document.querySelectorAll('#trades tbody tr').length == 4")
    while page.locator("#trades-more").count():
        shown = page.locator("#trades tbody tr").count()
        page.click("#trades-more")
        wait_until(page, f"document.querySelectorAll('#trades tbody tr').length > {shown}")
    ids = page.locator("#trades tbody tr").evaluate_all("rows => rows.map(r => r.dataset.tradeId)")
    assert ids == [row["trade_id"] for row in every["trades"]]
