"""Running test code in a forked child process."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable

import pytest


def run_in_forked_child(target: Callable[[], None], timeout: float = 15) -> int:
    """Runs ``target`` in a forked child, fails the test unless it exits 0 within ``timeout``; returns its pid."""
    child = multiprocessing.get_context("fork").Process(target=target)
    child.start()
    child.join(timeout)
    if child.is_alive():
        child.kill()
        pytest.fail(f"forked child did not exit within {timeout:g}s")
    assert child.exitcode == 0
    assert child.pid is not None
    return child.pid
