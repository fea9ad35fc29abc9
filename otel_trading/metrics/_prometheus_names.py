"""OTel metric and attribute names as Prometheus names, per the OpenTelemetry specification's
Prometheus compatibility rules (specification/compatibility/prometheus_and_openmetrics.md,
"Metric Metadata" and "Metric Attributes"), as the OTel Prometheus exporter applies them.

Ours rather than the exporter's (its mapping module is private): alert rules and the metric
catalog name series exactly as a scrape shows them; ``tests/test_prometheus_names.py`` holds
this mapping to the exporter's real output for every catalog metric.
"""

from __future__ import annotations

import re
from typing import Final

_INVALID_IN_NAME: Final = re.compile(r"[^a-zA-Z0-9:]+")
_INVALID_IN_LABEL: Final = re.compile(r"[^a-zA-Z0-9]+")  # as a name, without ":"
_ANNOTATION: Final = re.compile(r"{.*}")  # UCUM annotations such as {order} name no unit
# UCUM units to Prometheus' unit words (the specification's table, as the Collector's translator has it).
_UNITS: Final = {
    "d": "days", "h": "hours", "min": "minutes", "s": "seconds", "ms": "milliseconds", "us": "microseconds",
    "ns": "nanoseconds",
    "By": "bytes", "KiBy": "kibibytes", "MiBy": "mebibytes", "GiBy": "gibibytes", "TiBy": "tibibytes",
    "KBy": "kilobytes", "MBy": "megabytes", "GBy": "gigabytes", "TBy": "terabytes",
    "m": "meters", "V": "volts", "A": "amperes", "J": "joules", "W": "watts", "g": "grams",
    "Cel": "celsius", "Hz": "hertz", "1": "", "%": "percent",
}
# The denominator of a "per" unit (m/s: meters_per_second), singular.
_PER_UNITS: Final = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week", "mo": "month", "y": "year"}


def _leading_digit(text: str) -> str:
    return "_" + text[1:] if text and text[0].isdigit() else text


def metric_name(name: str) -> str:
    """An OTel metric name with every run of characters Prometheus does not allow as one ``_``."""
    return _INVALID_IN_NAME.sub("_", _leading_digit(name))


def label_name(key: str) -> str:
    """An OTel attribute key as a Prometheus label name (as a metric name, without ``:``)."""
    return _INVALID_IN_LABEL.sub("_", _leading_digit(key))


def unit_suffix(unit: str) -> str:
    """The suffix a unit adds to the series name: ``s`` -> ``seconds``, ``By/s`` -> ``bytes_per_second``,
    ``{order}`` -> nothing."""
    unit = _ANNOTATION.sub("", unit)
    if unit in _UNITS:
        return _UNITS[unit]
    top, slash, bottom = unit.partition("/")
    if slash:
        bottom = _INVALID_IN_NAME.sub("_", bottom)
        if bottom:
            top = _INVALID_IN_NAME.sub("_", top)
            top = _UNITS.get(top, top)
            bottom = _PER_UNITS.get(bottom, bottom)
            return f"{top}_per_{bottom}" if top else f"per_{bottom}"
    return _INVALID_IN_NAME.sub("_", unit).strip("_")


def series_name(name: str, unit: str, *, counter: bool) -> str:
    """The series name of an OTel metric in Prometheus (histograms: the base of ``_bucket``/``_sum``/``_count``):
    the unit's suffix unless the name ends with it already, and ``_total`` for monotonic sums."""
    base = metric_name(name)
    suffix = unit_suffix(unit)
    if suffix and not base.endswith(f"_{suffix}"):
        base = f"{base}_{suffix}"
    return f"{base}_total" if counter else base
