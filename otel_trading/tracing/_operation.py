"""One traced operation: start, (re)activation around each step, and finish.

Shared by the decorator (all four function kinds) and ``span()``. Every step that could
fail inside instrumentation is guarded: the user's code runs whatever happens here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from contextvars import Token
from time import perf_counter
from typing import Any, Final

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from otel_trading._state import STATE, Slot
from otel_trading.context._correlation import (
    CORRELATION_KEY,
    CURRENT_CORRELATION,
    LazyCorrelationId,
    inbound_correlation_id,
    new_correlation_id,
)
from otel_trading.metrics._names import INSTRUMENTATION_FAILURES
from otel_trading.tracing._lean import UNCHECKED, LeanTracer
from otel_trading.tracing._metrics import FunctionMetrics

_LOG = logging.getLogger("otel_trading.tracing")
_REPORTED_FAILURES: Final[Slot[set[str]]] = Slot("instrumentation failures reported", set)


def report_instrumentation_failure(where: str) -> None:
    """Counts an internal failure and logs it once per place; the user's code carries on regardless.

    ``where`` is a fixed name of the failing place (it becomes a metric attribute).
    """
    # Counting must not turn one failure into two.
    with contextlib.suppress(Exception):
        STATE.local_metrics.counter(
            INSTRUMENTATION_FAILURES, "{failure}", "Internal failures of otel-trading's instrumentation"
        ).add(1, {"where": where})
    reported = _REPORTED_FAILURES.get()
    if where not in reported:
        reported.add(where)
        _LOG.exception("otel-trading instrumentation failed in %s; the call itself was not affected", where)


def error_type(exc: BaseException) -> str:
    kind = type(exc)
    module = kind.__module__
    return kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"


def is_error(exc: BaseException) -> bool:
    """Exceptions and task cancellation are failures; GeneratorExit/SystemExit/KeyboardInterrupt are exits."""
    return isinstance(exc, (Exception, asyncio.CancelledError))


def record_error(span: Span, exc: BaseException) -> None:
    if not span.is_recording():
        return
    span.set_attribute("error.type", error_type(exc))
    span.record_exception(exc)
    try:
        description = f"{type(exc).__name__}: {exc}"
    except Exception:  # noqa: BLE001 - a user's __str__ may raise; the type name is enough
        description = type(exc).__name__
    span.set_status(Status(StatusCode.ERROR, description))


class Operation:
    __slots__ = ("_cid_token", "_ctx_token", "cid", "ctx", "metrics", "span", "start")

    def __init__(
        self,
        name: str,
        attributes: dict[str, Any],
        kind: SpanKind,
        metrics: FunctionMetrics | None,
        tracer: trace.Tracer | None = None,  # None: otel-trading's own (instrumentations may pass another)
        *,
        checked_within: int = UNCHECKED,  # see LeanTracer.start_span
    ) -> None:
        # The current context read once (each read is two to four calls): the parent, its baggage, the new span's.
        context = otel_context.get_current()
        current = CURRENT_CORRELATION.get()
        if current is None:
            # Outermost operation: adopt an inbound correlation id (W3C baggage) or create one.
            cid = inbound_correlation_id(context) or new_correlation_id()
        elif type(current) is str:
            cid = current
        else:  # a dropped call's lazy id: its span needs it now
            assert isinstance(current, LazyCorrelationId)
            cid = current.resolve()
        attributes[CORRELATION_KEY] = cid
        if tracer is None:
            tracer = STATE.tracer
        if checked_within >= 0 and len(cid) <= checked_within and type(tracer) is LeanTracer:
            span = tracer.start_span(name, context, kind, attributes, checked_within=checked_within)
        else:
            span = tracer.start_span(name, context, kind, attributes)
        self.span = span
        self.cid = cid
        self.ctx = trace.set_span_in_context(span, context)
        self.metrics = metrics
        self._ctx_token: Token[Any] | None = None
        self._cid_token: Token[str | LazyCorrelationId | None] | None = None
        self.start = perf_counter()

    def enter(self) -> None:
        self._ctx_token = otel_context.attach(self.ctx)
        if CURRENT_CORRELATION.get() is not self.cid:  # an inner operation's is its caller's: nothing to set
            self._cid_token = CURRENT_CORRELATION.set(self.cid)

    def exit(self) -> None:
        if self._cid_token is not None:
            CURRENT_CORRELATION.reset(self._cid_token)
            self._cid_token = None
        if self._ctx_token is not None:
            otel_context.detach(self._ctx_token)
            self._ctx_token = None

    def finish(self, exc: BaseException | None, result_attributes: Mapping[str, Any] | None = None) -> None:
        try:
            elapsed = perf_counter() - self.start
            span = self.span
            failed = exc is not None and is_error(exc)
            if failed:
                assert exc is not None
                record_error(span, exc)
            elif result_attributes:
                span.set_attributes(result_attributes)
            span.end()
            if self.metrics is not None:
                self.metrics.record(elapsed, error_type(exc) if failed and exc is not None else None)
        except Exception:  # noqa: BLE001 - never let telemetry break the caller
            report_instrumentation_failure("span finish")


class UnsampledOperation(Operation):
    """A call the sampler drops: no span (the current one, not sampled or none, stays current),
    RED metrics and a correlation id as for any call; an outermost one's id is lazy (taken when
    something reads it: most dropped calls log nothing)."""

    __slots__ = ("lazy_cid",)

    def __init__(self, metrics: FunctionMetrics | None) -> None:  # no span to start: Operation's is not called
        cid = CURRENT_CORRELATION.get()
        self.lazy_cid = cid if cid is not None else LazyCorrelationId()
        self.metrics = metrics
        self._cid_token = None
        self.start = perf_counter()

    def enter(self) -> None:
        self._cid_token = CURRENT_CORRELATION.set(self.lazy_cid)

    def exit(self) -> None:
        if self._cid_token is not None:
            CURRENT_CORRELATION.reset(self._cid_token)
            self._cid_token = None

    def finish(self, exc: BaseException | None, result_attributes: Mapping[str, Any] | None = None) -> None:  # noqa: ARG002 - no span for them
        if self.metrics is not None:
            record_call(self.metrics, self.start, exc)


def record_call(metrics: FunctionMetrics, start: float, exc: BaseException | None) -> None:
    """The RED metrics of a call without a span, started at ``start`` (``perf_counter``), raising ``exc`` or not."""
    try:
        elapsed = perf_counter() - start
        metrics.record(elapsed, error_type(exc) if exc is not None and is_error(exc) else None)
    except Exception:  # noqa: BLE001 - never let telemetry break the caller
        report_instrumentation_failure("span finish")


def call_unsampled(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
                   metrics: FunctionMetrics | None) -> Any:
    """A plain function's call the sampler drops, as an ``UnsampledOperation`` runs it but without
    the object and its four method calls: most of a dropped call's cost, and the hot case (every
    call when sampling is off or the parent was dropped). Its context stays the caller's from start
    to end, so an inherited correlation id needs no setting; an outermost call's is lazy."""
    token = CURRENT_CORRELATION.set(LazyCorrelationId()) if CURRENT_CORRELATION.get() is None else None
    start = perf_counter()
    try:
        result = func(*args, **kwargs)
    except BaseException as exc:
        if token is not None:
            CURRENT_CORRELATION.reset(token)
        if metrics is not None:
            record_call(metrics, start, exc)
        raise
    if token is not None:
        CURRENT_CORRELATION.reset(token)
    if metrics is not None:
        try:  # record_call's work for a call that returned, one call less
            metrics.record(perf_counter() - start, None)
        except Exception:  # noqa: BLE001 - never let telemetry break the caller
            report_instrumentation_failure("span finish")
    return result


def drops_span() -> bool:
    """Whether otel-trading's tracer would drop a span started here now (see ``LeanTracer.drops``)."""
    tracer = STATE.tracer
    return type(tracer) is LeanTracer and tracer.drops()  # (inlined in the function wrapper: keep alike)


class NoOperation(Operation):
    """Stands in for an operation when telemetry is off, so wrappers keep one code path."""

    def __init__(self) -> None:  # nothing to start
        pass

    def enter(self) -> None:
        pass

    def exit(self) -> None:
        pass

    def finish(self, exc: BaseException | None, result_attributes: Mapping[str, Any] | None = None) -> None:
        pass


NO_OPERATION = NoOperation()
