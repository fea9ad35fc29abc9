"""``@traced``: one decorator for functions, methods, coroutines, generators and async generators."""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import AsyncGenerator, Callable, Generator, Iterable, Mapping
from typing import Any, TypeVar, overload

from opentelemetry.trace import SpanKind

from otel_trading._state import STATE
from otel_trading.export._sanitize import coerce_attributes, coerce_value
from otel_trading.redaction import REDACTED
from otel_trading.tracing._lean import UNCHECKED, LeanTracer
from otel_trading.tracing._metrics import FunctionMetrics
from otel_trading.tracing._operation import (
    NO_OPERATION,
    Operation,
    UnsampledOperation,
    call_unsampled,
    drops_span,
    report_instrumentation_failure,
)

F = TypeVar("F", bound=Callable[..., Any])
ResultAttributes = Callable[[Any], Mapping[str, Any]]
_MISSING = object()
# Plain values keep their form as attributes and are scrubbed on the exporter thread.
_SCRUBBED_AT_EXPORT = (str, int, float, bool)
_PLAIN = frozenset({str, int, float, bool})  # what a span keeps as it is (no sequences)


class _Capture:
    """Where to read one captured argument from, decided once at decoration time."""

    __slots__ = ("default", "index", "key", "name", "secret")

    def __init__(self, name: str, key: str, index: int | None, default: Any, secret: bool) -> None:
        self.name, self.key, self.index, self.default, self.secret = name, key, index, default, secret


def _capture_plan(func: Callable[..., Any], capture: Iterable[str] | Mapping[str, str]) -> tuple[_Capture, ...]:
    names = dict(capture) if isinstance(capture, Mapping) else {name: name for name in capture}
    if not names:
        return ()
    parameters = inspect.signature(func).parameters
    plan = []
    positional = [
        p.name for p in parameters.values()
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    for name, key in names.items():
        parameter = parameters.get(name)
        if parameter is None or parameter.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            raise ValueError(
                f"@traced(capture=...) on {func.__qualname__}: {name!r} is not a named parameter; "
                f"expected one of {list(parameters)}"
            )
        default = _MISSING if parameter.default is inspect.Parameter.empty else parameter.default
        index = positional.index(name) if name in positional else None
        plan.append(_Capture(name, key, index, default, STATE.redactor.is_secret_key(name)))
    return tuple(plan)


def _longest_checked(static: Mapping[str, Any], capture: Iterable[_Capture]) -> int | None:
    """The longest string among the attributes every call has (the constant ones, ``[REDACTED]`` for a
    secret argument), or None when a key or a constant value is not one a span keeps as it is."""
    keys = [*static, *(item.key for item in capture)]
    if not all(type(key) is str and key for key in keys) or not all(type(v) in _PLAIN for v in static.values()):
        return None
    lengths = [len(v) for v in static.values() if type(v) is str]
    if any(item.secret for item in capture):
        lengths.append(len(REDACTED))
    return max(lengths, default=0)


class _Instrumented:
    """Everything one decorated function needs per call, computed at decoration time."""

    __slots__ = ("attributes", "capture", "kind", "metrics", "name", "result_attributes", "static_longest")

    def __init__(self, func: Callable[..., Any], *, name: str | None, attributes: Mapping[str, Any] | None,
                 capture: Iterable[str] | Mapping[str, str], capture_result: ResultAttributes | None,
                 kind: SpanKind, record_metrics: bool) -> None:
        qualified = f"{func.__module__}.{func.__qualname__}"
        redactor = STATE.redactor
        # Not cut here: the length limit in force when a span is recorded applies (the SDK's span limits).
        static = coerce_attributes(redactor.scrub_mapping(attributes or {}), None)
        static["code.function.name"] = qualified
        self.attributes = static
        self.name = name or func.__qualname__
        self.kind = kind
        self.capture = _capture_plan(func, capture)
        self.result_attributes = capture_result
        self.metrics = FunctionMetrics(qualified) if record_metrics else None
        self.static_longest = _longest_checked(static, self.capture)

    def start_operation(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Operation | None:
        """The call's operation, sampled or not (None: instrumentation failed, run the call bare)."""
        if drops_span():  # not sampled: no attributes to capture
            return UnsampledOperation(self.metrics)
        return self.start(args, kwargs)

    def start(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Operation | None:
        """The operation of a call the sampler does not drop (None: instrumentation failed, run the call bare)."""
        try:
            attributes = dict(self.attributes)
            max_length = STATE.max_attribute_length  # the configuration in force now, not at decoration
            # What the span may take as it is (LeanTracer.start_span): every value below is checked
            # against max_length, the constant ones were at decoration (static_longest).
            within = sys.maxsize if max_length is None else max_length
            if self.static_longest is None or self.static_longest > within:
                within = UNCHECKED
            positional = len(args)
            for item in self.capture:
                if item.secret:
                    attributes[item.key] = REDACTED
                    continue
                index = item.index
                if index is not None and index < positional:
                    value = args[index]
                else:
                    value = kwargs.get(item.name, item.default)
                    if value is _MISSING:
                        continue
                kind = type(value)
                if kind is float or kind is int or kind is bool or (
                        kind is str and (max_length is None or len(value) <= max_length)):
                    attributes[item.key] = value  # what coerce_value would give, without the call
                    continue
                if not isinstance(value, _SCRUBBED_AT_EXPORT):
                    # A container loses its keys once coerced to text: scrub it while it has them.
                    value = STATE.redactor.scrub_value(item.name, value)
                coerced = coerce_value(value, max_length)
                if coerced is not None:
                    attributes[item.key] = coerced
                    if type(coerced) not in _PLAIN:  # a sequence: the span cleans it
                        within = UNCHECKED
            return Operation(self.name, attributes, self.kind, self.metrics, checked_within=within)
        except Exception:  # noqa: BLE001 - instrumentation must never stop the call
            report_instrumentation_failure("span start")
            return None

    def result(self, value: Any) -> Mapping[str, Any] | None:
        if self.result_attributes is None:
            return None
        try:
            return coerce_attributes(STATE.redactor.scrub_mapping(self.result_attributes(value)),
                                     STATE.max_attribute_length)
        except Exception:  # noqa: BLE001 - a failing capture_result must not fail the call
            report_instrumentation_failure("capture_result")
            return None


def _wrap_function(func: Callable[..., Any], inst: _Instrumented) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not STATE.enabled:
            return func(*args, **kwargs)
        tracer = STATE.tracer
        if type(tracer) is LeanTracer and tracer.drops():  # drops_span() inlined: the hot case when sampling is off
            return call_unsampled(func, args, kwargs, inst.metrics)
        op = inst.start(args, kwargs)
        if op is None:
            return func(*args, **kwargs)
        op.enter()
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:
            op.exit()
            op.finish(exc)
            raise
        op.exit()
        op.finish(None, inst.result(result) if inst.result_attributes is not None else None)
        return result

    return wrapper


def _wrap_coroutine(func: Callable[..., Any], inst: _Instrumented) -> Callable[..., Any]:
    @functools.wraps(func)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not STATE.enabled:
            return await func(*args, **kwargs)
        op = inst.start_operation(args, kwargs)
        if op is None:
            return await func(*args, **kwargs)
        op.enter()
        try:
            result = await func(*args, **kwargs)
        except BaseException as exc:
            op.exit()
            op.finish(exc)
            raise
        op.exit()
        op.finish(None, inst.result(result))
        return result

    return wrapper


def _wrap_generator(func: Callable[..., Any], inst: _Instrumented) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        generator = func(*args, **kwargs)
        op = inst.start_operation(args, kwargs) if STATE.enabled else None
        if op is None:
            return (yield from generator)
        # The span covers the whole iteration; the generator body runs with it active at
        # each step, but the consumer's context is never changed between steps.
        to_send: Any = None
        pending: BaseException | None = None
        try:
            while True:
                op.enter()
                try:
                    item = generator.throw(pending) if pending is not None else generator.send(to_send)
                except StopIteration as stop:
                    result = stop.value
                    break
                finally:
                    op.exit()
                pending = None
                try:
                    to_send = yield item
                except GeneratorExit:
                    op.enter()
                    try:
                        generator.close()
                    finally:
                        op.exit()
                    raise
                except BaseException as exc:  # noqa: BLE001 - thrown in by the consumer: forwarded to the generator
                    pending = exc
        except BaseException as exc:
            op.finish(exc)
            raise
        op.finish(None, inst.result(result))
        return result

    return wrapper


def _wrap_async_generator(func: Callable[..., Any], inst: _Instrumented) -> Callable[..., Any]:
    @functools.wraps(func)
    async def wrapper(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
        generator = func(*args, **kwargs)
        # There is no `yield from` for async generators: the same loop forwards asend/athrow
        # when telemetry is off, with an operation that does nothing.
        op = (inst.start_operation(args, kwargs) if STATE.enabled else None) or NO_OPERATION
        to_send: Any = None
        pending: BaseException | None = None
        try:
            while True:
                op.enter()
                try:
                    if pending is not None:
                        item = await generator.athrow(pending)
                    else:
                        item = await generator.asend(to_send)
                except StopAsyncIteration:
                    break
                finally:
                    op.exit()
                pending = None
                try:
                    to_send = yield item
                except GeneratorExit:
                    op.enter()
                    try:
                        await generator.aclose()
                    finally:
                        op.exit()
                    raise
                except BaseException as exc:  # noqa: BLE001 - thrown in by the consumer: forwarded to the generator
                    pending = exc
        except BaseException as exc:
            op.finish(exc)
            raise
        op.finish(None)

    return wrapper


@overload
def traced(func: F, /) -> F: ...


@overload
def traced(
    func: None = None,
    /,
    *,
    name: str | None = None,
    attributes: Mapping[str, Any] | None = None,
    capture: Iterable[str] | Mapping[str, str] = (),
    capture_result: ResultAttributes | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
    record_metrics: bool = True,
) -> Callable[[F], F]: ...


def traced(
    func: F | None = None,
    /,
    *,
    name: str | None = None,
    attributes: Mapping[str, Any] | None = None,
    capture: Iterable[str] | Mapping[str, str] = (),
    capture_result: ResultAttributes | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
    record_metrics: bool = True,
) -> F | Callable[[F], F]:
    """Traces every call of the decorated function as a span, with RED metrics.

    Works bare (``@traced``) or with options, on plain functions, methods, ``async def``,
    generators and async generators (the span covers the whole iteration).

    Args:
        name: span name; defaults to the function's ``__qualname__``.
        attributes: constant span attributes.
        capture: argument names whose values become span attributes - an explicit
            allowlist; a mapping renames them (``{"symbol": "trading.symbol"}``). Arguments
            whose name looks secret are recorded as ``[REDACTED]``.
        capture_result: called with the return value; returns attributes to add.
        kind: the OTel span kind (CLIENT for exchange calls, for example).
        record_metrics: emit ``otel_trading.function.{calls,errors,duration}``.

    Exceptions are recorded on the span (status ERROR, ``error.type``, an ``exception``
    event) and re-raised unchanged.
    """

    def decorate(fn: F) -> F:
        inst = _Instrumented(fn, name=name, attributes=attributes, capture=capture, capture_result=capture_result,
                             kind=kind, record_metrics=record_metrics)
        if inspect.isasyncgenfunction(fn):
            wrapped = _wrap_async_generator(fn, inst)
        elif inspect.isgeneratorfunction(fn):
            wrapped = _wrap_generator(fn, inst)
        elif inspect.iscoroutinefunction(fn):
            wrapped = _wrap_coroutine(fn, inst)
        else:
            wrapped = _wrap_function(fn, inst)
        return wrapped  # type: ignore[return-value]  # functools.wraps keeps the signature

    if func is not None:
        return decorate(func)
    return decorate
