"""Installing our providers as the OTel globals, and replacing them on reconfiguration.

The OTel API lets each global provider be set once per process. ``configure()`` may run
again (new settings, test captures), so when the current global is *ours* we reset the
API's set-once guard before installing the new one - what opentelemetry-test-utils does.
A provider installed by someone else is never replaced.
"""

from __future__ import annotations

import logging
from typing import Any

from opentelemetry import _logs, metrics, trace
from opentelemetry._logs import _internal as _logs_internal
from opentelemetry.metrics import _internal as _metrics_internal
from opentelemetry.util._once import Once

_LOG = logging.getLogger("otel_trading")
_ours: dict[str, Any] = {}


def _install(kind: str, module: Any, attr: str, once_attr: str, *, provider: Any, setter: Any, getter: Any) -> None:
    current = getattr(module, attr)
    if current is not None and current is not _ours.get(kind):
        _LOG.warning(
            "a global %s provider was installed by other code; otel-trading uses its own for "
            "its telemetry and leaves the global one alone", kind,
        )
        return
    if current is not None:
        setattr(module, once_attr, Once())
        setattr(module, attr, None)
    setter(provider)
    if getter() is provider:
        _ours[kind] = provider


def install_globals(tracer_provider: Any, meter_provider: Any, logger_provider: Any) -> None:
    _install("tracer", trace, "_TRACER_PROVIDER", "_TRACER_PROVIDER_SET_ONCE", provider=tracer_provider,
             setter=trace.set_tracer_provider, getter=trace.get_tracer_provider)
    _install("meter", _metrics_internal, "_METER_PROVIDER", "_METER_PROVIDER_SET_ONCE", provider=meter_provider,
             setter=metrics.set_meter_provider, getter=metrics.get_meter_provider)
    _install("logger", _logs_internal, "_LOGGER_PROVIDER", "_LOGGER_PROVIDER_SET_ONCE", provider=logger_provider,
             setter=_logs.set_logger_provider, getter=_logs.get_logger_provider)
