"""Shared pytest fixtures."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import otel_trading

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


# --- a clean process for tests that configure otel-trading themselves ---


@pytest.fixture
def without_ambient_otel(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test sees no OTEL_* variable of the shell that runs the suite."""
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)


@pytest.fixture
def configures_in_tmp(without_ambient_otel: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Runs in ``tmp_path`` (the default store lands there) and shuts otel-trading down after."""
    monkeypatch.chdir(tmp_path)
    yield
    otel_trading.shutdown(timeout=2)


@pytest.fixture
def ccxt_uninstrumented_after(without_ambient_otel: None) -> Iterator[None]:
    """Shuts otel-trading down and takes the ccxt instrumentation off after the test."""
    yield
    otel_trading.shutdown()
    from otel_trading.instrumentation.ccxt import CcxtInstrumentor

    instrumentor = CcxtInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()


@pytest.fixture
def configured(tmp_path: Path) -> Iterator[otel_trading.Telemetry]:
    """otel-trading writing to a store in ``tmp_path``, no metrics exporter, quiet console."""
    from otel_trading.trading import TradingState, set_trading_state

    telemetry = otel_trading.configure(store_dir=tmp_path / "store", metrics_exporter="none", log_console="off",
                                       install_signal_handlers=False, system_metrics=False)
    yield telemetry
    set_trading_state(TradingState.ACTIVE)
    telemetry.shutdown()


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
