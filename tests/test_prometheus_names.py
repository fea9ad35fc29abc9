"""Our OTel -> Prometheus name mapping (metrics/_prometheus_names.py) against the real OTel
Prometheus exporter's output: every catalog metric, and the awkward names and units the
specification's rules cover, scraped from a real reader on its own registry."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from prometheus_client import CollectorRegistry, generate_latest

from otel_trading._otel_compat import prometheus_reader
from otel_trading.metrics._catalog import CATALOG, Kind
from otel_trading.metrics._prometheus_names import label_name, series_name, unit_suffix

_AWKWARD_KEY = "9th key.with-odd/characters"


@pytest.fixture
def scrape() -> Iterator[tuple[MeterProvider, CollectorRegistry]]:
    registry = CollectorRegistry(auto_describe=True)
    provider = MeterProvider(metric_readers=[prometheus_reader(registry)], shutdown_on_exit=False)
    yield provider, registry
    provider.shutdown()


def _record(provider: MeterProvider, name: str, kind: Kind, unit: str) -> None:
    meter = provider.get_meter("names-test")
    attributes = {_AWKWARD_KEY: "v"}
    if kind is Kind.COUNTER:
        meter.create_counter(name, unit=unit).add(1, attributes)
    elif kind is Kind.UP_DOWN_COUNTER:
        meter.create_up_down_counter(name, unit=unit).add(1, attributes)
    elif kind is Kind.GAUGE:
        meter.create_gauge(name, unit=unit).set(1, attributes)
    else:
        meter.create_histogram(name, unit=unit).record(1, attributes)


def _samples(registry: CollectorRegistry) -> dict[str, str]:
    """Sample name -> its label text, from the exposition format."""
    samples = {}
    for line in generate_latest(registry).decode().splitlines():
        if line and not line.startswith("#"):
            name, _, rest = line.partition("{")
            samples[name] = rest.partition("}")[0]
    return samples


def test_every_catalog_metric_is_named_as_the_exporter_names_it(
    scrape: tuple[MeterProvider, CollectorRegistry],
) -> None:
    provider, registry = scrape
    for info in CATALOG.values():
        _record(provider, info.name, info.kind, info.unit)
    samples = _samples(registry)
    for info in CATALOG.values():
        sample = f"{info.prometheus_name}_bucket" if info.kind is Kind.HISTOGRAM else info.prometheus_name
        assert sample in samples, (info.name, info.prometheus_name, sorted(s for s in samples if info.name[:6] in s))
        assert f'{label_name(_AWKWARD_KEY)}="v"' in samples[sample], samples[sample]


@pytest.mark.parametrize(("name", "kind", "unit"), [
    ("bytes.1st", Kind.COUNTER, "By/s"),
    ("rate-of.things", Kind.GAUGE, "km/h"),
    ("speed", Kind.HISTOGRAM, "m/s"),
    ("odd.unit", Kind.UP_DOWN_COUNTER, "{thing}/s"),
    ("ratio", Kind.GAUGE, "1"),
    ("share", Kind.GAUGE, "%"),
    ("already_seconds", Kind.COUNTER, "s"),
    ("weird.unit", Kind.GAUGE, "__a b__"),
    ("celsius.temp", Kind.GAUGE, "Cel"),
    ("dash-and/slash", Kind.COUNTER, ""),
])
def test_awkward_names_and_units_map_as_in_the_exporter(
    scrape: tuple[MeterProvider, CollectorRegistry], name: str, kind: Kind, unit: str,
) -> None:
    provider, registry = scrape
    _record(provider, name, kind, unit)
    expected = series_name(name, unit, counter=kind is Kind.COUNTER)
    samples = _samples(registry)
    sample = f"{expected}_bucket" if kind is Kind.HISTOGRAM else expected
    assert sample in samples, (expected, sorted(samples))
    assert f'{label_name(_AWKWARD_KEY)}="v"' in samples[sample]


def test_unit_suffixes_follow_the_specification_table() -> None:
    assert [unit_suffix(u) for u in ("s", "By/s", "{order}", "1", "m/h", "/s", "MiBy")] == [
        "seconds", "bytes_per_second", "", "", "meters_per_hour", "per_second", "mebibytes"]
    assert label_name("exchange.name") == "exchange_name"
    assert label_name("0day") == "_day"
