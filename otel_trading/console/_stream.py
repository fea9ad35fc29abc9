"""``/api/stream``: server-sent events to the open pages, with bounded cost.

A stream is a long-lived connection, so it does not keep a handler thread of the HTTP server:
the handler hands the socket to the hub and returns. The hub holds at most ``max_streams``
sockets (a new one beyond that is answered 503) and one thread, which runs only while at
least one page is connected: with nobody watching, the console polls nothing. Each write has
``write_timeout_s``; a page that stops reading (or a client that went away) is dropped then.
"""

from __future__ import annotations

import contextlib
import json
import logging
import select
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Final

_LOG = logging.getLogger("otel_trading.console")

Event = tuple[str, Any]
"""(event name, JSON-serialisable data)."""

HEAD: Final = (b"HTTP/1.0 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
               b"Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n")
_SEND_BUFFER_BYTES: Final = 256 * 1024
_BUSY_BODY: Final = b'{"error":"too many open streams (at most 8): close a console tab"}'
BUSY: Final = (b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json\r\n"
               b"Content-Length: " + str(len(_BUSY_BODY)).encode() + b"\r\nConnection: close\r\n\r\n" + _BUSY_BODY)


def encode_event(name: str, data: Any) -> bytes:
    payload = json.dumps(data, separators=(",", ":"), default=str)
    return f"event: {name}\ndata: {payload}\n\n".encode()


class StreamHub:
    """The open event streams and the one thread that feeds them while any is open.

    ``poll(first)`` is called on the hub's thread about every ``interval_s`` and returns the
    events to send to every stream; ``welcome()`` the events a new stream gets at once.
    """

    def __init__(self, poll: Callable[[], Iterable[Event]], welcome: Callable[[], Iterable[Event]], *,
                 max_streams: int = 8, write_timeout_s: float = 2.0, ping_s: float = 15.0,
                 interval_s: float = 0.5) -> None:
        self._poll = poll
        self._welcome = welcome
        self.max_streams = max_streams
        self.write_timeout_s = write_timeout_s
        self.ping_s = ping_s
        self.interval_s = interval_s
        self._streams: list[socket.socket] = []
        self._joining = 0  # streams admitted whose headers are being written
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None
        self.thread_runs = 0
        """How many times the feeding thread was started: observable proof that it idles away."""

    @property
    def open_streams(self) -> int:
        with self._lock:
            return len(self._streams)

    def attach(self, sock: socket.socket) -> bool:
        """Takes ``sock`` over as a stream (headers and welcome sent); False (503 sent) when full."""
        with self._lock:
            # The slot is taken now, not once the welcome is written: two pages connecting at
            # the same time cannot both pass for the last one.
            full = self._closed or len(self._streams) + self._joining >= self.max_streams
            if not full:
                self._joining += 1
        if full:
            _send_quietly(sock, BUSY, self.write_timeout_s)
            _close(sock)
            return False
        sent = False
        try:
            # What a page that stops reading can hold in the kernel for us: a bounded buffer, so
            # such a page is found out (the write times out) and dropped instead of costing memory.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _SEND_BUFFER_BYTES)
            sent = _send_quietly(sock, HEAD + b"retry: 2000\n\n" + self._first_events(), self.write_timeout_s)
        finally:
            with self._lock:
                self._joining -= 1
                admitted = sent and not self._closed
                if admitted:
                    self._streams.append(sock)
                    if self._thread is None or not self._thread.is_alive():
                        self.thread_runs += 1
                        self._thread = threading.Thread(target=self._run, name="otel-trading-console-stream",
                                                        daemon=True)
                        self._thread.start()
        if not admitted:
            _close(sock)
        return admitted

    def _first_events(self) -> bytes:
        try:
            return b"".join(encode_event(name, data) for name, data in self._welcome())
        except Exception:  # noqa: BLE001 - a failing source must not keep the page from streaming
            _LOG.exception("console: first stream events failed")
            return b""

    def _run(self) -> None:
        last_write = time.monotonic()
        while True:
            with self._lock:
                if self._closed or not self._streams:
                    self._thread = None
                    return
                streams = list(self._streams)
            self._drop_hung_up(streams)
            try:
                data = b"".join(encode_event(name, payload) for name, payload in self._poll())
            except Exception:  # noqa: BLE001 - one failed read is a missed update, not a dead stream
                _LOG.exception("console: stream update failed")
                data = b""
            now = time.monotonic()
            if not data and now - last_write >= self.ping_s:
                data = b": ping\n\n"
            if data:
                last_write = now
                with self._lock:
                    streams = list(self._streams)
                for sock in streams:
                    if not _send_quietly(sock, data, self.write_timeout_s):
                        self._remove(sock)
            self._wake.wait(self.interval_s)
            self._wake.clear()

    def _drop_hung_up(self, streams: list[socket.socket]) -> None:
        """A page closed: its socket reads as end of file (pages never send on a stream)."""
        try:
            readable, _, _ = select.select(streams, [], [], 0)
        except (OSError, ValueError):
            readable = streams
        for sock in readable:
            try:
                sock.setblocking(False)
                gone = sock.recv(1024) == b""
            except (BlockingIOError, InterruptedError):
                gone = False
            except OSError:
                gone = True
            if gone:
                self._remove(sock)

    def _remove(self, sock: socket.socket) -> None:
        with self._lock:
            if sock in self._streams:
                self._streams.remove(sock)
        _close(sock)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            streams, self._streams = self._streams, []
            thread = self._thread
        self._wake.set()
        for sock in streams:
            _close(sock)
        if thread is not None and thread is not threading.current_thread():
            thread.join(self.write_timeout_s + 1.0)


def _send_quietly(sock: socket.socket, data: bytes, timeout_s: float) -> bool:
    try:
        sock.settimeout(timeout_s)
        sock.sendall(data)
        return True
    except OSError:
        return False


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
