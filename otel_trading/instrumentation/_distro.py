"""``opentelemetry-instrument`` support: a distro and a configurator that set up otel-trading.

``opentelemetry-instrument python bot.py`` loads, before ``bot.py`` runs, one distro
(``opentelemetry_distro`` entry point: ``OTEL_PYTHON_DISTRO``, else the first found), then one
configurator (``opentelemetry_configurator``: ``OTEL_PYTHON_CONFIGURATOR``, else the first found),
then every instrumentor (``opentelemetry_instrumentor``, ccxt among them).

Exactly one SDK setup must be in force, whichever of ours and another one (``opentelemetry-distro``,
a vendor's) the command picks. So our distro builds nothing: it makes ours the default
configurator, and the configurator alone calls ``otel_trading.configure()`` (no arguments: the
``OTEL_*`` / ``OTEL_TRADING_*`` environment decides). When another configurator is chosen, it
sets up the global providers and otel-trading stays unconfigured; the instrumentors then record
through those global providers.
"""

from __future__ import annotations

import os
from typing import Any, Final

# This module opts out of type checking (a file-level ``# type: ignore``): mypy sees no names in it.
from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]

from otel_trading._otel_compat import BaseConfigurator, EntryPoint
from otel_trading.config._configure import configure, current

# The configurator's entry point name (pyproject.toml), and the variable opentelemetry-instrument reads.
CONFIGURATOR_NAME: Final = "otel_trading"
_CONFIGURATOR_VARIABLE: Final = "OTEL_PYTHON_CONFIGURATOR"


def configure_from_environment() -> None:
    """Configures otel-trading from the environment, unless the process is configured already."""
    if current() is None:
        configure()


class OtelTradingDistro(BaseDistro):  # type: ignore[misc]  # BaseDistro is Any to mypy (see above)
    """Makes our configurator the one that runs, and skips instrumentors that are already on."""

    def _configure(self, **_kwargs: Any) -> None:
        # opentelemetry-instrument reads the variable after this: the upstream configurator, found
        # first, would otherwise build a second SDK setup next to ours. An explicit choice stays.
        os.environ.setdefault(_CONFIGURATOR_VARIABLE, CONFIGURATOR_NAME)

    def load_instrumentor(self, entry_point: EntryPoint, **kwargs: Any) -> None:
        instrumentor = entry_point.load()()
        # configure() may have switched it on already (OTEL_TRADING_INSTRUMENT=ccxt, system
        # metrics): a second instrument() would only log "already instrumented".
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument(**kwargs)


class OtelTradingConfigurator(BaseConfigurator):
    """The configurator step of opentelemetry-instrument: configure otel-trading from the environment."""

    def _configure(self, **_kwargs: Any) -> None:
        configure_from_environment()
