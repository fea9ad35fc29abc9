"""A bounded, off-thread batch exporter that counts every item it loses.

Unlike the SDK's BatchSpanProcessor (queue 2048, oldest silently evicted) the queue is
sized for bursts, a full queue drops the *new* item and counts it, failed exports are
counted, and shutdown is bounded by a deadline even when the exporter hangs.

Export calls run on a thread of their own (one per exporter, started with its first call) so
that the worker can give up on a call after ``export_timeout_s`` (``OTEL_BSP_EXPORT_TIMEOUT`` /
``OTEL_BLRP_EXPORT_TIMEOUT``): the batch is counted lost (``reason="export_timeout"``) at the
deadline. A Python exporter call cannot be interrupted, so the next batch is exported only once
the late call has returned: one call at a time, as exporters expect. One lasting thread, not one
per call: starting a thread waits for it to get the interpreter, ~12 ms (up to 50) on a busy
machine, and the queue grows meanwhile.

While a call is in flight the worker packs the backlog (what waits behind the call) with the
queue's codec (export/_compact.py): flat tuples the garbage collector stops tracking, so a
backed-up queue neither holds hundreds of thousands of object graphs nor makes every full
collection walk them. The packed items are kept in tuples of a chunk each, so that a collection
walks a few hundred chunks, not every item (a deque's items are each visited, one cache miss each
on a backlog of hundreds of thousands). ``max_queue_bytes`` bounds the packed backlog by its approximate
size; past it, new items are dropped and counted as a full queue. A batch taken from the packed backlog
is unpacked one item at a time as the export call reads it (:class:`PackedBatch`): an exporter that
reads its batch once (the direct OTLP encoder) holds one unpacked item at a time, not a batch of object
graphs that a collection during the send would promote.

The items still waiting unpacked are what the garbage collector promotes: every object alive at a
collection of the middle generation moves to the oldest, and once enough have moved (a quarter of
the oldest generation) the next collection is a full one, a walk of the whole interpreter's heap
(15-30 ms here) while every thread waits. The worker gets the GIL only every switch interval, so
during a burst a few thousand spans wait between its turns and a full collection followed every
dozen middle ones. So, once a backlog is packed, the worker packs each whole chunk that waits behind
it (not only past a batch, as it starts), and the packing also runs right before each
collection of the older generations (a ``gc.callbacks`` hook, on whichever thread collects): the
waiting items are packed and freed, and the collection promotes none of them. That thread packs
at most 16 chunks (~0.5 ms each here; during a 200k burst 2,000-3,200 spans wait at such a
collection, and what is left is promoted) after waiting for the worker's current chunk at most
5 ms; otherwise the caller packs nothing.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from queue import SimpleQueue
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

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
_COLLECTION_CHUNKS = 16
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


class PackedBatch(Sequence[T]):
    """A batch taken from the packed backlog, each item unpacked only as the export call reads it.

    Iterating holds one unpacked item at a time. An item the codec cannot unpack is skipped and
    logged; ``failures`` counts them (the worker reads it once the call has returned, so every item
    is counted once: exported, or dropped)."""

    __slots__ = ("_codec", "_failed", "_items", "_owner")

    def __init__(self, items: list[T | tuple[Any, ...]], codec: QueueCodec[T], owner: str) -> None:
        self._items = items
        self._codec = codec
        self._owner = owner  # for the log: "<signal> exporter <name>"
        self._failed: set[int] = set()  # positions, so that reading the batch twice counts nothing twice

    @property
    def failures(self) -> int:
        return len(self._failed)

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[T]:
        unpack = self._codec.unpack
        for position, stored in enumerate(self._items):
            if type(stored) is not tuple:
                yield stored  # type: ignore[misc]  # kept as it was: not packed
                continue
            try:
                item = unpack(stored)
            except Exception:  # noqa: BLE001 - a codec bug loses the item, counted, never the export
                self._fail(position)
                continue
            yield item

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> list[T]: ...

    def __getitem__(self, index: int | slice) -> T | list[T]:
        """An item by position (an exporter may read so): one the codec cannot unpack raises its error."""
        if isinstance(index, slice):
            return [self[position] for position in range(*index.indices(len(self._items)))]
        item = self._items[index]
        return self._codec.unpack(item) if type(item) is tuple else item  # type: ignore[return-value]

    def _fail(self, position: int) -> None:
        _LOG.exception("%s could not unpack a queued item", self._owner)
        self._failed.add(position)


class _Call(Generic[T]):
    """One export call handed to the call thread; ``wait`` returns once it has returned (or raised)."""

    __slots__ = ("_returned", "batch", "ok")

    def __init__(self, batch: Sequence[T]) -> None:
        self.batch = batch
        self.ok = False
        self._returned = threading.Lock()  # held until the call has returned: a C-level wait
        self._returned.acquire()

    def finish(self, ok: bool) -> None:
        self.ok = ok
        self._returned.release()

    @property
    def done(self) -> bool:
        return not self._returned.locked()

    def wait(self, timeout: float | None = None) -> bool:
        """True once the call has returned; False after ``timeout`` seconds (None: no limit)."""
        if self._returned.acquire(timeout=-1 if timeout is None else min(timeout, threading.TIMEOUT_MAX)):
            self._returned.release()
            return True
        return False


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
        # After a fork, the parent's call thread does not exist here: the first call starts this process's.
        self._late_call: _Call[T] | None = None
        self._calls: SimpleQueue[_Call[T] | None] = SimpleQueue()
        self._call_thread: threading.Thread | None = None
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
        try:
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
        finally:
            if self._call_thread is not None:
                self._calls.put(None)  # the call thread ends after the call it may still be in

    def _drain(self) -> None:
        queue, packed = self._queue, self._packed
        try:
            while (packed or queue) and not self._abandoned:  # abandoned: shutdown counted the rest as dropped
                batch = self._take_batch()
                if batch:  # empty when shutdown cleared the queue meanwhile
                    self._export_batch(batch)
        finally:
            _BACKLOGGED.pop(id(self), None)  # drained: the collection hook has nothing to do here

    def _take_batch(self) -> Sequence[T]:
        """The oldest items, up to a batch: the packed backlog's first (a :class:`PackedBatch` then), then
        the queue's (taken by the worker only: callers only append, so the queue holds at least what len says)."""
        queue, codec = self._queue, self._codec
        with self._section:
            packed = bool(self._packed)
            items: list[Any] = self._take_packed() if packed else []
            room = self._max_batch_size - len(items)
            if room > 0 and queue:
                take = queue.popleft
                items += [take() for _ in range(min(len(queue), room))]
        if not packed or codec is None:
            return items
        return PackedBatch(items, codec, f"{self.signal} exporter {self.exporter_name}")

    def _take_packed(self) -> list[T | tuple[Any, ...]]:
        """Up to a batch of the packed backlog as it is (the oldest items; under ``_section``)."""
        packed = self._packed
        items: list[T | tuple[Any, ...]] = []
        before = self._packed_count
        while packed and len(items) < self._max_batch_size:
            chunk, start = packed[0], self._chunk_at
            end = min(len(chunk), start + self._max_batch_size - len(items))
            if end == len(chunk):
                packed.popleft()
                self._chunk_at = 0
            else:
                self._chunk_at = end
            self._packed_count -= end - start
            items += chunk[start:end]
        # Sizes are not kept per item: the total shrinks in proportion to what was taken.
        self._packed_bytes = self._packed_bytes * self._packed_count // before
        return items

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

    def _await_call(self, call: _Call[T]) -> None:
        """Waits for ``call`` up to the export timeout, packing the backlog meanwhile when there is a codec."""
        if self._codec is None:
            call.wait(self._export_timeout)
            return
        deadline = time.monotonic() + self._export_timeout
        while not call.done:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            # Only a backlog (more than a batch waiting): a queue that keeps up pays nothing for this.
            # Once a backlog is packed, what waits behind it is packed chunk by chunk too: left waiting, it
            # is what the collections promote. From shutdown on, what is left is counted, not moved.
            waiting = len(self._queue)
            if (waiting > self._max_batch_size or (waiting >= _PACK_CHUNK and self._packed)) and not self._stopped:
                _BACKLOGGED[id(self)] = self  # until the backlog is drained
                with self._section:
                    self._pack_backlog()
            else:
                call.wait(min(_CALL_POLL_S, remaining))

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

    def _run_calls(self, calls: SimpleQueue[_Call[T] | None]) -> None:
        """The call thread: runs the calls the worker hands over, one at a time, until told to end (None)."""
        while (call := calls.get()) is not None:
            ok = False
            try:
                ok = bool(self._export(call.batch))
            except Exception:  # noqa: BLE001 - an exporter bug must not kill the thread
                _LOG.exception("%s exporter %s raised", self.signal, self.exporter_name)
            except BaseException:
                # It ends this thread (as it ended a call's own thread before): the next call starts another.
                self._call_thread = None
                raise
            finally:
                call.finish(ok)
            del call  # not kept alive while waiting for the next one

    def _hand_over(self, batch: Sequence[T]) -> _Call[T]:
        call = _Call(batch)
        if self._call_thread is None:
            self._calls = SimpleQueue()
            thread = self._call_thread = threading.Thread(
                target=_as_worker(self._run_calls), args=(self._calls,),
                name=f"otel-trading-{self.signal}-{self.exporter_name}-export", daemon=True)
            setattr(thread, WORKER_THREAD_MARK, True)
            thread.start()
        self._calls.put(call)
        return call

    def _export_batch(self, batch: Sequence[T]) -> None:
        self._in_flight = len(batch)
        late = self._late_call
        if late is not None:
            late.wait()  # one export call at a time: the next batch waits for the overrunning one
            self._late_call = None
        call = self._hand_over(batch)
        self._await_call(call)
        self._in_flight = 0
        if self._abandoned:
            return  # shutdown already counted this batch as dropped when it gave up on it
        if not call.done:
            self._late_call = call
            self.failed_exports += 1
            self._dropped_timeout.add(len(batch))
            _LOG.warning("%s exporter %s did not finish an export of %d items within %.3gs (export timeout); "
                         "counted as dropped", self.signal, self.exporter_name, len(batch), self._export_timeout)
            return
        if not call.ok:
            self.failed_exports += 1
            self._dropped_failed.add(len(batch))
            return
        # Items a packed batch could not unpack were never handed to the exporter.
        failures = batch.failures if type(batch) is PackedBatch else 0
        self._exported.add(len(batch) - failures)
        if failures:
            self._dropped_failed.add(failures)

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
