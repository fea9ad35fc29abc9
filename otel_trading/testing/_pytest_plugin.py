"""pytest plugin (registered through the ``pytest11`` entry point): the ``otel_capture`` fixture.

pytest imports this module in every run of every project that has otel-trading installed, so
it imports pytest alone: otel-trading and the OpenTelemetry SDK load when a test first asks
for the fixture (tests/test_testing_helpers.py checks it).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from otel_trading.testing import TelemetryCapture


@pytest.fixture
def otel_capture() -> Iterator[TelemetryCapture]:
    """otel-trading configured to record into memory for one test (``with capture() as ...``)."""
    from otel_trading.testing import capture  # here, not at import: see the module doc

    with capture() as captured:
        yield captured
