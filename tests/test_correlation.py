"""Correlation ids: created by the outermost operation, carried across tasks, threads and services."""

from __future__ import annotations

import asyncio
import json
import threading
from concurrent.futures import ThreadPoolExecutor

from opentelemetry import context as otel_context
from opentelemetry import propagate

import otel_trading
from otel_trading import ContextExecutor, bound, correlation_id, get_logger, span, traced, with_context
from otel_trading.testing import TelemetryCapture


def cids(otel: TelemetryCapture) -> dict[str, str]:
    return {s.name: s.attributes["correlation_id"] for s in otel.spans}


def test_outermost_operation_creates_one_id_for_the_whole_tree(otel_capture: TelemetryCapture) -> None:
    seen = []

    @traced
    def inner() -> None:
        seen.append(correlation_id())

    @traced
    def outer() -> None:
        seen.append(correlation_id())
        inner()

    outer()
    outer()
    assert correlation_id() is None
    assert seen[0] == seen[1] and seen[2] == seen[3] and seen[0] != seen[2]
    spans = otel_capture.spans
    assert {s.attributes["correlation_id"] for s in spans} == {seen[0], seen[2]}


async def test_follows_gather_and_create_task(otel_capture: TelemetryCapture) -> None:
    @traced
    async def leg(name: str) -> str | None:
        await asyncio.sleep(0)
        return correlation_id()

    @traced
    async def trade() -> list[str | None]:
        task = asyncio.create_task(leg("task"))
        return [*(await asyncio.gather(leg("a"), leg("b"))), await task, correlation_id()]

    values = await trade()
    assert len(set(values)) == 1 and values[0] is not None
    assert {s.attributes["correlation_id"] for s in otel_capture.spans} == {values[0]}


def test_follows_work_into_threads(otel_capture: TelemetryCapture) -> None:
    results: dict[str, str | None] = {}

    @traced
    def worker(key: str) -> None:
        results[key] = correlation_id()

    with span("parent"):
        expected = correlation_id()
        thread = threading.Thread(target=with_context(worker), args=("thread",))
        thread.start()
        thread.join()
        with ContextExecutor(max_workers=2) as pool:
            pool.submit(worker, "executor").result()
        with ThreadPoolExecutor(max_workers=1) as plain:
            plain.submit(worker, "plain").result()

    assert results["thread"] == results["executor"] == expected
    assert results["plain"] != expected  # a plain executor does not carry context: why the helper exists
    parent = next(s for s in otel_capture.spans if s.name == "parent")
    children = [s for s in otel_capture.spans if s.name.endswith("worker")]
    linked = [c for c in children if c.parent and c.parent.span_id == parent.context.span_id]
    assert len(linked) == 2


async def test_run_in_executor_helper(otel_capture: TelemetryCapture) -> None:
    loop = asyncio.get_running_loop()
    with span("parent"):
        expected = correlation_id()
        got = await loop.run_in_executor(None, otel_trading.run_in_context(correlation_id))
    assert got == expected


def test_inbound_baggage_is_adopted_and_outbound_carries_it(otel_capture: TelemetryCapture) -> None:
    inbound = propagate.extract({"baggage": "correlation_id=trade-777"})
    token = otel_context.attach(inbound)
    try:
        with span("handle_signal"):
            assert correlation_id() == "trade-777"
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
    finally:
        otel_context.detach(token)
    assert "correlation_id=trade-777" in carrier["baggage"]
    assert "traceparent" in carrier
    assert otel_capture.span("handle_signal").attributes["correlation_id"] == "trade-777"


def test_new_outermost_id_is_propagated_as_baggage(otel_capture: TelemetryCapture) -> None:
    carrier: dict[str, str] = {}
    with span("root"):
        propagate.inject(carrier)
        cid = correlation_id()
    assert f"correlation_id={cid}" in carrier["baggage"]


def test_bound_context_reaches_logs_and_can_set_the_id(capsys, otel_capture: TelemetryCapture) -> None:
    from otel_trading.logs._processors import CONSOLE

    lines: list[str] = []

    class Sink:
        def write(self, text: str) -> None:
            lines.append(text)

        def flush(self) -> None:
            pass

    CONSOLE.stream = Sink()  # type: ignore[assignment]
    CONSOLE.mode = "json"
    try:
        log = get_logger("strategy")
        with bound(strategy="momentum", correlation_id="ext-1"):
            log.info("signal")
            with span("order"):
                log.info("submitted")
        log.info("outside")
    finally:
        CONSOLE.stream = None
    events = [json.loads(line) for line in lines]
    assert events[0]["strategy"] == "momentum" and events[0]["correlation_id"] == "ext-1"
    assert events[1]["correlation_id"] == "ext-1" and "trace_id" in events[1]
    assert "strategy" not in events[2] and "correlation_id" not in events[2]
    assert otel_capture.span("order").attributes["correlation_id"] == "ext-1"
