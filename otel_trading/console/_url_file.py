"""``<store>/console.url``: where a bot without a terminal (systemd, docker) leaves its login URL.

Jupyter's convention: the server writes its URL with the token to a runtime file only its
user can read (``jpserver-<pid>.json``, mode 0600) and removes it when it stops; its log says
where the server listens. Here the file is ``console.url`` in the bot's store directory, one
line, the login URL; the log line names the file and never holds the token.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Final

URL_FILE: Final = "console.url"
_LOG = logging.getLogger("otel_trading.console")


def write_url_file(directory: Path, login_url: str) -> Path | None:
    """Writes ``login_url`` to ``directory/console.url`` (mode 0600, replaced whole); None, with a
    warning without the token, when it cannot."""
    path = directory / URL_FILE
    temporary = directory / f".{URL_FILE}.{os.getpid()}.tmp"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        # Created 0600 (never readable by others, whatever the umask), then moved into place:
        # a reader sees the old URL or the new one, never half a line.
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(login_url + "\n")
        os.replace(temporary, path)
        return path
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        _LOG.warning("console: could not write its login URL to %s (%s); it is "
                     "otel_trading.console.current_console().login_url", path, exc.strerror or exc)
        return None


def remove_url_file(path: Path, login_url: str) -> None:
    """Removes ``path`` if it still holds ``login_url`` (another bot on the same store may have
    written its own since)."""
    with contextlib.suppress(OSError):
        if path.read_text(encoding="utf-8").strip() == login_url:
            path.unlink()
