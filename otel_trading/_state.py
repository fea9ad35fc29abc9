"""The one owner of otel-trading's process state.

``configure()`` replaces the runtime fields (tracer, local metrics, redactor, limits); hot
paths read them through the single ``STATE`` object, so a reconfiguration is seen everywhere
without re-decorating anything.

Everything else the process accumulates - open trades, portfolios, rolling statistics, the
value guards of metric attributes, process gauges, exchange trackers, health marks, the
"reported once" sets - is declared where it is used as a :class:`Slot` (as a ``ContextVar``
is), but its value lives in ``STATE.parts``. So test isolation (``testing.capture()``) and a
forked child each have one place to act: :meth:`RuntimeState.isolated` gives a block fresh
values for every slot and puts the previous ones back afterwards.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

from opentelemetry import trace

from otel_trading.metrics._local import LocalMetrics
from otel_trading.redaction import Redactor

T = TypeVar("T")
_SLOTS: list[Slot[Any]] = []
_SLOTS_LOCK = threading.RLock()  # a factory may read another slot


class Slot(Generic[T]):
    """One piece of process state: declared in its module, its value owned by ``STATE``.

    ``factory`` makes the value of a new process state; ``isolate``, given the value in force
    (or None), the value inside an isolated block (by default a fresh one from ``factory``).
    """

    def __init__(self, name: str, factory: Callable[[], T], *,
                 isolate: Callable[[T | None], T] | None = None) -> None:
        self.name = name
        self._factory = factory
        self._isolate = isolate
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

    def __repr__(self) -> str:
        return f"Slot({self.name!r})"


class RuntimeState:
    def __init__(self) -> None:
        # Every Slot's value; replaced as a whole by isolated().
        self.parts: dict[Slot[Any], Any] = {}
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

        The runtime fields (configuration in force) are left to ``configure()``/``shutdown()``.
        """
        outer = self.parts
        with _SLOTS_LOCK:
            carried = [slot for slot in _SLOTS if slot.carries_over]
        # The others are made fresh by their factory when first read inside the block.
        self.parts = {slot: slot.isolated_value(outer.get(slot)) for slot in carried}
        try:
            yield
        finally:
            self.parts = outer


STATE = RuntimeState()

ObservationCallback = Callable[[], Iterable[tuple[Mapping[str, Any], float]]]
PROCESS_GAUGES: Slot[dict[str, tuple[str, str, ObservationCallback]]] = Slot(
    "process gauges", dict,
    # Gauges registered at import stay; a fresh trade registry, portfolio set... replaces its own.
    isolate=lambda outer: dict(outer or {}),
)
"""Gauges read by the local metrics of the configuration in force (``observe_process_gauge``)."""
