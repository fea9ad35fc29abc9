"""OTLP export end to end, gRPC and HTTP/protobuf, to a real loopback receiver.

Traces, metrics and logs arrive; span trees keep their parent ids; logs carry the ids and
correlation id of the span they were emitted in; headers and the resource arrive.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from otlp_receiver import GrpcOtlpReceiver, HttpOtlpReceiver, attributes, otlp_options

import otel_trading
from otel_trading import get_logger, span, traced

Receiver = HttpOtlpReceiver | GrpcOtlpReceiver

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def receiver(otlp_receiver: Receiver) -> Iterator[Receiver]:
    """The live receiver; whatever the test configured is shut down before the receiver stops."""
    yield otlp_receiver
    otel_trading.shutdown(timeout=2)


def configure(receiver: Receiver, **overrides: Any) -> otel_trading.Telemetry:
    return otel_trading.configure(**otlp_options(receiver.endpoint, receiver.protocol, **overrides))


@traced(capture=["symbol", "amount"])
def place_order(symbol: str, amount: float) -> str:
    validate(symbol)
    validate(symbol)
    submit(symbol, amount)
    return "order-1"


@traced
def validate(symbol: str) -> None:
    get_logger("risk").info("validated", symbol=symbol)


@traced(capture=["symbol"])
def submit(symbol: str, amount: float) -> None:
    with span("http_post", endpoint="/api/v3/order"):
        get_logger("orders").info("order submitted", symbol=symbol, amount=amount)
        logging.getLogger("exchange.client").warning("rate limit at %d%%", 80)


def by_name(spans: list[Any]) -> dict[str, list[Any]]:
    result: dict[str, list[Any]] = {}
    for s in spans:
        result.setdefault(s.name, []).append(s)
    return result


def test_traces_metrics_and_logs_arrive(receiver: Receiver) -> None:
    telemetry = configure(receiver)
    log = get_logger("bot")
    for _ in range(3):
        place_order("BTC/USDT", 0.5)
    log.info("cycle done", orders=3)
    assert telemetry.force_flush(timeout=10)
    # Metrics are flushed alongside spans and logs; a second flush reports the first one's exports.
    assert telemetry.force_flush(timeout=10)

    names = by_name(receiver.spans())
    assert {n: len(s) for n, s in names.items()} == {
        "place_order": 3, "validate": 6, "submit": 3, "http_post": 3,
    }
    order = names["place_order"][0]
    assert attributes(order.attributes)["symbol"] == "BTC/USDT"
    assert attributes(order.attributes)["amount"] == 0.5

    bodies = [r.body.string_value for r in receiver.log_records()]
    assert sorted(bodies) == sorted(
        ["validated"] * 6 + ["order submitted"] * 3 + ["rate limit at 80%"] * 3 + ["cycle done"]
    )

    calls = {
        point_attrs["code.function.name"]: value
        for point_attrs, value in receiver.metric_points("otel_trading.function.calls")
    }
    assert calls == {
        f"{__name__}.place_order": 3, f"{__name__}.validate": 6, f"{__name__}.submit": 3,
    }
    assert "otel_trading.function.duration" in receiver.metric_names()
    exported = {
        (a["signal"], a["exporter"]): v for a, v in receiver.metric_points("otel_trading.telemetry.exported")
    }
    assert exported[("traces", "otlp")] == 15
    assert exported[("logs", "otlp")] == 13

    # Every request was a well-formed Export*ServiceRequest on its own signal's path/service.
    assert {r.signal for r in receiver.received} == {"traces", "metrics", "logs"}


def test_nested_traced_calls_form_one_tree(receiver: Receiver) -> None:
    telemetry = configure(receiver)
    place_order("ETH/USDT", 2.0)
    place_order("SOL/USDT", 1.0)
    assert telemetry.force_flush(timeout=10)

    spans = receiver.spans()
    assert len(spans) == 10
    assert len({s.span_id for s in spans}) == 10
    assert all(len(s.span_id) == 8 and len(s.trace_id) == 16 for s in spans)
    by_id = {s.span_id: s for s in spans}
    roots = [s for s in spans if not s.parent_span_id]
    assert [r.name for r in roots] == ["place_order", "place_order"]
    assert roots[0].trace_id != roots[1].trace_id  # two top-level calls, two traces

    for root in roots:
        tree = [s for s in spans if s.trace_id == root.trace_id]
        assert len(tree) == 5
        children = sorted(s.name for s in tree if s.parent_span_id == root.span_id)
        assert children == ["submit", "validate", "validate"]
        submit_span = next(s for s in tree if s.name == "submit")
        post = next(s for s in tree if s.name == "http_post")
        assert post.parent_span_id == submit_span.span_id
        for s in tree:
            # Every parent is in the same trace, and children lie within their parent's time.
            if s.parent_span_id:
                parent = by_id[s.parent_span_id]
                assert parent.trace_id == s.trace_id
                assert parent.start_time_unix_nano <= s.start_time_unix_nano
                assert s.end_time_unix_nano <= parent.end_time_unix_nano
        # One correlation id per operation tree, shared by every span in it.
        cids = {attributes(s.attributes)["correlation_id"] for s in tree}
        assert len(cids) == 1


async def test_nested_async_traced_calls_form_one_tree(receiver: Receiver) -> None:
    @traced(name="fetch")
    async def fetch(symbol: str) -> float:
        await asyncio.sleep(0.01)
        return 1.0

    @traced(name="refresh")
    async def refresh() -> float:
        prices = await asyncio.gather(fetch("BTC"), fetch("ETH"))
        return sum(prices)

    telemetry = configure(receiver)
    assert await refresh() == 2.0
    assert telemetry.force_flush(timeout=10)
    names = by_name(receiver.spans())
    (root,) = names["refresh"]
    assert len(names["fetch"]) == 2
    assert not root.parent_span_id
    for child in names["fetch"]:
        assert child.parent_span_id == root.span_id
        assert child.trace_id == root.trace_id


def test_logs_carry_the_trace_and_span_ids_and_correlation_id_of_their_span(receiver: Receiver) -> None:
    telemetry = configure(receiver)
    log = get_logger("bot")
    log.info("before any span")
    place_order("BTC/USDT", 0.5)
    with span("manual") as manual:
        log.warning("inside manual span", step=1)
        logging.getLogger("strategy").error("stdlib inside manual span")
    assert manual.get_span_context().is_valid
    assert telemetry.force_flush(timeout=10)

    spans = {s.span_id: s for s in receiver.spans()}
    records = receiver.log_records()
    assert len(records) == 7

    expected_span = {
        "validated": "validate",
        "order submitted": "http_post",
        "rate limit at 80%": "http_post",
        "inside manual span": "manual",
        "stdlib inside manual span": "manual",
    }
    for record in records:
        body = record.body.string_value
        record_attributes = attributes(record.attributes)
        if body == "before any span":
            assert not record.trace_id and not record.span_id
            assert "correlation_id" not in record_attributes
            continue
        assert len(record.trace_id) == 16 and len(record.span_id) == 8, body
        owner = spans.get(record.span_id)
        assert owner is not None, f"log {body!r} points at a span that was not exported"
        assert owner.name == expected_span[body]
        assert owner.trace_id == record.trace_id
        assert record.flags & 0x01  # sampled, like its span
        assert record_attributes["correlation_id"] == attributes(owner.attributes)["correlation_id"]

    manual_span = next(s for s in spans.values() if s.name == "manual")
    assert manual_span.span_id == manual.get_span_context().span_id.to_bytes(8, "big")
    severities = {r.body.string_value: (r.severity_number, r.severity_text) for r in records}
    assert severities["inside manual span"] == (13, "WARNING")
    assert severities["stdlib inside manual span"] == (17, "ERROR")


def test_headers_from_otlp_headers_arrive_on_every_signal(receiver: Receiver) -> None:
    # Header names as users write them (and as HTTP allows): mixed case.
    headers = {"Authorization": "Bearer test-token-0123456789", "X-Tenant-Id": "desk-7"}
    telemetry = configure(receiver, otlp_headers=headers)
    place_order("BTC/USDT", 0.5)
    assert telemetry.force_flush(timeout=10)

    assert receiver.wait_for(
        lambda: {r.signal for r in receiver.received} == {"traces", "metrics", "logs"}, timeout=5
    ), f"signals received: {sorted({r.signal for r in receiver.received})}"
    for received in receiver.received:
        assert received.headers.get("authorization") == "Bearer test-token-0123456789", received.signal
        assert received.headers.get("x-tenant-id") == "desk-7", received.signal


def test_resource_identifies_the_service_instance(receiver: Receiver) -> None:
    telemetry = configure(receiver, service_name="grid-bot", service_version="1.2.3",
                          environment="paper")
    place_order("BTC/USDT", 0.5)
    assert telemetry.force_flush(timeout=10)

    resources = receiver.resources()
    assert {r.signal for r in receiver.received} == {"traces", "metrics", "logs"}
    assert resources
    instance_ids = {r["service.instance.id"] for r in resources}
    assert len(instance_ids) == 1  # one instance, the same on all three signals
    uuid.UUID(instance_ids.pop())
    for resource in resources:
        assert resource["service.name"] == "grid-bot"
        assert resource["service.version"] == "1.2.3"
        assert resource["deployment.environment.name"] == "paper"
        assert resource["telemetry.sdk.language"] == "python"
        assert isinstance(resource["process.pid"], int)


def test_a_new_configuration_gets_a_new_instance_id(receiver: Receiver) -> None:
    first = configure(receiver, service_name="bot-a")
    with span("a"):
        pass
    assert first.force_flush(timeout=10)
    second = configure(receiver, service_name="bot-b")
    with span("b"):
        pass
    assert second.force_flush(timeout=10)
    trace_resources = {r["service.name"]: r["service.instance.id"] for r in receiver.resources("traces")}
    assert set(trace_resources) == {"bot-a", "bot-b"}
    assert trace_resources["bot-a"] != trace_resources["bot-b"]


def test_gzip_compression_is_decoded_by_the_receiver(receiver: Receiver) -> None:
    telemetry = configure(receiver, otlp_compression="gzip")
    place_order("BTC/USDT", 0.5)
    assert telemetry.force_flush(timeout=10)
    assert len(receiver.spans()) == 5
    if isinstance(receiver, HttpOtlpReceiver):
        # (gRPC compresses below the metadata the servicer sees; arriving intact is the check.)
        traces = receiver.requests("traces")
        assert all(r.headers.get("content-encoding") == "gzip" for r in traces)
        assert all(r.wire[:2] == b"\x1f\x8b" and r.wire != r.payload for r in traces)
