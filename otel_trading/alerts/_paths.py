"""Files the alerting engine writes (state, dead letters, the file channel), checked when configured."""

from __future__ import annotations

import os
from pathlib import Path

from otel_trading.alerts._yaml import kind_of


def file_path(value: object) -> Path:
    """``value`` as the path of a file to write: a path with a file name, not a directory.

    ValueError otherwise, so a bad path is refused where it is configured rather than at the
    first write, on a background thread.
    """
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected the path of a file, got {kind_of(value)}")
    path = Path(value)
    if not path.name or path.is_dir():
        raise ValueError(f"expected the path of a file, got the directory {value!r}")
    return path
