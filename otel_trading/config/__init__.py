"""configure(), the Telemetry it returns, and the settings it resolves.

The names are loaded when first used: a light module of this package (the settings, the OTLP
environment) is imported by the CLI's parser, which must not set up the SDK's pipelines.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from otel_trading._lazy import lazy_attributes

if TYPE_CHECKING:
    from otel_trading.config._configure import Telemetry, configure, current, shutdown
    from otel_trading.config._settings import ConfigurationError, ConfigureOptions

_WHERE = {
    "ConfigurationError": "otel_trading.config._settings",
    "ConfigureOptions": "otel_trading.config._settings",
    "Telemetry": "otel_trading.config._configure",
    "configure": "otel_trading.config._configure",
    "current": "otel_trading.config._configure",
    "shutdown": "otel_trading.config._configure",
}


__getattr__, __dir__ = lazy_attributes(globals(), _WHERE)

__all__ = ["ConfigurationError", "ConfigureOptions", "Telemetry", "configure", "current", "shutdown"]
