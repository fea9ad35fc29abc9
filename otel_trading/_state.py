"""The one owner of otel-trading's process state.

``configure()`` replaces the runtime fields (tracer, local metrics, redactor, limits); hot
paths read them through the single ``STATE`` object, so a reconfiguration is seen everywhere
without re-decorating anything.

Everything else the process accumulates is declared where it is used as a :class:`Slot` (as a
``ContextVar`` is), but its value lives in ``STATE.parts``. So test isolation
(``testing.capture()``, ``testing.isolated_state()``) has one place to act:
:meth:`RuntimeState.isolated` gives a block fresh values for every slot, releases them at the
end (stopping the threads they started) and puts the previous ones back. A forked child has one
place too: the one ``os.register_at_fork`` hook of the package, in this module, resets each
slot value the parent held and each owner registered with :func:`reset_after_fork`.

The complete list of process state:

- Runtime fields of ``STATE`` (the configuration in force, set by ``configure()``/``shutdown()``
  and put back by ``capture()``'s ``resume``): tracer, local metrics, redactor, attribute length
  limit, log sink, enabled, generation. The console settings (``logs._processors.CONSOLE``:
  mode, level, stream) are configuration in force too, set and put back in the same places; they
  stay a plain object because every log call reads them.
- Slots (fresh inside an isolated block): open trades and orders, portfolios and their failing
  gauges, rolling trade statistics, trading state, trading attribute value guards, "reported
  once" sets (instrumentation failures, bad trading inputs, attribute value types), correlation
  id source, heartbeat and market-data marks, health checks with their runner (stopped when the
  block ends), alert engines started by ``alerts.start()`` (stopped when the block ends), the
  alert engines started and not stopped (``alerts.running_engines()``; none in a forked child),
  the trading state's change hooks and history, the live console (a forked child has none and
  leaves the parent's serving), ccxt
  error streaks, order books and exchanges owned elsewhere, ccxt provider recorders, freqtrade
  trades. Two carry over, a block adding to a copy: process gauges, and the alert engines
  counted by ``otel_trading.alerts.active`` (engines made before the block still evaluate in it).
- Deliberately process-wide:
  the ccxt exchange tracker and credential registry (``instrumentation.ccxt._metrics.TRACKER``,
  ``._secrets.REGISTRY``): ccxt's own logger filter scrubs the credentials of every exchange the
  tracker saw, at any time; an exchange first called inside a capture must stay known after it,
  or its keys could reach ccxt's debug logs later. Both hold exchanges weakly and are bounded;
  credentials learnt inside a capture are also added to the outer redactor on ``resume``.
  The batch exporters of a configuration belong to it (``Telemetry.shutdown()`` stops them); they
  register with :func:`reset_after_fork` so a child restarts their workers.
  The exit hooks (``config._lifecycle.ExitHooks``: atexit, SIGTERM, multiprocessing's
  after-fork finalizer) are installed once per process and call whatever configuration is in
  force then; multiprocessing needs its own after-fork registry (it clears finalizers after
  ``os.register_at_fork`` hooks ran).
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Generic, Protocol, TypeVar

from opentelemetry import trace

from otel_trading.metrics._local import LocalMetrics
from otel_trading.redaction import Redactor

_LOG = logging.getLogger("otel_trading")
T = TypeVar("T")
_SLOTS: list[Slot[Any]] = []
_SLOTS_LOCK = threading.RLock()  # a factory may read another slot


class Slot(Generic[T]):
    """One piece of process state: declared in its module, its value owned by ``STATE``.

    ``factory`` makes the value of a new process state; ``isolate``, given the value in force
    (or None), the value inside an isolated block (by default a fresh one from ``factory``).
    ``release`` is given the block's value when the block ends (to stop the threads it
    started); ``after_fork``, in a forked child, each value of the slot the parent held (in
    force, or set aside by an isolated block), whose threads did not come along.
    """

    def __init__(self, name: str, factory: Callable[[], T], *,
                 isolate: Callable[[T | None], T] | None = None,
                 release: Callable[[T], object] | None = None,
                 after_fork: Callable[[T], object] | None = None) -> None:
        self.name = name
        self._factory = factory
        self._isolate = isolate
        self._release = release
        self._after_fork = after_fork
        with _SLOTS_LOCK:
            _SLOTS.append(self)

    def get(self) -> T:
        try:
            value: T = STATE.parts[self]
        except KeyError:
            with _SLOTS_LOCK:
                value = STATE.parts.setdefault(self, self._factory())
        return value

    def set(self, value: T) -> None:
        STATE.parts[self] = value

    @property
    def carries_over(self) -> bool:
        """Whether an isolated block starts from the value in force (through ``isolate``)."""
        return self._isolate is not None

    def isolated_value(self, outer: T | None) -> T:
        return self._isolate(outer) if self._isolate is not None else self._factory()

    def release(self, value: T) -> None:
        if self._release is not None:
            _guarded(self._release, value, f"releasing {self.name}")

    def after_fork_in_child(self, value: T) -> None:
        if self._after_fork is not None:
            _guarded(self._after_fork, value, f"resetting {self.name} in a forked child")

    def __repr__(self) -> str:
        return f"Slot({self.name!r})"


def _guarded(action: Callable[[T], object], value: T, what: str) -> None:
    try:
        action(value)
    except Exception:  # noqa: BLE001 - leaving a test block or forking must not raise into the caller
        _LOG.exception("otel-trading: %s failed", what)


class RuntimeState:
    def __init__(self) -> None:
        # Every Slot's value; replaced as a whole by isolated().
        self.parts: dict[Slot[Any], Any] = {}
        # The values set aside by the isolated blocks in progress, outermost first.
        self._set_aside: list[dict[Slot[Any], Any]] = []
        self.enabled = False
        self.generation = 0
        self.tracer: trace.Tracer = trace.NoOpTracer()
        self.local_metrics = LocalMetrics()
        self.redactor = Redactor()
        # Longest string span attribute (None: no limit), read when each attribute is recorded.
        self.max_attribute_length: int | None = 4096
        # Receives each finished log event (a PendingLog) for export; None when logs are off.
        self.log_sink: Callable[[Any], None] | None = None

    def reset(self, *, enabled: bool, tracer: trace.Tracer, redactor: Redactor,
              max_attribute_length: int | None, local_metrics: LocalMetrics) -> None:
        local_metrics.reports_process_gauges = True
        self.local_metrics = local_metrics
        self.redactor = redactor
        self.max_attribute_length = max_attribute_length
        self.tracer = tracer
        self.generation += 1
        self.enabled = enabled

    @contextmanager
    def isolated(self) -> Iterator[None]:
        """Fresh values for every slot inside the block; the previous ones afterwards.

        At the end of the block its values are released (health check runners and alert engines
        started inside it stop) before the previous ones come back. The runtime fields
        (configuration in force) are left to ``configure()``/``shutdown()``.
        """
        outer = self.parts
        with _SLOTS_LOCK:
            carried = [slot for slot in _SLOTS if slot.carries_over]
        # The others are made fresh by their factory when first read inside the block.
        self._set_aside.append(outer)
        self.parts = {slot: slot.isolated_value(outer.get(slot)) for slot in carried}
        try:
            yield
        finally:
            for slot, value in list(self.parts.items()):
                slot.release(value)
            self.parts = outer
            self._set_aside.pop()

    def after_fork_in_child(self) -> None:
        """Resets what a forked child inherited without its threads (the package's one fork hook)."""
        global _SLOTS_LOCK  # a thread of the parent may have held it at the fork
        _SLOTS_LOCK = threading.RLock()
        for parts in [*self._set_aside, self.parts]:
            for slot, value in list(parts.items()):
                slot.after_fork_in_child(value)
        for owner in list(_FORK_OWNERS):
            _guarded(_restart, owner, f"resetting {type(owner).__name__} in a forked child")


class _ForkOwner(Protocol):
    def after_fork_in_child(self) -> None: ...


def _restart(owner: _ForkOwner) -> None:
    owner.after_fork_in_child()


# Owners that belong to a configuration rather than to a slot (batch exporters), held weakly.
_FORK_OWNERS: weakref.WeakSet[_ForkOwner] = weakref.WeakSet()


def reset_after_fork(owner: _ForkOwner) -> None:
    """Calls ``owner.after_fork_in_child()`` in each forked child while ``owner`` lives."""
    _FORK_OWNERS.add(owner)


STATE = RuntimeState()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=STATE.after_fork_in_child)

ObservationCallback = Callable[[], Iterable[tuple[Mapping[str, Any], float]]]
PROCESS_GAUGES: Slot[dict[str, tuple[str, str, ObservationCallback]]] = Slot(
    "process gauges", dict,
    # Gauges registered at import stay; a fresh trade registry, portfolio set... replaces its own.
    isolate=lambda outer: dict(outer or {}),
)
"""Gauges read by the local metrics of the configuration in force (``observe_process_gauge``)."""
