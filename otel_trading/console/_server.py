"""The running console: ``serve_store()`` (read-only, over a store) and the live console of ``configure()``."""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path
from types import TracebackType
from typing import Final

from otel_trading._http_server import BoundedHTTPServer, ServerLimits, is_host_error
from otel_trading._state import STATE, Slot
from otel_trading.console._app import ConsoleApp
from otel_trading.console._http import ConsoleHandler
from otel_trading.console._security import new_token
from otel_trading.console._url_file import remove_url_file, write_url_file
from otel_trading.redaction import Redactor

_LOG = logging.getLogger("otel_trading.console")

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 9466  # next to the Prometheus endpoint's 9464 and the health probes' 9465
# The pages load a handful of files at once and a store query may take a second: four handler
# threads keep a page responsive while one query runs; streams have their own hub.
LIMITS: Final = ServerLimits(handler_threads=4, queued_requests=32, pending_connections=64, request_timeout_s=10.0)


class ConsoleServer:
    """A console being served; ``stop()`` (or leaving a ``with`` block) stops it and frees the port."""

    def __init__(self, app: ConsoleApp, host: str, port: int, *, limits: ServerLimits = LIMITS) -> None:
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError(f"port: expected an integer between 0 and 65535 (0 = any free port), got {port!r}")
        handler = type("BoundConsoleHandler", (ConsoleHandler,), {"app": app})
        self.app = app
        self.host = host
        self._server = BoundedHTTPServer(host, port, handler, name="otel-trading-console", limits=limits)
        self.port: int = self._server.server_port
        self._stopped = False
        self._lock = threading.Lock()
        self.url_file: Path | None = None
        """``<store>/console.url`` of a live console (its login URL, mode 0600), removed when it stops."""

    @property
    def token(self) -> str:
        return self.app.token

    @property
    def mode(self) -> str:
        return self.app.mode

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:9466`` (no token)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def login_url(self) -> str:
        """The URL to open: the page keeps the token and removes it from the address bar."""
        return f"{self.url}/?token={self.token}"

    def stop(self, timeout: float = 1.0) -> None:
        """Closes the streams, stops accepting connections and frees the port (idempotent)."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self.app.hub.close()
        self._server.close(timeout)
        if self.url_file is not None:
            remove_url_file(self.url_file, self.login_url)

    close = stop

    def abandon_in_child(self) -> None:
        """In a forked child: the server's threads stayed in the parent; the sockets are the parent's."""
        self._stopped = True

    def __enter__(self) -> ConsoleServer:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"ConsoleServer({self.url!r}, mode={self.mode!r}{', stopped' if self._stopped else ''})"


def bind_error(exc: OSError, host: str, port: int, how: str) -> OSError:
    """The console cannot listen: the message says which setting to change (``how`` names it)."""
    if is_host_error(exc):
        fix = f"set {how} to an address of this machine (127.0.0.1, or 0.0.0.0 for all)"
    else:
        fix = f"set {how} to a free port (0 picks one)"
    return OSError(exc.errno, f"console cannot listen on {host}:{port} ({exc.strerror or exc}); {fix}")


def _current_redactor() -> Redactor:
    return STATE.redactor


def serve_store(store_dir: str | Path, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
                token: str | None = None, service: str | None = None,
                redactor: Redactor | None = None) -> ConsoleServer:
    """Serves the read-only console over the store at ``store_dir`` (pages, JSON API, no controls).

    Started and serving on daemon threads when this returns; ``port=0`` picks a free port.
    Raises ``FileNotFoundError`` when ``store_dir`` is not a directory, ``OSError`` naming the
    setting to change when the address cannot be bound (port in use).
    """
    directory = Path(store_dir)
    if not directory.is_dir():
        raise FileNotFoundError(f"store directory {directory} does not exist (or is not a directory)")
    app = ConsoleApp(store_dir=directory, token=token or new_token(), bind_host=host, service=service,
                     redactor=(lambda: redactor) if redactor is not None else _current_redactor)
    try:
        return ConsoleServer(app, host, port)
    except OSError as exc:
        raise bind_error(exc, host, port, "serve_store()'s host" if is_host_error(exc)
                         else "serve_store()'s port") from exc


def _forget_in_child(holder: list[ConsoleServer]) -> None:
    for server in holder:
        server.abandon_in_child()
    holder.clear()


CURRENT: Final[Slot[list[ConsoleServer]]] = Slot("live console", list, after_fork=_forget_in_child)
"""The live console of the configuration in force (at most one); a forked child has none."""


def current_console() -> ConsoleServer | None:
    """The console ``configure(console=True)`` started, or None."""
    servers = CURRENT.get()
    return servers[-1] if servers else None


def start_live_console(host: str, port: int, store_dir: Path | None, service: str | None) -> ConsoleServer | None:
    """The console of ``configure(console=True)``: None, with a warning, when it cannot listen.

    As for the Prometheus endpoint, a busy port does not stop the bot: the warning says which
    setting to change, and the bot runs on without its console.
    """
    from otel_trading.console._live import LiveParts

    app = ConsoleApp(store_dir=store_dir, token=new_token(), bind_host=host, service=service,
                     redactor=_current_redactor, live=LiveParts())
    try:
        server = ConsoleServer(app, host, port)
    except OSError as exc:
        _LOG.warning("%s. The bot runs without its console.",
                     bind_error(exc, host, port, "console_host / OTEL_TRADING_CONSOLE_HOST" if is_host_error(exc)
                                else "console_port / OTEL_TRADING_CONSOLE_PORT").strerror)
        return None
    CURRENT.get().append(server)
    # The token is a credential: never logged. As Jupyter does, the login URL goes to a file only
    # this user can read (a bot under systemd or docker has no terminal) and to the terminal when
    # there is one; the log says where the console listens and where that file is. (Logged by the
    # bot anyway, a URL's ``?token=`` is cut by the redactor's built-in query-parameter rule; not
    # added as a known secret value: that would put one more pattern on every recorded string.)
    if store_dir is not None:
        server.url_file = write_url_file(store_dir, server.login_url)
    from otel_trading.logs import get_logger

    get_logger("otel_trading.console").info(
        "console listening", url=server.url,
        login_url=str(server.url_file) if server.url_file is not None
        else "otel_trading.console.current_console().login_url")
    if sys.stderr is not None and sys.stderr.isatty():
        sys.stderr.write(f"otel-trading console: {server.login_url}\n")
    return server


def stop_live_console(server: ConsoleServer) -> None:
    servers = CURRENT.get()
    if server in servers:
        servers.remove(server)
    server.stop()
