"""How to type ``otel-trading`` again: the command a hint can print so that it works as shown.

After ``make demo`` the console script is only in ``.venv/bin``, not on ``PATH``: a hint that
says ``otel-trading traces`` would fail with "command not found" exactly when a new user types it.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Final

SCRIPT_NAME: Final = "otel-trading"


def typed_command(invoked: str | None = None, *, cwd: Path | None = None, search_path: str | None = None) -> str:
    """``otel-trading`` when that name on ``search_path`` (default ``$PATH``) is the script that
    was run (``invoked``, default ``sys.argv[0]``); else the path of the script that was run,
    relative to ``cwd`` when that is shorter (``.venv/bin/otel-trading``)."""
    script = _script(sys.argv[0] if invoked is None else invoked)
    if script is None:
        return SCRIPT_NAME  # not run through the console script (in-process): nothing better to say
    found = shutil.which(SCRIPT_NAME, path=os.environ.get("PATH") if search_path is None else search_path)
    if found is not None and _same_file(found, script):
        return SCRIPT_NAME
    absolute = str(script)
    try:
        relative = os.path.relpath(absolute, cwd if cwd is not None else Path.cwd())
    except ValueError:  # another drive (Windows)
        return absolute
    if os.sep not in relative:  # a bare name would be looked up on PATH, not in the directory
        relative = os.curdir + os.sep + relative
    return relative if len(relative) < len(absolute) else absolute


def _script(invoked: str) -> Path | None:
    """The console script that was run, absolute; None if ``invoked`` is not one."""
    if not invoked or Path(invoked).stem != SCRIPT_NAME:
        return None
    path = Path(invoked) if os.sep in invoked else Path(shutil.which(invoked) or invoked)
    return path.absolute() if path.is_file() else None


def _same_file(first: str, second: Path) -> bool:
    try:
        return os.path.samefile(first, second)
    except OSError:
        return False


__all__ = ["SCRIPT_NAME", "typed_command"]
