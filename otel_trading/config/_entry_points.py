"""Exporters and samplers registered through the standard OpenTelemetry entry points.

``OTEL_TRACES_EXPORTER=zipkin`` or ``OTEL_TRACES_SAMPLER=xray`` name a component that a
package registers in ``opentelemetry_traces_exporter`` / ``opentelemetry_traces_sampler``
(and so on), as the SDK's own auto-configuration reads them.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Final, Literal

from otel_trading.config._parse import ConfigurationError

ExporterSignal = Literal["traces", "metrics", "logs"]
EXPORTER_GROUPS: Final[dict[ExporterSignal, str]] = {
    "traces": "opentelemetry_traces_exporter",
    "metrics": "opentelemetry_metrics_exporter",
    "logs": "opentelemetry_logs_exporter",
}
SAMPLER_GROUP: Final = "opentelemetry_traces_sampler"


def registered_names(group: str) -> frozenset[str]:
    """The entry point names of ``group`` in the installed distributions."""
    return frozenset(point.name for point in entry_points(group=group))


def load_registered(group: str, name: str, source: str) -> object:
    """The object the entry point ``name`` of ``group`` names, imported.

    A missing entry point or one that fails to import is a ConfigurationError naming ``source``.
    """
    points = list(entry_points(group=group, name=name))
    if not points:
        raise ConfigurationError(
            f"{source}: {name!r} is not registered in the {group!r} entry points; "
            f"expected one of {sorted(registered_names(group))}"
        )
    try:
        return points[0].load()
    except Exception as exc:  # noqa: BLE001 - a plugin's import may fail in any way: reported, not raised as is
        raise ConfigurationError(
            f"{source}: the {group!r} entry point {name!r} ({points[0].value}) could not be loaded: "
            f"{type(exc).__name__}: {exc}"
        ) from None


def load_exporter(signal: ExporterSignal, name: str, source: str) -> type:
    """The exporter class registered as ``name`` for ``signal``, checked to be one.

    Metrics take a push ``MetricExporter`` or a pull ``MetricReader``, as the SDK does.
    """
    from opentelemetry.sdk.metrics.export import MetricExporter, MetricReader
    from opentelemetry.sdk.trace.export import SpanExporter

    from otel_trading._otel_compat import LogRecordExporter

    expected: dict[ExporterSignal, tuple[type, ...]] = {
        "traces": (SpanExporter,), "metrics": (MetricExporter, MetricReader), "logs": (LogRecordExporter,),
    }
    loaded = load_registered(EXPORTER_GROUPS[signal], name, source)
    kinds = expected[signal]
    if not (isinstance(loaded, type) and issubclass(loaded, kinds)):
        raise ConfigurationError(
            f"{source}: the {EXPORTER_GROUPS[signal]!r} entry point {name!r} is {loaded!r}, "
            f"not a subclass of {' or '.join(kind.__name__ for kind in kinds)}"
        )
    return loaded
