"""The pieces every framework integration stands on: hooks that never raise, patches that undo."""

from __future__ import annotations

import logging

import pytest

from otel_trading.instrumentation._hooks import guarded, is_wrapped, wrap_method
from otel_trading.testing import TelemetryCapture, capture


class Engine:
    """A stand-in for a framework class whose methods an integration wraps."""

    def run(self, bars: int) -> int:
        return bars * 2


class SubEngine(Engine):
    pass


def failures(otel: TelemetryCapture) -> dict[str, float]:
    metric = otel.metrics_as_dict("otel_trading.instrumentation.failures").get("otel_trading.instrumentation.failures")
    return {p["attributes"]["where"]: p["value"] for p in metric["points"]} if metric else {}


def test_a_failing_hook_returns_none_counts_and_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    calls = []

    @guarded("test hook")
    def hook(value: int) -> int:
        calls.append(value)
        if value < 0:
            raise ValueError("bug in our hook")
        return value + 1

    with capture() as otel, caplog.at_level(logging.ERROR):
        assert hook(1) == 2
        assert hook(-1) is None
        assert hook(-2) is None
        assert failures(otel) == {"test hook": 2}
    assert calls == [1, -1, -2]
    logged = [r for r in caplog.records if "test hook" in r.getMessage()]
    assert len(logged) == 1 and logged[0].exc_info is not None


def test_a_hook_lets_the_frameworks_own_exits_through() -> None:
    @guarded("exiting hook")
    def hook() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        hook()


def test_wrapping_is_idempotent_and_undone() -> None:
    seen: list[int] = []

    def make(original):  # type: ignore[no-untyped-def]
        def wrapper(self, bars):  # type: ignore[no-untyped-def]
            seen.append(bars)
            return original(self, bars)
        return wrapper

    patch = wrap_method(Engine, "run", make)
    assert patch is not None
    assert wrap_method(Engine, "run", make) is None  # wrapped once
    assert is_wrapped(Engine.run) and Engine.run.__name__ == "run"
    assert Engine().run(3) == 6 and seen == [3]
    patch.undo()
    assert not is_wrapped(Engine.run)
    assert Engine().run(4) == 8 and seen == [3]


def test_an_inherited_method_is_wrapped_on_the_subclass_only_and_removed_again() -> None:
    patch = wrap_method(SubEngine, "run", lambda original: lambda self, bars: original(self, bars) + 1)
    assert patch is not None
    assert SubEngine().run(1) == 3 and Engine().run(1) == 2
    patch.undo()
    assert "run" not in SubEngine.__dict__ and SubEngine().run(1) == 2
