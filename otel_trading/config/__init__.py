"""configure(), the Telemetry it returns, and the settings it resolves."""

from otel_trading.config._configure import Telemetry, configure, current, shutdown
from otel_trading.config._settings import ConfigurationError, ConfigureOptions

__all__ = ["ConfigurationError", "ConfigureOptions", "Telemetry", "configure", "current", "shutdown"]
