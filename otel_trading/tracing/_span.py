"""``span(name, **attributes)``: a span as a sync or async context manager."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind

from otel_trading._state import STATE
from otel_trading.export._sanitize import coerce_attributes
from otel_trading.tracing._operation import (
    Operation,
    UnsampledOperation,
    drops_span,
    report_instrumentation_failure,
)

_NON_RECORDING = trace.INVALID_SPAN


class span:
    """Opens a span for the block; yields the OTel span so attributes/events can be added.

    Usable as ``with span(...)`` and ``async with span(...)``. An exception leaving the
    block is recorded on the span and propagates unchanged.
    """

    __slots__ = ("_attributes", "_kind", "_name", "_op")

    def __init__(self, name: str, *, kind: SpanKind = SpanKind.INTERNAL, **attributes: Any) -> None:
        self._name = name
        self._kind = kind
        self._attributes = attributes
        self._op: Operation | None = None

    def __enter__(self) -> trace.Span:
        if not STATE.enabled:
            return _NON_RECORDING
        try:
            if drops_span():  # not sampled: no span, the block runs in the current one
                op: Operation = UnsampledOperation(None)
                op.enter()
                self._op = op
                return _NON_RECORDING
            attributes = coerce_attributes(STATE.redactor.scrub_mapping(self._attributes), STATE.max_attribute_length)
            op = Operation(self._name, attributes, self._kind, None)
        except Exception:  # noqa: BLE001 - instrumentation must never stop the block
            report_instrumentation_failure("span()")
            return _NON_RECORDING
        op.enter()
        self._op = op
        return op.span

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        op, self._op = self._op, None
        if op is not None:
            op.exit()
            op.finish(exc)

    async def __aenter__(self) -> trace.Span:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, traceback)
