"""The calling thread's side of a traced call: what a dropped call keeps (metrics, a correlation id
taken only when read, the same for every reader) and the sampled call's fast path."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes
from processes import run_in_forked_child

from otel_trading import bound, correlation_id, get_logger, span, traced, with_context
from otel_trading.context import _correlation
from otel_trading.testing import TelemetryCapture, capture


class _Refused(Exception):
    pass


@contextmanager
def attached(ctx: Context) -> Iterator[None]:
    token = otel_context.attach(ctx)
    try:
        yield
    finally:
        otel_context.detach(token)


def _log_ids(otel: TelemetryCapture) -> dict[str, Any]:
    return {str(record.log_record.body): (record.log_record.attributes or {}).get("correlation_id")
            for record in otel.logs}


def test_a_dropped_calls_id_is_the_same_in_its_logs_children_threads_and_outbound_baggage() -> None:
    with capture(sampler="always_off") as otel:
        seen: dict[str, Any] = {}
        log = get_logger("strategy")

        @traced
        def child() -> None:
            seen["child"] = correlation_id()  # the first reader: the id is taken here

        def from_a_thread() -> None:
            seen["thread"] = correlation_id()

        @traced
        def loop_iteration() -> None:
            child()
            log.info("signal")
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
            seen["baggage"] = carrier.get("baggage", "")
            thread = threading.Thread(target=with_context(from_a_thread))
            thread.start()
            thread.join()
            seen["self"] = correlation_id()

        loop_iteration()
        assert correlation_id() is None  # reset after the call
        cid = seen["child"]
        assert cid and seen["self"] == seen["thread"] == cid
        assert f"correlation_id={cid}" in seen["baggage"]
        assert _log_ids(otel) == {"signal": cid}
        assert otel.spans == []
        loop_iteration()
        assert seen["child"] != cid  # the next outermost call has its own


def test_a_dropped_call_that_reads_no_id_makes_none() -> None:
    with capture(sampler="always_off", deterministic=True) as otel:

        @traced
        def quiet() -> None:
            pass

        @traced
        def chatty() -> str | None:
            return correlation_id()

        for _ in range(3):
            quiet()
        first_of_the_seeded_source = f"{random.Random(0).getrandbits(64):016x}"  # noqa: S311 - the capture's
        assert chatty() == first_of_the_seeded_source
        function = f"{quiet.__module__}.{quiet.__qualname__}"
        assert otel.value("otel_trading.function.calls", **{"code.function.name": function}) == 3


def test_concurrent_first_reads_of_a_dropped_calls_id_agree() -> None:
    with capture(sampler="always_off"):
        ids: list[str | None] = []
        start = threading.Barrier(8)

        def read() -> None:
            start.wait()
            ids.append(correlation_id())

        @traced
        def fan_out() -> None:
            threads = [threading.Thread(target=with_context(read)) for _ in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()

        fan_out()
        assert len(ids) == 8 and len(set(ids)) == 1 and ids[0]


def test_a_dropped_call_adopts_the_inbound_baggage_id() -> None:
    with capture(sampler="always_off") as otel:

        @traced
        def handle() -> None:
            get_logger("consumer").info("handled")

        with attached(propagate.extract({"baggage": "correlation_id=trade-777"})):
            handle()
        assert _log_ids(otel) == {"handled": "trade-777"}


def test_a_sampled_call_inside_a_dropped_one_carries_the_dropped_calls_id() -> None:
    # The default sampler follows the parent: a loop iteration under a remote, not sampled parent is
    # dropped; a message it handles in the context extracted from the message's sampled traceparent is not.
    with capture() as otel:
        remote = SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(TraceFlags.DEFAULT))
        log = get_logger("consumer")

        @traced(name="handle_message")
        def handle_message() -> None:
            log.info("handled")

        @traced(name="poll")
        def poll() -> None:
            carrier = {"traceparent": "00-0000000000000000000000000000abcd-00000000000000ef-01"}
            with attached(propagate.extract(carrier)):
                handle_message()
            log.info("polled")

        with attached(trace.set_span_in_context(NonRecordingSpan(remote))):
            poll()
        [handled] = otel.spans
        assert handled.name == "handle_message" and handled.attributes is not None
        cid = handled.attributes["correlation_id"]
        assert cid and _log_ids(otel) == {"handled": cid, "polled": cid}


def test_a_dropped_call_that_raises_reraises_the_same_exception_and_counts_the_error() -> None:
    with capture(sampler="always_off") as otel:
        refused = _Refused("insufficient margin")

        @traced
        def place_order() -> None:
            raise refused

        with pytest.raises(_Refused) as raised:
            place_order()
        assert raised.value is refused
        assert correlation_id() is None
        function = f"{place_order.__module__}.{place_order.__qualname__}"
        assert otel.value("otel_trading.function.errors", **{"code.function.name": function,
                                                             "error.type": f"{__name__}._Refused"}) == 1


class _FixedSampler(Sampler):
    """A user's sampler with the same ``decision`` for every span; one without a ``description``
    cannot describe itself (a user's sampler may fail anywhere)."""

    def __init__(self, decision: Decision, description: str | None) -> None:
        self.decision, self.description = decision, description

    def should_sample(  # noqa: PLR0917 - the SDK's signature; the decision is the same whatever the arguments
            self, parent_context: Context | None, trace_id: int, name: str,  # noqa: ARG002
            kind: SpanKind | None = None, attributes: Attributes = None,  # noqa: ARG002
            links: Sequence[Link] | None = None, trace_state: TraceState | None = None,  # noqa: ARG002
    ) -> SamplingResult:
        return SamplingResult(self.decision, attributes)

    def get_description(self) -> str:
        if self.description is None:
            raise RuntimeError("no description")
        return self.description


def test_a_sampler_that_cannot_describe_itself_still_decides() -> None:
    with capture() as otel:
        provider = otel.telemetry.tracer_provider
        assert provider is not None
        provider.sampler = _FixedSampler(Decision.RECORD_AND_SAMPLE, None)  # what a user may do after configure()

        @traced(name="place_order")
        def place_order() -> None:
            with span("inner"):
                pass

        place_order()
        assert sorted(s.name for s in otel.spans) == ["inner", "place_order"]


_LIVE: list[dict[str, Any]] = []  # what a span holds while its call runs (the SDK span's .attributes too)
_LIMIT = 64  # over a new correlation id and these functions' code.function.name: the span may take them as they are


def _keep_live() -> None:
    _LIVE.append(dict(trace.get_current_span().attributes))  # type: ignore[attr-defined]


@traced(name="place_order", capture=["symbol", "qty"])
def _place_order(symbol: str, qty: float) -> None:
    _keep_live()


@traced(name="spread", capture=["legs"])
def _spread(legs: list[Any]) -> None:
    _keep_live()


@traced(name="annotated", attributes={"note": "n" * 70})
def _annotated() -> None:
    _keep_live()


def test_a_sampled_calls_attributes_are_cut_and_cleaned_as_the_span_limits_say() -> None:
    _LIVE.clear()
    with capture(max_attribute_length=_LIMIT) as otel:
        _place_order("ETH/USDT", 1.0)  # every value within the limit
        _place_order("s" * 70, 2.0)
        with bound(correlation_id="c" * 70):
            _place_order("SOL/USDT", 3.0)
        _spread(["spot", "p" * 70])
        _annotated()
        exported: list[dict[str, Any]] = [dict(s.attributes or {}) for s in otel.spans]
        for first, second, third, fourth, fifth in (_LIVE, exported):
            assert len(first["code.function.name"]) <= _LIMIT
            assert (first["symbol"], first["qty"], len(first["correlation_id"])) == ("ETH/USDT", 1.0, 16)
            assert (second["symbol"], second["qty"]) == ("s" * _LIMIT, 2.0)
            assert third["correlation_id"] == "c" * _LIMIT
            assert fourth["legs"] == ("spot", "p" * _LIMIT)
            assert fifth["note"] == "n" * _LIMIT


def test_each_sampled_call_records_its_own_attributes() -> None:
    with capture() as otel:

        @traced(name="place_order", attributes={"venue": "binance"}, capture=["symbol", "api_key"])
        def place_order(symbol: str, api_key: str) -> None:
            pass

        place_order("ETH/USDT", "k-1")
        place_order("BTC/USDT", "k-2")
        recorded = [dict(s.attributes or {}) for s in otel.spans]
        assert [(a["symbol"], a["venue"], a["api_key"]) for a in recorded] == [
            ("ETH/USDT", "binance", "[REDACTED]"), ("BTC/USDT", "binance", "[REDACTED]")]
        assert recorded[0]["correlation_id"] != recorded[1]["correlation_id"]


def test_a_recorded_span_the_sampler_does_not_sample_is_not_exported() -> None:
    with capture() as otel:
        provider = otel.telemetry.tracer_provider
        assert provider is not None
        # Records every span, samples none: spans that are recording and never exported.
        provider.sampler = _FixedSampler(Decision.RECORD_ONLY, "RecordOnly")
        recording: list[bool] = []

        @traced(name="place_order")
        def place_order() -> None:
            recording.append(trace.get_current_span().is_recording())

        place_order()
        assert recording == [True] and otel.spans == []


def test_a_generator_runs_with_its_own_correlation_id_wherever_it_is_consumed() -> None:
    with capture() as otel:
        seen: list[str | None] = []

        @traced(name="prices")
        def prices() -> Iterator[int]:
            for price in (1, 2, 3):
                seen.append(correlation_id())
                yield price

        @traced(name="first")
        def first(stream: Iterator[int]) -> None:
            next(stream)  # the generator's span starts here, a child of this call

        @traced(name="rest")
        def rest(stream: Iterator[int]) -> None:
            seen.append(correlation_id())
            for _ in stream:
                pass

        stream = prices()
        first(stream)
        rest(stream)
        started, finished = otel.span("first"), otel.span("rest")
        assert started.attributes is not None and finished.attributes is not None
        own, other = started.attributes["correlation_id"], finished.attributes["correlation_id"]
        assert own != other and seen == [own, other, own, own]


def test_a_forked_child_reads_a_lazy_id_even_if_the_parent_was_reading_one_at_the_fork() -> None:
    with capture(sampler="always_off"):
        ids: list[str | None] = []

        @traced
        def loop_iteration() -> None:
            ids.append(correlation_id())

        def child() -> None:
            loop_iteration()
            assert ids[-1]

        with _correlation._RESOLVING.lock:  # as held by a thread of the parent taking its first read
            run_in_forked_child(child, timeout=10)
