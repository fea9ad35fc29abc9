"""Exporters and the local store (OTLP/JSON lines on disk), and reading the store back."""

from otel_trading.export._follow import StoreFollower
from otel_trading.export._local_store import store_files
from otel_trading.export._metric_queries import MetricInfo, Series, metric_catalog, metric_series
from otel_trading.export._otlp_json import parse_json_line
from otel_trading.export._query import SpanEvent, StoreContents, StoredLog, StoredSpan, load_store
from otel_trading.export._reader import StoreRecord, read_store

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
