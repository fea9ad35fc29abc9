"""A bounded, off-thread batch exporter that counts every item it loses.

Unlike the SDK's BatchSpanProcessor (queue 2048, oldest silently evicted) the queue is
sized for bursts, a full queue drops the *new* item and counts it, failed exports are
counted, and shutdown is bounded by a deadline even when the exporter hangs.

Each export call runs on its own short-lived thread so that the worker can give up on it
after ``export_timeout_s`` (``OTEL_BSP_EXPORT_TIMEOUT`` / ``OTEL_BLRP_EXPORT_TIMEOUT``): the
batch is counted lost (``reason="export_timeout"``) at the deadline. A Python exporter call
cannot be interrupted, so the next batch is exported only once the late call has returned:
one call at a time, as exporters expect.

While a call is in flight the worker packs the backlog (what waits behind the call) with the
queue's codec (export/_compact.py): flat tuples the garbage collector stops tracking, so a
backed-up queue neither holds hundreds of thousands of object graphs nor makes every full
collection walk them. The packed items are kept in tuples of a chunk each, so that a collection
walks a few hundred chunks, not every item (a deque's items are each visited, one cache miss each
on a backlog of hundreds of thousands). ``max_queue_bytes`` bounds the packed backlog by its approximate
size; past it, new items are dropped and counted as a full queue.

The items still waiting unpacked are what the garbage collector promotes: every object alive at a
collection of the middle generation moves to the oldest, and once enough have moved (a quarter of
the oldest generation) the next collection is a full one, a walk of the whole interpreter's heap
(15-30 ms here) while every thread waits. The worker gets the GIL only every switch interval, so
during a burst a few thousand spans wait between its turns and a full collection followed every
dozen middle ones. So, while a backlog is being packed, the packing also runs right before each
collection of the older generations (a ``gc.callbacks`` hook, on whichever thread collects): the
waiting items are packed and freed, and the collection promotes none of them. That thread packs
at most 8 chunks (~1 ms each here) after waiting for the worker's current chunk at most 5 ms;
otherwise the caller packs nothing.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from otel_trading._state import reset_after_fork
from otel_trading.metrics._local import LocalMetrics
from otel_trading.metrics._names import TELEMETRY_DROPPED, TELEMETRY_EXPORTED

if TYPE_CHECKING:
    from otel_trading.export._compact import QueueCodec  # imports the pipeline, which imports this module

_LOG = logging.getLogger("otel_trading.export")
T = TypeVar("T")
ExportFn = Callable[[Sequence[T]], bool]
_PACK_CHUNK = 256  # items packed between two looks at the export call in flight, kept as one tuple
_CALL_POLL_S = 0.005
# Before a collection: at most this many chunks packed by the collecting thread, after waiting at most
# this long for the worker to finish the chunk it is packing.
_COLLECTION_CHUNKS = 8
_COLLECTION_WAIT_S = 0.005

WORKER_THREAD_MARK = "_otel_trading_worker"
# Idents of our exporter threads while they run, each added and removed by the thread itself
# (so a reused ident is never taken for a worker): tested on every log line, a set lookup is
# cheaper than threading.current_thread() and an attribute read.
_WORKER_IDENTS: set[int] = set()
# A forked child has only the forking thread: the parent's workers' idents may be reused there.
os.register_at_fork(after_in_child=lambda: _WORKER_IDENTS.intersection_update({threading.get_ident()}))


# Exporters whose worker is packing a backlog, by id: the ones the collection hook looks at (none, nearly
# always). A dict: adding, removing and taking a tuple of its values are each one step under the GIL, so
# threads never see it change while they go through it (a WeakSet's iteration is Python code).
_BACKLOGGED: dict[int, BatchExporter[Any]] = {}


def _pack_before_collection(phase: str, info: Mapping[str, int]) -> None:
    """``gc.callbacks`` hook: before a collection of the older generations, the backlogs' waiting items
    are packed, so that the collection does not promote them (see the module's docstring)."""
    if phase == "start" and info.get("generation") and _BACKLOGGED:
        for exporter in tuple(_BACKLOGGED.values()):
            exporter.pack_before_collection()


gc.callbacks.append(_pack_before_collection)


def in_export_worker() -> bool:
    """True on our exporter threads: their own log records must not be exported again."""
    return threading.get_ident() in _WORKER_IDENTS


def _as_worker(target: Callable[..., None]) -> Callable[..., None]:
    def run(*args: object) -> None:
        ident = threading.get_ident()
        _WORKER_IDENTS.add(ident)
        try:
            target(*args)
        finally:
            _WORKER_IDENTS.discard(ident)

    return run


class BatchExporter(Generic[T]):
    def __init__(
        self,
        *,
        signal: str,
        exporter_name: str,
        export: ExportFn[T],
        metrics: LocalMetrics,
        max_queue_size: int,
        max_batch_size: int,
        schedule_delay_s: float,
        export_timeout_s: float = 30.0,
        codec: QueueCodec[T] | None = None,
        max_queue_bytes: int | None = None,
    ) -> None:
        self.signal = signal
        self.exporter_name = exporter_name
        self._export = export
        self._max_queue_size = max_queue_size
        self._max_batch_size = max_batch_size
        self._delay = schedule_delay_s
        self._export_timeout = export_timeout_s
        self._codec = codec
        self._max_queue_bytes = max_queue_bytes
        dropped = metrics.counter(TELEMETRY_DROPPED, "{item}", "Telemetry items lost before export")
        attrs = {"signal": signal, "exporter": exporter_name}
        self._dropped_full = dropped.bind({**attrs, "reason": "queue_full"})
        self._dropped_failed = dropped.bind({**attrs, "reason": "export_failed"})
        self._dropped_shutdown = dropped.bind({**attrs, "reason": "shutdown"})
        self._dropped_timeout = dropped.bind({**attrs, "reason": "export_timeout"})
        self._exported = metrics.counter(
            TELEMETRY_EXPORTED, "{item}", "Telemetry items handed to an exporter successfully"
        ).bind(attrs)
        self._stopped = False
        self._abandoned = False
        self.failed_exports = 0
        self._start_worker()
        reset_after_fork(self)

    def _start_worker(self) -> None:
        self._in_flight = 0
        self._late_call: threading.Thread | None = None  # after a fork, the parent's call threads do not exist here
        self._queue: deque[T] = deque()  # appended by callers, taken from the left by the worker only
        # Older than everything in _queue: chunks of items the worker packed (tuples) or could not pack;
        # the first chunk's items before _chunk_at are already taken. Both written by the worker only.
        self._packed: deque[tuple[T | tuple[Any, ...], ...]] = deque()
        self._chunk_at = 0
        self._packed_count = 0  # items in _packed not yet taken
        self._packed_bytes = 0  # written by the worker only
        # Held while the packed backlog or the queue's head is changed: by the worker (packing, taking a
        # batch) and by the collection hook, so that items are packed and exported in their order.
        self._section = threading.Lock()
        self._wake = threading.Event()
        self._flush_waiters: list[threading.Event] = []
        self._waiters_lock = threading.Lock()
        self._worker = threading.Thread(
            target=_as_worker(self._run), name=f"otel-trading-{self.signal}-{self.exporter_name}", daemon=True
        )
        setattr(self._worker, WORKER_THREAD_MARK, True)
        self._worker.start()

    def after_fork_in_child(self) -> None:
        _BACKLOGGED.pop(id(self), None)  # the parent's backlog is the parent's
        if not self._stopped:
            # The parent exports what it had queued; the child starts empty with its own worker.
            self._start_worker()

    @property
    def queue_size(self) -> int:
        return len(self._queue) + self._packed_count

    def put(self, item: T) -> None:
        """Never blocks and never raises: enqueues ``item`` or counts it as dropped."""
        if self._stopped:
            self._dropped_shutdown.add(1)
            return
        queue = self._queue
        limit = self._max_queue_bytes
        if len(queue) + self._packed_count >= self._max_queue_size or (
                limit is not None and self._packed_bytes >= limit):
            self._dropped_full.add(1)
            return
        queue.append(item)
        if len(queue) >= self._max_batch_size and not self._wake.is_set():
            self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait(self._delay)
            self._wake.clear()
            self._drain()
            with self._waiters_lock:
                waiters, self._flush_waiters = self._flush_waiters, []
            for waiter in waiters:
                waiter.set()
            if self._stopped:
                return

    def _drain(self) -> None:
        queue, packed = self._queue, self._packed
        try:
            while (packed or queue) and not self._abandoned:  # abandoned: shutdown counted the rest as dropped
                batch: list[T] = []
                with self._section:
                    if packed:
                        batch = self._unpack_batch()
                    while queue and len(batch) < self._max_batch_size:
                        batch.append(queue.popleft())
                if batch:
                    self._export_batch(batch)
        finally:
            _BACKLOGGED.pop(id(self), None)  # drained: the collection hook has nothing to do here

    def _unpack_batch(self) -> list[T]:
        """Up to a batch of the packed backlog, unpacked (the oldest items)."""
        packed, codec = self._packed, self._codec
        assert codec is not None  # only a codec's items are ever packed
        batch: list[T] = []
        before = self._packed_count
        while packed and len(batch) < self._max_batch_size:
            chunk, start = packed[0], self._chunk_at
            end = min(len(chunk), start + self._max_batch_size - len(batch))
            if end == len(chunk):
                packed.popleft()
                self._chunk_at = 0
            else:
                self._chunk_at = end
            self._packed_count -= end - start
            for item in chunk[start:end]:
                if type(item) is not tuple:
                    batch.append(item)  # type: ignore[arg-type]  # kept as it was: not a packed tuple
                    continue
                try:
                    batch.append(codec.unpack(item))
                except Exception:  # noqa: BLE001 - a codec bug loses the item, counted, never the worker
                    _LOG.exception("%s exporter %s could not unpack a queued item", self.signal, self.exporter_name)
                    self._dropped_failed.add(1)
        # Sizes are not kept per item: the total shrinks in proportion to what was taken.
        self._packed_bytes = self._packed_bytes * self._packed_count // before
        return batch

    def _pack_backlog(self) -> None:
        """Packs up to a chunk of the waiting items, oldest first (worker thread only). Oldest first: an
        object graph that waits through two young collections is promoted to the oldest generation, and
        enough of those trigger the full collections that stall callers."""
        queue, codec = self._queue, self._codec
        assert codec is not None
        chunk: list[T | tuple[Any, ...]] = []
        while queue and len(chunk) < _PACK_CHUNK:
            item = queue.popleft()
            self._packed_count += 1  # counted from the moment it leaves the queue (put() bounds the sum)
            try:
                compact, size = codec.pack(item)
            except Exception:  # noqa: BLE001 - a codec bug must not lose the item: it stays as it was
                _LOG.exception("%s exporter %s could not pack a queued item", self.signal, self.exporter_name)
                compact, size = item, 0
            chunk.append(compact)
            self._packed_bytes += size
        if chunk:
            self._packed.append(tuple(chunk))

    def _await_call(self, call: threading.Thread) -> None:
        """Waits for ``call`` up to the export timeout, packing the backlog meanwhile when there is a codec."""
        if self._codec is None:
            call.join(self._export_timeout)
            return
        deadline = time.monotonic() + self._export_timeout
        while call.is_alive():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            # Only a backlog (more than a batch waiting): a queue that keeps up pays nothing for this.
            # From shutdown on, what is left is counted, not moved.
            if len(self._queue) > self._max_batch_size and not self._stopped:
                _BACKLOGGED[id(self)] = self  # until the backlog is drained
                with self._section:
                    self._pack_backlog()
            else:
                call.join(min(_CALL_POLL_S, remaining))

    def pack_before_collection(self) -> None:
        """Packs the waiting items before a collection promotes them (the collection hook; any thread)."""
        if self._stopped or threading.get_ident() == self._worker.ident:
            return  # the worker collecting: it is packing already, maybe holding the section
        # Waiting releases the GIL: the worker finishes the chunk it is packing (its items are older).
        if not self._section.acquire(timeout=_COLLECTION_WAIT_S):
            return
        try:
            for _ in range(_COLLECTION_CHUNKS):
                if not self._queue:
                    break
                self._pack_backlog()
        except Exception:  # noqa: BLE001 - never into the collecting thread; _pack_backlog keeps what it cannot pack
            _BACKLOGGED.pop(id(self), None)
        finally:
            self._section.release()

    def _call_export(self, batch: Sequence[T], outcome: list[bool]) -> None:
        try:
            outcome.append(self._export(batch))
        except Exception:  # noqa: BLE001 - an exporter bug must not kill the worker
            _LOG.exception("%s exporter %s raised", self.signal, self.exporter_name)
            outcome.append(False)

    def _export_batch(self, batch: Sequence[T]) -> None:
        self._in_flight = len(batch)
        late = self._late_call
        if late is not None:
            late.join()  # one export call at a time: the next batch waits for the overrunning one
            self._late_call = None
        outcome: list[bool] = []
        call = threading.Thread(target=_as_worker(self._call_export), args=(batch, outcome),
                                name=f"otel-trading-{self.signal}-{self.exporter_name}-export", daemon=True)
        setattr(call, WORKER_THREAD_MARK, True)
        call.start()
        self._await_call(call)
        self._in_flight = 0
        if self._abandoned:
            return  # shutdown already counted this batch as dropped when it gave up on it
        if call.is_alive():
            self._late_call = call
            self.failed_exports += 1
            self._dropped_timeout.add(len(batch))
            _LOG.warning("%s exporter %s did not finish an export of %d items within %.3gs (export timeout); "
                         "counted as dropped", self.signal, self.exporter_name, len(batch), self._export_timeout)
            return
        ok = bool(outcome and outcome[0])
        if not ok:
            self.failed_exports += 1
        (self._exported if ok else self._dropped_failed).add(len(batch))

    def force_flush(self, timeout_s: float) -> bool:
        """True when everything queued before the call was exported successfully in time."""
        if self._stopped or not self._worker.is_alive():
            return not self._queue and not self._packed
        failures = self.failed_exports
        done = threading.Event()
        with self._waiters_lock:
            self._flush_waiters.append(done)
        self._wake.set()
        return done.wait(timeout_s) and self.failed_exports == failures

    def shutdown(self, timeout_s: float) -> bool:
        """Exports what is queued within ``timeout_s``; what is left is counted as dropped."""
        if self._stopped:
            return True
        failures = self.failed_exports
        self._stopped = True
        _BACKLOGGED.pop(id(self), None)
        self._wake.set()
        self._worker.join(timeout_s)
        finished = not self._worker.is_alive()
        left = len(self._queue) + self._packed_count
        if not finished:
            self._abandoned = True
            left += self._in_flight
        if left:
            self._queue.clear()
            self._packed.clear()
            self._packed_count = self._chunk_at = 0
            self._dropped_shutdown.add(left)
        if not finished or left:
            _LOG.warning(
                "%s exporter %s did not finish within %.1fs; %d queued items dropped",
                self.signal, self.exporter_name, timeout_s, left,
            )
        return finished and not left and self.failed_exports == failures
