"""pytest plugin (registered through the ``pytest11`` entry point): the ``otel_capture`` fixture."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from otel_trading.testing import TelemetryCapture, capture


@pytest.fixture
def otel_capture() -> Iterator[TelemetryCapture]:
    """otel-trading configured to record into memory for one test."""
    with capture() as captured:
        yield captured
