"""Exporters and the local store (OTLP/JSON lines on disk)."""

from otel_trading.export._local_store import store_files
from otel_trading.export._otlp_json import parse_json_line
from otel_trading.export._reader import StoreRecord, read_store

__all__ = ["StoreRecord", "parse_json_line", "read_store", "store_files"]
