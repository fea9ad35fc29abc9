"""A backed-up export queue is kept packed: flat tuples the garbage collector does not track,
packed by the export worker (the caller only right before a collection), unpacked into the same records before export,
and bounded by bytes as well as by items. Loss is counted, never silent."""

from __future__ import annotations

import gc
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import Link, SpanContext, Status, StatusCode, TraceFlags
from test_export_queue import dropped, exported

import otel_trading
from otel_trading.config._configure import configure_with
from otel_trading.export._batch import BatchExporter
from otel_trading.export._compact import LogCodec, SpanCodec
from otel_trading.export._otlp_json_encode import logs_to_json_line, spans_to_json_line
from otel_trading.export._pipeline import LogMaterializer, PendingLog
from otel_trading.metrics._local import LocalMetrics
from otel_trading.redaction import Redactor

_COLLECTING = threading.local()


def _mark_collections(phase: str, info: dict[str, int]) -> None:
    _COLLECTING.now = phase == "start"


@pytest.fixture(autouse=True)
def collections_marked() -> Iterator[None]:
    """Whether a thread is in a collection's callbacks (first in line, so the queue's hook runs inside)."""
    gc.callbacks.insert(0, _mark_collections)
    yield
    gc.callbacks.remove(_mark_collections)


class Boxes:
    """A test codec: an int packed as a 1-tuple of ``size`` bytes; the queue's own code does the rest."""

    def __init__(self, size: int = 100) -> None:
        self.size = size
        self.packed = 0
        self.packing_threads: set[int] = set()  # outside collections: the callers must never be among them

    def pack(self, item: int) -> tuple[Any, int]:
        self.packed += 1
        if not getattr(_COLLECTING, "now", False):
            self.packing_threads.add(threading.get_ident())
        return (item,), self.size

    def unpack(self, packed: tuple[Any, ...]) -> int:
        value: int = packed[0]
        return value


def gated(received: list[int], gate: threading.Event) -> Any:
    def export(batch: Sequence[int]) -> bool:
        gate.wait(10)
        received.extend(batch)
        return True

    return export


def make(export: Any, codec: Boxes, *, queue: int = 100_000, batch: int = 50,
         max_bytes: int | None = None) -> tuple[BatchExporter[int], LocalMetrics]:
    metrics = LocalMetrics()
    exporter = BatchExporter(signal="traces", exporter_name="test", export=export, metrics=metrics,
                             max_queue_size=queue, max_batch_size=batch, schedule_delay_s=0.01, codec=codec,
                             max_queue_bytes=max_bytes)
    return exporter, metrics


def wait_until(predicate: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_the_worker_packs_the_backlog_while_an_export_is_stuck_and_everything_arrives_in_order() -> None:
    gate, received, codec = threading.Event(), [], Boxes()
    exporter, metrics = make(gated(received, gate), codec)
    for i in range(60):  # the first batch goes out and hangs on the gate
        exporter.put(i)
    assert wait_until(lambda: exporter.queue_size < 60)
    start = time.perf_counter()
    for i in range(60, 5000):
        exporter.put(i)
    assert time.perf_counter() - start < 0.5  # the caller only appends
    assert wait_until(lambda: codec.packed >= 4000)  # all but the next batch, packed meanwhile
    assert threading.get_ident() not in codec.packing_threads
    assert exporter.queue_size == 5000 - 50
    gate.set()
    assert exporter.shutdown(10)
    assert received == list(range(5000))
    assert exported(metrics) == 5000 and dropped(metrics, "queue_full") == 0


class Order:
    """A queued item the garbage collector tracks, as a span is."""

    __slots__ = ("__weakref__", "number")

    def __init__(self, number: int) -> None:
        self.number = number


class Orders:
    """Packs an ``Order`` as a 1-tuple of its number (untracked at the next collection)."""

    def __init__(self) -> None:
        self.packed = 0

    def pack(self, item: Order) -> tuple[Any, int]:
        self.packed += 1
        return (item.number,), 16

    def unpack(self, packed: tuple[Any, ...]) -> Order:
        return Order(packed[0])


def test_a_collection_of_the_older_generations_finds_the_waiting_items_packed_and_exports_stay_in_order() -> None:
    # Items alive at a collection of the middle generation are promoted to the oldest, and enough of those
    # make the next collection a full one (tens of ms while the bot waits). During a backlog, what waits
    # behind the worker is packed just before such a collection: the collection finds none of it.
    gate, received, codec = threading.Event(), [], Orders()

    def export(batch: Sequence[Order]) -> bool:
        gate.wait(10)
        received.extend(order.number for order in batch)
        return True

    metrics = LocalMetrics()
    # Woken by a full batch only (no timer): the batch in flight is exactly the first 50.
    exporter = BatchExporter(signal="traces", exporter_name="test", export=export, metrics=metrics,
                             max_queue_size=10_000, max_batch_size=50, schedule_delay_s=5, codec=codec)
    orders = [Order(number) for number in range(1000)]
    refs = [weakref.ref(order) for order in orders]
    for order in orders[:60]:  # the first batch goes out and hangs on the gate
        exporter.put(order)
    assert wait_until(lambda: exporter.queue_size == 10)
    for order in orders[60:]:  # a backlog: the worker packs it, all but at most a batch
        exporter.put(order)
    del orders, order
    assert wait_until(lambda: codec.packed >= 900)
    assert wait_until(lambda: _unchanged_for(lambda: codec.packed, 0.05))
    waiting = 950 - codec.packed
    for number in range(1000, 1050 - waiting):  # a batch waits, unpacked: the worker leaves it there
        order = Order(number)
        refs.append(weakref.ref(order))
        exporter.put(order)
    del order
    time.sleep(0.05)
    assert sum(ref() is not None for ref in refs) == 50 + 50  # the batch in flight, the batch waiting
    gc.collect(1)
    assert codec.packed == len(refs) - 50
    # Packed, and the waiting objects freed before the collection: only the batch in flight is left.
    assert [ref() is not None for ref in refs] == [True] * 50 + [False] * (len(refs) - 50)
    gate.set()
    assert exporter.shutdown(10)
    assert received == list(range(len(refs)))
    assert exported(metrics) == len(refs)


def _unchanged_for(value: Callable[[], int], seconds: float) -> bool:
    before = value()
    time.sleep(seconds)
    return value() == before


def test_once_a_backlog_is_packed_the_worker_packs_every_whole_chunk_waiting_behind_it() -> None:
    # Left waiting (up to a batch of them), they were what each collection of the middle generation promoted.
    gate, received, codec = threading.Event(), [], Boxes()
    exporter = BatchExporter(signal="traces", exporter_name="test", export=gated(received, gate),
                             metrics=LocalMetrics(), max_queue_size=10_000, max_batch_size=1000,
                             schedule_delay_s=5, codec=codec)  # woken by a full batch only
    gc.disable()  # no collection: what is packed here is the worker's doing, not the collection hook's
    try:
        for i in range(1010):  # the first batch goes out and hangs on the gate
            exporter.put(i)
        assert wait_until(lambda: exporter.queue_size == 10)
        for i in range(1010, 3000):  # 2000 waiting: a backlog
            exporter.put(i)
        assert wait_until(lambda: codec.packed >= 2000 - 255)  # all but less than a chunk
        assert threading.get_ident() not in codec.packing_threads
    finally:
        gc.enable()
    gate.set()
    assert exporter.shutdown(10)
    assert received == list(range(3000))


class CountedOrders(Orders):
    """Orders whose unpacked objects are watched: how many are alive at once."""

    def __init__(self) -> None:
        super().__init__()
        self.alive: weakref.WeakSet[Order] = weakref.WeakSet()

    def unpack(self, packed: tuple[Any, ...]) -> Order:
        order = super().unpack(packed)
        self.alive.add(order)
        return order


def _backlog_behind_a_stuck_call(export: Callable[[Sequence[Order]], bool], codec: Orders, gate: threading.Event,
                                 total: int = 1000) -> tuple[BatchExporter[Order], LocalMetrics]:
    """An exporter whose first batch (50) hangs on ``gate`` while the rest waits, all of it packed."""
    metrics = LocalMetrics()
    exporter = BatchExporter(signal="traces", exporter_name="test", export=export, metrics=metrics,
                             max_queue_size=10_000, max_batch_size=50, schedule_delay_s=5, codec=codec)
    for number in range(60):
        exporter.put(Order(number))
    assert wait_until(lambda: exporter.queue_size == 10)
    for number in range(60, total):
        exporter.put(Order(number))
    assert wait_until(lambda: codec.packed == total - 50)
    return exporter, metrics


def test_a_batch_from_the_packed_backlog_is_unpacked_one_item_at_a_time_as_it_is_read() -> None:
    # A batch in flight through a 25-60 ms send outlives collections: unpacked all at once, its object
    # graphs were promoted, and enough of them made the next collection a full one (the bot waits).
    gate, received, codec = threading.Event(), [], CountedOrders()
    most_alive: list[int] = []

    def export(batch: Sequence[Order]) -> bool:
        gate.wait(10)
        most = 0
        for order in batch:
            received.append(order.number)
            most = max(most, len(codec.alive))
        most_alive.append(most)
        return True

    exporter, metrics = _backlog_behind_a_stuck_call(export, codec, gate)
    gate.set()
    assert exporter.shutdown(10)
    assert received == list(range(1000))
    assert exported(metrics) == 1000
    assert len(most_alive) == 20
    assert most_alive[1:] == [1] * 19  # the first batch was never packed


class Unpackable(Orders):
    """A codec that cannot unpack every seventh item."""

    def unpack(self, packed: tuple[Any, ...]) -> Order:
        if packed[0] % 7 == 0:
            raise ValueError("a codec bug")
        return super().unpack(packed)


@pytest.mark.parametrize("reads", [1, 2], ids=["read-once", "read-twice"])
def test_an_item_the_codec_cannot_unpack_is_skipped_and_counted_once(reads: int, caplog: pytest.LogCaptureFixture,
                                                                     ) -> None:
    gate, received, codec = threading.Event(), [], Unpackable()

    def export(batch: Sequence[Order]) -> bool:
        gate.wait(10)
        for _ in range(reads - 1):
            list(batch)
        received.extend(order.number for order in batch)
        return True

    exporter, metrics = _backlog_behind_a_stuck_call(export, codec, gate)
    gate.set()
    assert exporter.shutdown(10)
    unpackable = [n for n in range(50, 1000) if n % 7 == 0]  # the first batch was never packed
    assert received == [n for n in range(1000) if n not in unpackable]
    assert (exported(metrics), dropped(metrics, "export_failed")) == (1000 - len(unpackable), len(unpackable))
    assert "traces exporter test could not unpack a queued item" in caplog.text


def test_a_packed_batch_read_by_position_unpacks_what_is_read() -> None:
    gate, codec = threading.Event(), Orders()
    seen: list[Any] = []

    def export(batch: Sequence[Order]) -> bool:
        gate.wait(10)
        seen.append((len(batch), batch[0].number, batch[-1].number, [o.number for o in batch[1:3]]))
        return True

    exporter, _ = _backlog_behind_a_stuck_call(export, codec, gate, total=150)
    gate.set()
    assert exporter.shutdown(10)
    assert seen == [(50, 0, 49, [1, 2]), (50, 50, 99, [51, 52]), (50, 100, 149, [101, 102])]


def test_a_queue_that_keeps_up_packs_nothing_before_a_collection() -> None:
    gate, received, codec = threading.Event(), [], Orders()

    def export(batch: Sequence[Order]) -> bool:
        gate.wait(10)
        received.extend(order.number for order in batch)
        return True

    exporter = BatchExporter(signal="traces", exporter_name="test", export=export, metrics=LocalMetrics(),
                             max_queue_size=10_000, max_batch_size=50, schedule_delay_s=5, codec=codec)
    for number in range(90):  # a batch in flight and less than a batch behind it: no backlog
        exporter.put(Order(number))
    assert wait_until(lambda: exporter.queue_size == 40)
    gc.collect(1)
    assert codec.packed == 0
    gate.set()
    assert exporter.shutdown(10)
    assert received == list(range(90))


def test_a_collection_walks_the_packed_backlog_by_chunks_not_item_by_item() -> None:
    # gc.get_referents follows tp_traverse: what every collection visits through the queue's state.
    # Item by item, a backlog of hundreds of thousands costs a cache miss each in every full collection.
    gate, received, codec = threading.Event(), [], Boxes()
    exporter, _ = make(gated(received, gate), codec)
    for i in range(60):
        exporter.put(i)
    assert wait_until(lambda: exporter.queue_size < 60)
    for i in range(60, 20_000):
        exporter.put(i)
    assert wait_until(lambda: codec.packed >= 19_000)
    visited = sum(len(gc.get_referents(value)) for value in vars(exporter).values())
    assert visited < 1000
    gate.set()
    assert exporter.shutdown(10)
    assert received == list(range(20_000))


def test_the_packed_backlog_is_bounded_by_bytes_and_what_is_refused_is_counted() -> None:
    gate, received, codec = threading.Event(), [], Boxes(size=100)
    exporter, metrics = make(gated(received, gate), codec, max_bytes=100 * 1000)
    for i in range(60):
        exporter.put(i)
    assert wait_until(lambda: exporter.queue_size < 60)
    sent = 60
    # Put in steps, so the worker packs between them; far more than 1000 packed items' worth.
    for _ in range(40):
        for _ in range(200):
            exporter.put(sent)
            sent += 1
        time.sleep(0.02)
    assert dropped(metrics, "queue_full") > 0
    assert exporter.queue_size < 2000  # about 1000 packed + what the caller queued since
    gate.set()
    assert exporter.shutdown(10)
    assert len(received) + dropped(metrics, "queue_full") == sent
    assert received == sorted(received)


def test_without_a_codec_nothing_is_packed() -> None:
    gate, received = threading.Event(), []
    metrics = LocalMetrics()
    exporter: BatchExporter[int] = BatchExporter(signal="traces", exporter_name="test", export=gated(received, gate),
                                                 metrics=metrics, max_queue_size=10_000, max_batch_size=10,
                                                 schedule_delay_s=0.01)
    for i in range(500):
        exporter.put(i)
    gate.set()
    assert exporter.shutdown(10)
    assert received == list(range(500))


# --- the codecs on real records ------------------------------------------------------------------


class Keep(SpanExporter):
    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        """Nothing held."""


class KeepLean(Keep):
    accepts_lean_spans = True  # gets otel-trading's lean spans as they are queued


@pytest.fixture
def lean_spans(without_ambient_otel: None) -> Iterator[list[Any]]:
    keep = KeepLean()
    telemetry = configure_with({"service_name": "bot", "traces_exporter": "none", "metrics_exporter": "none",
                                "logs_exporter": "none", "log_console": "off", "install_signal_handlers": False},
                               extra_span_exporters=[keep])
    traced = otel_trading.traced(capture=["symbol", "amount"])(lambda symbol, amount: amount * 2 if symbol else 0.0)
    with otel_trading.span("trade", attributes={"tags": ("a", "b"), "ok": True}) as outer:
        traced("BTC/USDT", 0.5)
        outer.add_event("filled", {"price": 64_000.5, "qty": 1})
        outer.set_status(Status(StatusCode.ERROR, "rejected"))
    assert telemetry.force_flush(5)
    yield list(keep.spans)
    telemetry.shutdown()


def test_a_packed_span_is_untracked_and_unpacks_to_the_same_stored_line(lean_spans: list[Any]) -> None:
    assert len(lean_spans) == 2
    codec = SpanCodec()
    packed = [codec.pack(span)[0] for span in lean_spans]
    assert all(type(p) is tuple for p in packed)
    gc.collect()  # one: a flat tuple is untracked at the first collection that sees it
    assert not any(gc.is_tracked(p) for p in packed)
    unpacked = [codec.unpack(p) for p in packed]
    assert spans_to_json_line(unpacked) == spans_to_json_line(lean_spans)


def _counted_allocations(make: Callable[[], object]) -> int:
    """Objects the collector counts while ``make()`` runs (collection off, so none are freed)."""
    gc.collect()
    gc.disable()
    try:
        before = gc.get_count()[0]
        kept = make()  # held until counted: what was made is not freed before
        counted = gc.get_count()[0] - before
        del kept
        return counted
    finally:
        gc.enable()


def test_unpacking_a_plain_span_allocates_only_the_span_and_its_context(lean_spans: list[Any]) -> None:
    # Objects the collector counts: a batch being exported outlives young collections, so every
    # object per span is promoted and walked by the full collections that stall callers.
    codec = SpanCodec()
    plain = codec.pack(lean_spans[0])[0]  # the traced call in "trade": no events, status unset
    assert type(plain) is tuple
    unpacked: list[Any] = []
    allocated = _counted_allocations(lambda: unpacked.extend(codec.unpack(plain) for _ in range(1000)))
    # The least any unpacking does: the span, its context, its parent's context and its attribute
    # dict (untracked, yet counted) -- as this OTel release's ReadableSpan builds them (1.39 makes
    # one object more in its constructor than 1.45).
    flags = TraceFlags(1)
    least = _counted_allocations(lambda: [ReadableSpan(name="x", context=SpanContext(1, 1, False, flags),
                                                       parent=SpanContext(1, 2, False, flags), attributes={})
                                          for _ in range(1000)])
    assert allocated <= least + 50, (allocated, least)
    assert spans_to_json_line(unpacked[:1]) == spans_to_json_line(lean_spans[:1])


def test_sdk_spans_pack_too_and_what_does_not_fit_stays_as_it_was() -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": "lib"}), shutdown_on_exit=False)
    keep = Keep()
    provider.add_span_processor(SimpleSpanProcessor(keep))
    tracer = provider.get_tracer("lib", "1.0")
    other = SpanContext(0x1234, 0x5678, True, TraceFlags(1))
    with tracer.start_as_current_span("plain", attributes={"a": 1, "b": [1.5, 2.5]}), \
            tracer.start_as_current_span("child") as child:
        child.add_event("e")
    with tracer.start_as_current_span("linked", links=[Link(other)]):
        pass
    provider.shutdown()
    codec = SpanCodec()
    results = [codec.pack(span)[0] for span in keep.spans]
    assert [type(r) is tuple for r in results] == [True, True, False]  # child, plain, linked
    assert results[2] is keep.spans[2]
    unpacked = [codec.unpack(r) for r in results[:2]]
    assert spans_to_json_line(unpacked) == spans_to_json_line(keep.spans[:2])


def test_a_span_whose_links_were_all_dropped_keeps_its_count() -> None:
    # No links left, one counted as dropped: packed, the count would be lost on the way out.
    provider = TracerProvider(span_limits=SpanLimits(max_links=0), shutdown_on_exit=False)
    keep = Keep()
    provider.add_span_processor(SimpleSpanProcessor(keep))
    with provider.get_tracer("lib").start_as_current_span("linked", links=[Link(SpanContext(1, 2, False))]):
        pass
    provider.shutdown()
    (span,) = keep.spans
    assert not span.links and span.dropped_links == 1
    assert SpanCodec().pack(span)[0] is span


def test_a_packed_log_event_gives_the_same_stored_line() -> None:
    context = SpanContext(0x0123456789ABCDEF0123456789ABCDEF, 0x0123456789ABCDEF, False, TraceFlags(1))
    events = [
        PendingLog(1_700_000_000_000_000_001, 9, {"event": "order placed", "level": "info", "logger": "bot",
                                                  "symbol": "BTC/USDT", "qty": 1, "ids": (1, 2)}, context,
                   ("/bot/main.py", "run", 42)),
        PendingLog(5, 17, {"event": "boom", "level": "error", "exception": "Traceback ..."},
                   SpanContext(0, 0, False), None),
    ]
    nested = PendingLog(6, 9, {"event": "x", "nested": {"k": [1]}}, context, None)
    codec = LogCodec()
    packed = [codec.pack(event)[0] for event in events]
    assert all(type(p) is tuple for p in packed)
    assert codec.pack(nested)[0] is nested  # a container value: kept as it is
    gc.collect()
    assert not any(gc.is_tracked(p) for p in packed)
    materialize = LogMaterializer(Resource.create({"service.name": "bot"}), Redactor(), None)
    line = logs_to_json_line(materialize.encoded_batch([codec.unpack(p) for p in packed]))
    assert line == logs_to_json_line(materialize.encoded_batch(events))
