"""Real Prometheus-ecosystem binaries the tests drive (Debian packages installed by ``.ci/run``)."""

from __future__ import annotations

import os
import shutil

import pytest

# Debian installs Alertmanager as prometheus-alertmanager; upstream tarballs call it alertmanager.
_NAMES = {"alertmanager": ("prometheus-alertmanager", "alertmanager")}


def require(tool: str) -> str:
    """The path of ``tool``. Missing: a failure in CI (where .ci/run installs it), a skip elsewhere."""
    for name in _NAMES.get(tool, (tool,)):
        path = shutil.which(name) or (f"/usr/bin/{name}" if os.access(f"/usr/bin/{name}", os.X_OK) else None)
        if path:
            return path
    message = f"{tool} is not installed (Debian packages prometheus, prometheus-alertmanager; see .ci/run)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)
