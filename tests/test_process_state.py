"""The one owner of process state (``otel_trading._state``): what a forked child inherits."""

from __future__ import annotations

import sys
from pathlib import Path

from processes import run_in_forked_child

from otel_trading import alerts
from otel_trading.alerts.channels import ConsoleChannel
from otel_trading.testing import isolated_state


def test_forked_child_leaves_the_parents_alert_engines_alone(tmp_path: Path) -> None:
    state_file = tmp_path / "alerts-state.json"
    with isolated_state():
        alerts.start(default_pack=True, channels={"console": ConsoleChannel("console")}, interval=60,
                     state_file=state_file)

        def child() -> None:
            alerts.stop()  # the parent's engines are not running here: nothing to stop, save or deliver
            sys.exit(1 if state_file.exists() else 0)

        run_in_forked_child(child)
        assert not state_file.exists()
        alerts.stop()  # in the parent, stopping the engine saves its state
        assert state_file.exists()
