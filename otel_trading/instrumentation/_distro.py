"""``opentelemetry-instrument`` support: a distro and a configurator that set up otel-trading.

``opentelemetry-instrument python bot.py`` loads, before ``bot.py`` runs, the distro
(``opentelemetry_distro`` entry point), then one configurator (``opentelemetry_configurator``),
then every instrumentor (``opentelemetry_instrumentor``, ccxt among them). Both of ours call
``otel_trading.configure()`` with no arguments, so the ``OTEL_*`` / ``OTEL_TRADING_*``
environment decides everything, and only the first call builds anything. When other distros
are installed too, choose ours with ``OTEL_PYTHON_DISTRO=otel_trading`` and
``OTEL_PYTHON_CONFIGURATOR=otel_trading``.
"""

from __future__ import annotations

from typing import Any

# This module opts out of type checking (a file-level ``# type: ignore``): mypy sees no names in it.
from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]
from opentelemetry.sdk._configuration import _BaseConfigurator
from opentelemetry.util._importlib_metadata import EntryPoint

from otel_trading.config._configure import configure, current


def configure_from_environment() -> None:
    """Configures otel-trading from the environment, unless the process is configured already."""
    if current() is None:
        configure()


class OtelTradingDistro(BaseDistro):  # type: ignore[misc]  # BaseDistro is Any to mypy (see above)
    """Configures otel-trading first, and skips instrumentors that are already on."""

    def _configure(self, **_kwargs: Any) -> None:
        configure_from_environment()

    def load_instrumentor(self, entry_point: EntryPoint, **kwargs: Any) -> None:
        instrumentor = entry_point.load()()
        # configure() may have switched it on already (OTEL_TRADING_INSTRUMENT=ccxt, system
        # metrics): a second instrument() would only log "already instrumented".
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument(**kwargs)


class OtelTradingConfigurator(_BaseConfigurator):
    """The configurator step of opentelemetry-instrument: configure otel-trading from the environment."""

    def _configure(self, **_kwargs: Any) -> None:
        configure_from_environment()
