"""Public names a package imports on first use (PEP 562), so ``import otel_trading`` stays cheap.

The pytest plugin imports ``otel_trading.testing`` in every pytest run of a user's project:
neither that nor ``import otel_trading`` may pull in the OpenTelemetry SDK before it is used.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any


def lazy_attributes(
    namespace: MutableMapping[str, Any], where: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of a package whose name ``n`` lives in module ``where[n]``.

    A name is imported once, then kept in the package's ``namespace`` (its ``globals()``).
    """

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {namespace['__name__']!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *where})

    return __getattr__, __dir__
