"""The wrappers put around ccxt methods, and one instrumented exchange call.

Each call asks its ``Route`` where to record (see ``_route``). When there is nowhere
(otel-trading unconfigured or disabled and no OpenTelemetry provider installed), the wrapper
costs a context-variable read and two provider look-ups. Otherwise the outermost
instrumented call of a context opens a CLIENT span
and calls nested in it (``create_order`` loading markets first, ``create_limit_order``
calling ``create_order``, an exchange's ``fetch_open_orders`` calling ``fetch_orders``, a
subclass calling ``super()``) run unrecorded: one user call, one span, one request counted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine, Mapping
from contextvars import ContextVar
from typing import Any, Final

from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from otel_trading._state import STATE
from otel_trading.instrumentation._names import ERROR_TYPE, EXCHANGE, METHOD
from otel_trading.instrumentation.ccxt._errors import OTHER, ErrorClassifier, describe
from otel_trading.instrumentation.ccxt._methods import MethodSpec
from otel_trading.instrumentation.ccxt._metrics import TRACKER, exchange_id
from otel_trading.instrumentation.ccxt._orders import OrderCall
from otel_trading.instrumentation.ccxt._orders import begin as begin_orders
from otel_trading.instrumentation.ccxt._route import Recorder, Route
from otel_trading.instrumentation.ccxt._secrets import REGISTRY as CREDENTIALS
from otel_trading.tracing._operation import Operation, is_error, report_instrumentation_failure

# True while an instrumented ccxt call runs in this context (thread, task, or a task it spawned).
_IN_CALL: Final[ContextVar[bool]] = ContextVar("otel_trading_ccxt_in_call", default=False)
WRAPPED_MARKER: Final = "__otel_trading_ccxt_original__"


def _scrubbed(attributes: Mapping[str, AttributeValue]) -> dict[str, AttributeValue]:
    """String attributes through the redactor in force, for a pipeline that does not redact."""
    redactor = STATE.redactor
    return {key: redactor.scrub_text(value) if isinstance(value, str) and not redactor.is_clean_text(value)
            else value for key, value in attributes.items()}


class ExchangeCall:
    __slots__ = ("classify", "exchange", "exchange_id", "operation", "orders", "recorder", "spec")

    def __init__(self, exchange: Any, spec: MethodSpec, classify: ErrorClassifier,
                 args: tuple[Any, ...], kwargs: dict[str, Any], *, recorder: Recorder) -> None:
        key = exchange_id(exchange)
        attributes: dict[str, AttributeValue] = {EXCHANGE: key, METHOD: spec.name}
        spec.attributes(args, kwargs, attributes)
        TRACKER.track(exchange)
        CREDENTIALS.register(exchange)  # before scrubbing: its credentials are known secrets from now on
        if recorder.scrubs:
            attributes = _scrubbed(attributes)
        self.exchange = exchange
        self.exchange_id = key
        self.spec = spec
        self.classify = classify
        self.recorder = recorder
        self.operation = Operation(spec.span_name, attributes, SpanKind.CLIENT, None, recorder.tracer)
        # Before the request (an order starts when submitted); never raises.
        self.orders: OrderCall | None = begin_orders(exchange, key, spec.name, args, kwargs)
        self.operation.enter()  # last: nothing after it can fail and leave the context attached

    def succeed(self, result: Any) -> None:
        try:
            operation = self.operation
            operation.exit()
            elapsed = time.perf_counter() - operation.start
            span = operation.span
            if self.spec.result is not None and span.is_recording():
                attributes = self.spec.result(result)
                span.set_attributes(_scrubbed(attributes) if self.recorder.scrubs else attributes)
            span.end()
            self.recorder.record(self.exchange_id, self.spec.name, elapsed, None)
        except Exception:  # noqa: BLE001 - telemetry never breaks the caller
            report_instrumentation_failure("ccxt call finish")
        if self.orders is not None:
            self.orders.succeed(result)

    def fail(self, exc: BaseException) -> None:
        error_type: str | None = None
        try:
            operation = self.operation
            operation.exit()
            elapsed = time.perf_counter() - operation.start
            span = operation.span
            error_type = self.classify(exc) if is_error(exc) else None
            if error_type is not None and span.is_recording():
                message, stacktrace = describe(exc, self.exchange)
                span.set_attribute(ERROR_TYPE, error_type)
                span.record_exception(
                    exc, attributes={"exception.message": message, "exception.stacktrace": stacktrace}
                )
                span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {message}"))
            span.end()
            self.recorder.record(self.exchange_id, self.spec.name, elapsed, error_type)
        except Exception:  # noqa: BLE001 - the exchange's exception is what the caller must see
            report_instrumentation_failure("ccxt call error")
            if error_type is None and is_error(exc):
                error_type = OTHER
        if self.orders is not None:
            self.orders.fail(error_type)


def _begin(exchange: Any, spec: MethodSpec, classify: ErrorClassifier,
           args: tuple[Any, ...], kwargs: dict[str, Any], *, recorder: Recorder) -> ExchangeCall | None:
    try:
        return ExchangeCall(exchange, spec, classify, args, kwargs, recorder=recorder)
    except Exception:  # noqa: BLE001 - the call goes on uninstrumented
        report_instrumentation_failure("ccxt call start")
        return None


def _recorder(route: Route) -> Recorder | None:
    try:
        return route.recorder()
    except Exception:  # noqa: BLE001 - the call goes on uninstrumented
        report_instrumentation_failure("ccxt call route")
        return None


def sync_wrapper(original: Callable[..., Any], spec: MethodSpec, classify: ErrorClassifier,
                 route: Route) -> Callable[..., Any]:
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        if _IN_CALL.get():
            return original(self, *args, **kwargs)
        recorder = _recorder(route)
        if recorder is None:
            return original(self, *args, **kwargs)
        call = _begin(self, spec, classify, args, kwargs, recorder=recorder)
        guard = _IN_CALL.set(True)
        try:
            result = original(self, *args, **kwargs)
        except BaseException as exc:
            _IN_CALL.reset(guard)
            if call is not None:
                call.fail(exc)
            raise
        _IN_CALL.reset(guard)
        if call is not None:
            call.succeed(result)
        return result

    return _like(wrapper, original)


def async_wrapper(
    original: Callable[..., Coroutine[Any, Any, Any]], spec: MethodSpec, classify: ErrorClassifier, route: Route
) -> Callable[..., Coroutine[Any, Any, Any]]:
    async def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        if _IN_CALL.get():
            return await original(self, *args, **kwargs)
        recorder = _recorder(route)
        if recorder is None:
            return await original(self, *args, **kwargs)
        call = _begin(self, spec, classify, args, kwargs, recorder=recorder)
        guard = _IN_CALL.set(True)
        try:
            result = await original(self, *args, **kwargs)
        except BaseException as exc:
            _IN_CALL.reset(guard)
            if call is not None:
                call.fail(exc)
            raise
        _IN_CALL.reset(guard)
        if call is not None:
            call.succeed(result)
        return result

    return _like(wrapper, original)


def _follow(exchange: Any, spec: MethodSpec, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> None:
    orders = begin_orders(exchange, exchange_id(exchange), spec.name, args, kwargs)
    if orders is not None:
        orders.succeed(result)


def stream_wrapper(original: Callable[..., Any], spec: MethodSpec, is_async: bool) -> Callable[..., Any]:
    """A ccxt.pro ``watch_*`` method: no span (it waits for the venue's next push, it is not a
    request), its orders or trades advance the tracked orders (see ``_orders``)."""
    if is_async:
        async def async_wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            result = await original(self, *args, **kwargs)
            _follow(self, spec, args, kwargs, result)
            return result

        return _like(async_wrapper, original)

    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(self, *args, **kwargs)
        _follow(self, spec, args, kwargs, result)
        return result

    return _like(wrapper, original)


def _like(wrapper: Callable[..., Any], original: Callable[..., Any]) -> Callable[..., Any]:
    """functools.wraps, minus copying ``__dict__``: thousands of methods are wrapped at once."""
    for name in ("__module__", "__name__", "__qualname__", "__doc__"):
        setattr(wrapper, name, getattr(original, name))
    wrapper.__wrapped__ = original  # type: ignore[attr-defined]  # what inspect.signature() follows
    setattr(wrapper, WRAPPED_MARKER, original)
    return wrapper
