"""@traced and span(): span trees, exception semantics, metadata preservation, RED metrics."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Iterator

import pytest
from opentelemetry.trace import SpanKind, StatusCode

import otel_trading
from otel_trading import span, traced
from otel_trading.testing import TelemetryCapture, capture


class OrderRejected(Exception):
    pass


@traced(capture={"symbol": "trading.symbol", "amount": "trading.amount"})
def place_order(symbol: str, amount: float, api_key: str = "") -> str:
    """Places an order."""
    with span("risk_check", limit=10):
        if amount > 10:
            raise OrderRejected(f"amount {amount} above limit")
    return f"{symbol}-1"


@traced
async def fetch_ticker(symbol: str) -> float:
    await asyncio.sleep(0)
    return 100.0


@traced(name="stream_prices")
def stream_prices(n: int) -> Iterator[int]:
    for i in range(n):
        with span("tick", index=i):
            pass
        yield i


@traced
async def stream_trades(n: int) -> AsyncIterator[int]:
    for i in range(n):
        await asyncio.sleep(0)
        yield i


def by_name(otel: TelemetryCapture) -> dict[str, list]:
    result: dict[str, list] = {}
    for s in otel.spans:
        result.setdefault(s.name, []).append(s)
    return result


def test_nested_sync_spans_form_a_tree(otel_capture: TelemetryCapture) -> None:
    assert place_order("BTC/USDT", 1.5) == "BTC/USDT-1"
    outer = otel_capture.span("place_order")
    inner = otel_capture.span("risk_check")
    assert inner.parent is not None and inner.parent.span_id == outer.context.span_id
    assert inner.context.trace_id == outer.context.trace_id
    assert outer.attributes["trading.symbol"] == "BTC/USDT"
    assert outer.attributes["trading.amount"] == 1.5
    assert outer.attributes["code.function.name"] == f"{__name__}.place_order"
    assert inner.attributes["limit"] == 10


def test_exception_is_recorded_and_the_same_object_reraised(otel_capture: TelemetryCapture) -> None:
    with pytest.raises(OrderRejected) as info:
        place_order("BTC/USDT", 50)
    raised = info.value
    outer = otel_capture.span("place_order")
    inner = otel_capture.span("risk_check")
    for s in (outer, inner):
        assert s.status.status_code is StatusCode.ERROR
        assert s.attributes["error.type"] == f"{__name__}.OrderRejected"
        assert "amount 50 above limit" in (s.status.description or "")
        assert [e.name for e in s.events] == ["exception"]
    assert isinstance(raised, OrderRejected) and str(raised) == "amount 50 above limit"


def test_exception_object_identity_is_preserved() -> None:
    sentinel = OrderRejected("same")

    @traced
    def fail() -> None:
        raise sentinel

    with capture(), pytest.raises(OrderRejected) as info:
        fail()
    assert info.value is sentinel


async def test_async_function_and_children(otel_capture: TelemetryCapture) -> None:
    @traced
    async def decide() -> list[float]:
        return list(await asyncio.gather(fetch_ticker("BTC"), fetch_ticker("ETH")))

    assert await decide() == [100.0, 100.0]
    spans = by_name(otel_capture)
    root = spans["test_async_function_and_children.<locals>.decide"][0]
    children = spans["fetch_ticker"]
    assert len(children) == 2
    assert {c.parent.span_id for c in children} == {root.context.span_id}


def test_generator_span_covers_the_whole_iteration(otel_capture: TelemetryCapture) -> None:
    assert list(stream_prices(3)) == [0, 1, 2]
    outer = otel_capture.span("stream_prices")
    ticks = by_name(otel_capture)["tick"]
    assert len(ticks) == 3
    assert all(t.parent.span_id == outer.context.span_id for t in ticks)
    assert outer.start_time <= min(t.start_time for t in ticks)
    assert outer.end_time >= max(t.end_time for t in ticks)


def test_generator_does_not_leak_its_span_to_the_consumer(otel_capture: TelemetryCapture) -> None:
    from opentelemetry import trace

    gen = stream_prices(2)
    next(gen)
    assert not trace.get_current_span().get_span_context().is_valid
    gen.close()
    outer = otel_capture.span("stream_prices")
    assert outer.end_time is not None
    assert outer.status.status_code is StatusCode.UNSET


def test_generator_exception_thrown_in_reaches_the_generator(otel_capture: TelemetryCapture) -> None:
    @traced
    def guarded() -> Iterator[str]:
        try:
            yield "first"
        except KeyError:
            yield "handled"

    gen = guarded()
    assert next(gen) == "first"
    assert gen.throw(KeyError("x")) == "handled"
    gen.close()
    assert otel_capture.span("test_generator_exception_thrown_in_reaches_the_generator.<locals>.guarded")


def test_generator_send_and_return_value(otel_capture: TelemetryCapture) -> None:
    @traced
    def accumulate() -> Iterator[int]:
        total = 0
        while True:
            value = yield total
            if value is None:
                return
            total += value

    gen = accumulate()
    assert next(gen) == 0
    assert gen.send(5) == 5
    assert gen.send(2) == 7
    with pytest.raises(StopIteration):
        gen.send(None)
    assert len(otel_capture.spans) == 1


async def test_async_generator_and_early_aclose(otel_capture: TelemetryCapture) -> None:
    assert [i async for i in stream_trades(3)] == [0, 1, 2]
    agen = stream_trades(10)
    assert await agen.__anext__() == 0
    await agen.aclose()
    spans = by_name(otel_capture)["stream_trades"]
    assert len(spans) == 2
    assert all(s.end_time is not None for s in spans)


async def test_async_generator_error_is_recorded(otel_capture: TelemetryCapture) -> None:
    @traced(name="failing_stream")
    async def failing() -> AsyncIterator[int]:
        yield 1
        raise OrderRejected("feed broke")

    with pytest.raises(OrderRejected):
        async for _ in failing():
            pass
    assert otel_capture.span("failing_stream").status.status_code is StatusCode.ERROR


def test_metadata_is_preserved() -> None:
    assert place_order.__doc__ == "Places an order."
    assert place_order.__wrapped__.__name__ == "place_order"  # type: ignore[attr-defined]
    assert list(inspect.signature(place_order).parameters) == ["symbol", "amount", "api_key"]
    assert inspect.iscoroutinefunction(fetch_ticker)
    assert inspect.isgeneratorfunction(stream_prices)
    assert inspect.isasyncgenfunction(stream_trades)


def test_methods_and_kind(otel_capture: TelemetryCapture) -> None:
    class Exchange:
        @traced(kind=SpanKind.CLIENT, capture=["symbol"], attributes={"exchange": "binance"})
        def fetch(self, symbol: str) -> str:
            return symbol

    assert Exchange().fetch("ETH/USDT") == "ETH/USDT"
    s = otel_capture.span("test_methods_and_kind.<locals>.Exchange.fetch")
    assert s.kind is SpanKind.CLIENT
    assert s.attributes["symbol"] == "ETH/USDT"
    assert s.attributes["exchange"] == "binance"


def test_capture_handles_keywords_defaults_and_secret_names(otel_capture: TelemetryCapture) -> None:
    @traced(capture=["symbol", "price", "api_secret"])
    def order(symbol: str, price: float = 99.5, api_secret: str = "s3cr3t") -> None:
        return None

    order(symbol="BTC")
    s = otel_capture.span("test_capture_handles_keywords_defaults_and_secret_names.<locals>.order")
    assert s.attributes["symbol"] == "BTC"
    assert s.attributes["price"] == 99.5
    assert s.attributes["api_secret"] == "[REDACTED]"


def test_unknown_capture_name_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"'sym' is not a named parameter.*\['symbol'\]"):
        @traced(capture=["sym"])
        def f(symbol: str) -> None:
            return None


def test_capture_result_and_unserialisable_values(otel_capture: TelemetryCapture) -> None:
    class Weird:
        def __str__(self) -> str:
            raise RuntimeError("no text")

    @traced(capture=["obj", "when"], capture_result=lambda r: {"order.id": r, "bad": Weird()})
    def submit(obj: object, when: object) -> str:
        return "o-42"

    import datetime as dt
    from decimal import Decimal

    assert submit(Weird(), dt.date(2026, 1, 2)) == "o-42"
    assert submit(Decimal("1.5"), [1, 2]) == "o-42"
    first, second = otel_capture.spans
    assert "obj" not in first.attributes  # dropped: cannot be represented
    assert first.attributes["when"] == "2026-01-02"
    assert first.attributes["order.id"] == "o-42"
    assert second.attributes["obj"] == 1.5
    assert second.attributes["when"] == (1, 2)


def test_failing_capture_result_never_breaks_the_call(otel_capture: TelemetryCapture) -> None:
    @traced(capture_result=lambda _r: 1 / 0)  # type: ignore[arg-type,return-value]
    def ok() -> int:
        return 7

    assert ok() == 7
    assert len(otel_capture.spans) == 1


def test_red_metrics(otel_capture: TelemetryCapture) -> None:
    place_order("BTC", 1)
    place_order("BTC", 2)
    with pytest.raises(OrderRejected):
        place_order("BTC", 20)
    name = f"{__name__}.place_order"
    assert otel_capture.value("otel_trading.function.calls", **{"code.function.name": name}) == 3
    assert otel_capture.value(
        "otel_trading.function.errors", **{"code.function.name": name, "error.type": f"{__name__}.OrderRejected"}
    ) == 1
    [point] = otel_capture.points("otel_trading.function.duration", **{"code.function.name": name})
    assert point.count == 3
    assert point.explicit_bounds[0] == 0.0001 and point.explicit_bounds[-1] == 30.0
    assert otel_capture.metrics()["otel_trading.function.duration"].unit == "s"


def test_disabled_runs_the_function_without_telemetry() -> None:
    with capture(enabled=False) as otel:
        assert place_order("BTC", 1) == "BTC-1"
        assert list(stream_prices(2)) == [0, 1]
        assert asyncio.run(fetch_ticker("X")) == 100.0
        with span("nothing") as s:
            assert not s.is_recording()
        assert otel.spans == []


def test_unconfigured_decorators_are_pass_through() -> None:
    otel_trading.shutdown()
    assert place_order("BTC", 1) == "BTC-1"


async def test_span_context_manager_async_and_error(otel_capture: TelemetryCapture) -> None:
    async with span("fetch_book", symbol="BTC/USDT") as s:
        s.set_attribute("depth", 20)
    with pytest.raises(KeyError), span("lookup"):
        raise KeyError("missing")
    book = otel_capture.span("fetch_book")
    assert book.attributes["symbol"] == "BTC/USDT" and book.attributes["depth"] == 20
    lookup = otel_capture.span("lookup")
    assert lookup.status.status_code is StatusCode.ERROR
    assert lookup.attributes["error.type"] == "KeyError"


def test_oversized_attribute_values_are_truncated() -> None:
    with capture(max_attribute_length=64) as otel:
        with span("big", note="x" * 1000):
            pass
        value = otel.span("big").attributes["note"]
    assert value == "x" * 64  # a plain cut, as the SDK's attribute limits cut
