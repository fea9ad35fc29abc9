"""Exporters and the local store (OTLP/JSON lines on disk), and reading the store back.

The names are loaded when first used: importing one light module of this package (the CLI's
parser, the store index's rows) must not pull in the readers, the OTLP encoders and the SDK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from otel_trading._lazy import lazy_attributes

if TYPE_CHECKING:
    from otel_trading.export._follow import StoreFollower
    from otel_trading.export._local_store import store_files
    from otel_trading.export._metric_queries import MetricInfo, Series, metric_catalog, metric_series
    from otel_trading.export._otlp_json import parse_json_line
    from otel_trading.export._query import SpanEvent, StoreContents, StoredLog, StoredSpan, load_store
    from otel_trading.export._reader import StoreRecord, read_store

_WHERE = {
    "MetricInfo": "otel_trading.export._metric_queries",
    "Series": "otel_trading.export._metric_queries",
    "SpanEvent": "otel_trading.export._query",
    "StoreContents": "otel_trading.export._query",
    "StoreFollower": "otel_trading.export._follow",
    "StoreRecord": "otel_trading.export._reader",
    "StoredLog": "otel_trading.export._query",
    "StoredSpan": "otel_trading.export._query",
    "load_store": "otel_trading.export._query",
    "metric_catalog": "otel_trading.export._metric_queries",
    "metric_series": "otel_trading.export._metric_queries",
    "parse_json_line": "otel_trading.export._otlp_json",
    "read_store": "otel_trading.export._reader",
    "store_files": "otel_trading.export._local_store",
}


__getattr__, __dir__ = lazy_attributes(globals(), _WHERE)

__all__ = [
    "MetricInfo",
    "Series",
    "SpanEvent",
    "StoreContents",
    "StoreFollower",
    "StoreRecord",
    "StoredLog",
    "StoredSpan",
    "load_store",
    "metric_catalog",
    "metric_series",
    "parse_json_line",
    "read_store",
    "store_files",
]
