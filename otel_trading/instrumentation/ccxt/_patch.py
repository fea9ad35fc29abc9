"""Finding ccxt's exchange classes and swapping their methods for wrappers, reversibly.

Every concrete exchange overrides most unified methods (``binance.create_order`` is not
``Exchange.create_order``), so patching the base class alone would miss them. Instead each
method is wrapped in every ccxt class whose own ``__dict__`` defines it: the base classes
of sync ``ccxt`` and ``ccxt.async_support`` and all their subclasses loaded at that moment
(``ccxt.pro`` ones included when ``ccxt.pro`` was imported). About 3,000 functions for
ccxt 4.5; wrapping them all takes a few milliseconds, and calls pay nothing extra for
being looked up.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from types import FunctionType
from typing import Any, NamedTuple

from otel_trading.instrumentation.ccxt._call import WRAPPED_MARKER
from otel_trading.instrumentation.ccxt._methods import MethodSpec


class Patch(NamedTuple):
    owner: type
    name: str
    original: FunctionType
    wrapper: Callable[..., Any]


def _is_ccxt(cls: type) -> bool:
    # User subclasses are left alone: their overrides reach ccxt's methods through super().
    return cls.__module__ == "ccxt" or cls.__module__.startswith("ccxt.")


def exchange_classes(roots: Iterable[type]) -> list[type]:
    """The ccxt classes in the roots' MROs (where base methods live) and all their ccxt subclasses."""
    found: dict[type, None] = {}
    pending: list[type] = []
    for root in roots:
        for cls in root.__mro__:
            if _is_ccxt(cls):
                found[cls] = None
        pending.append(root)
    while pending:
        subclasses: list[type] = pending.pop().__subclasses__()
        for sub in subclasses:
            if sub not in found and _is_ccxt(sub):
                found[sub] = None
                pending.append(sub)
    return list(found)


def is_wrapper(function: object) -> bool:
    return hasattr(function, WRAPPED_MARKER)


def patch(
    classes: Iterable[type],
    methods: Mapping[str, MethodSpec],
    wrap: Callable[[FunctionType, MethodSpec, bool], Callable[..., Any]],
) -> list[Patch]:
    """Wraps ``methods`` where each class defines them; all or nothing."""
    patches: list[Patch] = []
    try:
        for owner in classes:
            namespace = owner.__dict__
            for name, spec in methods.items():
                original = namespace.get(name)
                if not isinstance(original, FunctionType) or is_wrapper(original):
                    continue
                wrapper = wrap(original, spec, inspect.iscoroutinefunction(original))
                setattr(owner, name, wrapper)
                patches.append(Patch(owner, name, original, wrapper))
    except BaseException:
        unpatch(patches)
        raise
    return patches


def unpatch(patches: Iterable[Patch]) -> None:
    """Puts the original functions back, unless something else replaced our wrapper since."""
    for item in reversed(list(patches)):
        if item.owner.__dict__.get(item.name) is item.wrapper:
            setattr(item.owner, item.name, item.original)
