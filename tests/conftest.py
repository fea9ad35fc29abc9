"""Shared pytest fixtures."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from cli_runner import make_demo_store
from otlp_receiver import (
    BlackHoleServer,
    GrpcOtlpReceiver,
    HttpOtlpReceiver,
    closed_port,
    receiver_for,
)

# The integrations of the heavy trading frameworks are tested in each framework's own venv
# (`make test-frameworks` sets OTEL_TRADING_TEST_FRAMEWORK=NAME and runs tests/frameworks/NAME);
# every other run leaves their folders out instead of failing to import the framework.
_FRAMEWORK_UNDER_TEST = os.environ.get("OTEL_TRADING_TEST_FRAMEWORK", "")
_FRAMEWORK_DIRS = Path(__file__).parent / "frameworks"
collect_ignore = [
    str(folder) for folder in _FRAMEWORK_DIRS.glob("*") if folder.is_dir() and folder.name != _FRAMEWORK_UNDER_TEST
]


# --- OTLP receivers ---


@pytest.fixture
def http_receiver() -> Iterator[HttpOtlpReceiver]:
    """A live OTLP/HTTP receiver on 127.0.0.1 (``.endpoint``, ``.spans()``, ``.wait_for()``...)."""
    with HttpOtlpReceiver() as receiver:
        yield receiver


@pytest.fixture
def grpc_receiver() -> Iterator[GrpcOtlpReceiver]:
    """A live OTLP/gRPC receiver on 127.0.0.1."""
    with GrpcOtlpReceiver() as receiver:
        yield receiver


@pytest.fixture(params=["grpc", "http/protobuf"])
def otlp_receiver(request: pytest.FixtureRequest) -> Iterator[HttpOtlpReceiver | GrpcOtlpReceiver]:
    """A live receiver for each OTLP protocol; ``.protocol`` is the matching ``otlp_protocol``."""
    with receiver_for(request.param) as receiver:
        yield receiver


@pytest.fixture
def black_hole() -> Iterator[BlackHoleServer]:
    """A TCP endpoint that accepts connections and never answers."""
    with BlackHoleServer() as server:
        yield server


@pytest.fixture
def dead_port() -> int:
    """A loopback port with nothing listening (connection refused)."""
    return closed_port()


# --- the demo's store ---


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The store left by one short seeded ``otel-trading demo`` run (shared: do not write to it)."""
    directory = tmp_path_factory.mktemp("demo") / "store"
    make_demo_store(directory)
    return directory
