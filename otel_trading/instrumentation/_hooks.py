"""What the framework integrations share: hooks that never raise into the framework, and
method patches that can be undone.

A framework calls our code from inside its own loop (an Analyzer's ``notify_order``, a
message-bus handler, a strategy callback). An exception escaping from there would change the
framework's run, or stop it. Every such entry point is wrapped with :func:`guarded`: a failure
is counted in ``otel_trading.instrumentation.failures{where}``, logged once with its
traceback, and the hook returns ``None``: the framework goes on as if we were not there.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, ParamSpec, TypeVar

from otel_trading.tracing._operation import report_instrumentation_failure

_P = ParamSpec("_P")
_R = TypeVar("_R")
_MARKER: Final = "__otel_trading_original__"


def guarded(where: str) -> Callable[[Callable[_P, _R]], Callable[_P, _R | None]]:
    """Decorates a hook so that no exception of ours reaches the framework (``where`` names it)."""

    def decorate(function: Callable[_P, _R]) -> Callable[_P, _R | None]:
        @functools.wraps(function)
        def hook(*args: _P.args, **kwargs: _P.kwargs) -> _R | None:
            try:
                return function(*args, **kwargs)
            except Exception:  # noqa: BLE001 - the framework's run must not see our failures
                report_instrumentation_failure(where)
                return None

        return hook

    return decorate


@dataclass(frozen=True)
class MethodPatch:
    """One method of a framework class replaced by a wrapper; :meth:`undo` puts it back."""

    owner: type
    name: str
    original: Callable[..., Any]
    inherited: bool  # the method came from a base class: undoing removes ours from ``owner``

    def undo(self) -> None:
        # Only our own wrapper is removed: something patched on top of it since stays.
        if getattr(self.owner.__dict__.get(self.name), _MARKER, None) is not self.original:
            return
        if self.inherited:
            delattr(self.owner, self.name)
        else:
            setattr(self.owner, self.name, self.original)


def wrap_method(
    owner: type, name: str, make_wrapper: Callable[[Callable[..., Any]], Callable[..., Any]]
) -> MethodPatch | None:
    """Replaces the plain method ``owner.name`` by ``make_wrapper(original)``; None when it is wrapped already.

    The wrapper looks like the original (``functools.wraps``) and carries a marker, so wrapping
    twice (two ``instrument()`` calls, two integrations) wraps once. An inherited method is
    wrapped on ``owner`` only. Not for static or class methods.
    """
    inherited = name not in owner.__dict__
    original = getattr(owner, name)
    if getattr(original, _MARKER, None) is not None:
        return None
    wrapper = functools.wraps(original)(make_wrapper(original))
    setattr(wrapper, _MARKER, original)
    setattr(owner, name, wrapper)
    return MethodPatch(owner, name, original, inherited)


def is_wrapped(function: object) -> bool:
    """True for a method replaced by :func:`wrap_method`."""
    return getattr(function, _MARKER, None) is not None


__all__ = ["MethodPatch", "guarded", "is_wrapped", "wrap_method"]
