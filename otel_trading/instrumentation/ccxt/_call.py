"""The wrappers put around ccxt methods, and one instrumented exchange call.

A wrapper costs an attribute read and a call while otel-trading is disabled or
unconfigured. Enabled, the outermost instrumented call of a context opens a CLIENT span
and calls nested in it (``create_order`` loading markets first, ``create_limit_order``
calling ``create_order``, an exchange's ``fetch_open_orders`` calling ``fetch_orders``, a
subclass calling ``super()``) run unrecorded: one user call, one span, one request counted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from typing import Any, Final

from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from otel_trading._state import STATE
from otel_trading.instrumentation._names import ERROR_TYPE, EXCHANGE, METHOD
from otel_trading.instrumentation.ccxt._errors import ErrorClassifier, describe
from otel_trading.instrumentation.ccxt._methods import MethodSpec
from otel_trading.instrumentation.ccxt._metrics import METRICS, TRACKER, exchange_id
from otel_trading.instrumentation.ccxt._secrets import REGISTRY as CREDENTIALS
from otel_trading.tracing._operation import Operation, is_error, report_instrumentation_failure

# True while an instrumented ccxt call runs in this context (thread, task, or a task it spawned).
_IN_CALL: Final[ContextVar[bool]] = ContextVar("otel_trading_ccxt_in_call", default=False)
WRAPPED_MARKER: Final = "__otel_trading_ccxt_original__"


class ExchangeCall:
    __slots__ = ("classify", "exchange", "exchange_id", "operation", "spec")

    def __init__(self, exchange: Any, spec: MethodSpec, classify: ErrorClassifier,
                 args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        key = exchange_id(exchange)
        attributes: dict[str, AttributeValue] = {EXCHANGE: key, METHOD: spec.name}
        spec.attributes(args, kwargs, attributes)
        TRACKER.track(exchange)
        CREDENTIALS.register(exchange)
        self.exchange = exchange
        self.exchange_id = key
        self.spec = spec
        self.classify = classify
        self.operation = Operation(spec.span_name, attributes, SpanKind.CLIENT, None)
        self.operation.enter()  # last: nothing after it can fail and leave the context attached

    def succeed(self, result: Any) -> None:
        try:
            operation = self.operation
            operation.exit()
            elapsed = time.perf_counter() - operation.start
            span = operation.span
            if self.spec.result is not None and span.is_recording():
                span.set_attributes(self.spec.result(result))
            span.end()
            METRICS.record(self.exchange_id, self.spec.name, elapsed, None)
        except Exception:  # noqa: BLE001 - telemetry never breaks the caller
            report_instrumentation_failure("ccxt call finish")

    def fail(self, exc: BaseException) -> None:
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
            METRICS.record(self.exchange_id, self.spec.name, elapsed, error_type)
        except Exception:  # noqa: BLE001 - the exchange's exception is what the caller must see
            report_instrumentation_failure("ccxt call error")


def _begin(exchange: Any, spec: MethodSpec, classify: ErrorClassifier,
           args: tuple[Any, ...], kwargs: dict[str, Any]) -> ExchangeCall | None:
    try:
        return ExchangeCall(exchange, spec, classify, args, kwargs)
    except Exception:  # noqa: BLE001 - the call goes on uninstrumented
        report_instrumentation_failure("ccxt call start")
        return None


def sync_wrapper(original: Callable[..., Any], spec: MethodSpec, classify: ErrorClassifier) -> Callable[..., Any]:
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not STATE.enabled or _IN_CALL.get():
            return original(self, *args, **kwargs)
        call = _begin(self, spec, classify, args, kwargs)
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
    original: Callable[..., Coroutine[Any, Any, Any]], spec: MethodSpec, classify: ErrorClassifier
) -> Callable[..., Coroutine[Any, Any, Any]]:
    async def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not STATE.enabled or _IN_CALL.get():
            return await original(self, *args, **kwargs)
        call = _begin(self, spec, classify, args, kwargs)
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


def _like(wrapper: Callable[..., Any], original: Callable[..., Any]) -> Callable[..., Any]:
    """functools.wraps, minus copying ``__dict__``: thousands of methods are wrapped at once."""
    for name in ("__module__", "__name__", "__qualname__", "__doc__"):
        setattr(wrapper, name, getattr(original, name))
    wrapper.__wrapped__ = original  # type: ignore[attr-defined]  # what inspect.signature() follows
    setattr(wrapper, WRAPPED_MARKER, original)
    return wrapper
