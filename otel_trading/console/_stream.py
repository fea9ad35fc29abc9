"""``/api/stream``: server-sent events to the open pages, with bounded cost.

A stream is a long-lived connection, so it does not keep a handler thread of the HTTP server:
the handler hands the socket to the hub and returns. The hub holds at most ``max_streams``
sockets (a new one beyond that is answered 503) and one thread, which runs only while at
least one page is connected: with nobody watching, the console polls nothing.

The thread never waits on one page: streams are non-blocking, each with its own buffer of what
it has not taken yet, written when a selector says it can take more. A page that stops reading
only falls behind itself; it is dropped once it has taken nothing for ``write_timeout_s`` or
it still holds more than ``max_pending_bytes`` of earlier rounds when a new one comes (bounded
memory: 8 such buffers at most, each of that plus one round).
"""

from __future__ import annotations

import contextlib
import json
import logging
import selectors
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

_LOG = logging.getLogger("otel_trading.console")

Event = tuple[str, Any]
"""(event name, JSON-serialisable data)."""

HEAD: Final = (b"HTTP/1.0 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
               b"Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n")
_SEND_BUFFER_BYTES: Final = 256 * 1024
MAX_PENDING_BYTES: Final = 1024 * 1024  # what one page may fall behind by, beyond the kernel's buffer
_BUSY_BODY: Final = b'{"error":"too many open streams (at most 8): close a console tab"}'
BUSY: Final = (b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json\r\n"
               b"Content-Length: " + str(len(_BUSY_BODY)).encode() + b"\r\nConnection: close\r\n\r\n" + _BUSY_BODY)


@dataclass(eq=False)
class _Stream:
    """One page's stream: its socket (non-blocking once admitted) and what it has not taken yet."""

    sock: socket.socket
    pending: bytearray = field(default_factory=bytearray)
    waiting_since: float | None = None
    """Since when the oldest pending byte has waited without the page taking any (None: nothing pending)."""


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
                 interval_s: float = 0.5, max_pending_bytes: int = MAX_PENDING_BYTES) -> None:
        self._poll = poll
        self._welcome = welcome
        self.max_streams = max_streams
        self.write_timeout_s = write_timeout_s
        self.ping_s = ping_s
        self.interval_s = interval_s
        self.max_pending_bytes = max_pending_bytes
        self._streams: list[_Stream] = []
        self._joining = 0  # streams admitted whose headers are being written
        self._lock = threading.Lock()
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
                    sock.setblocking(False)
                    self._streams.append(_Stream(sock))
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
        selector = selectors.DefaultSelector()
        try:
            self._feed(selector)
        finally:
            selector.close()

    def _feed(self, selector: selectors.BaseSelector) -> None:
        last_write = next_poll = time.monotonic()
        while True:
            with self._lock:
                if self._closed or not self._streams:
                    self._thread = None
                    return
                streams = list(self._streams)
            now = time.monotonic()
            if now >= next_poll:
                next_poll = now + self.interval_s
                data = self._poll_data()
                if not data and now - last_write >= self.ping_s:
                    data = b": ping\n\n"
                if data:
                    last_write = now
                    for stream in streams:
                        self._queue(stream, data, now)
            for stream in streams:
                if stream.pending:
                    self._flush(stream, now)
            self._watch(selector)
            try:
                ready = selector.select(max(0.0, next_poll - time.monotonic()))
            except (OSError, ValueError):  # a socket closed by close() meanwhile: the loop sees it
                ready = []
            now = time.monotonic()
            for key, events in ready:
                stream = key.data
                if events & selectors.EVENT_READ and _hung_up(stream.sock):
                    self._remove(stream)
                elif events & selectors.EVENT_WRITE:
                    self._flush(stream, now)

    def _poll_data(self) -> bytes:
        try:
            return b"".join(encode_event(name, payload) for name, payload in self._poll())
        except Exception:  # noqa: BLE001 - one failed read is a missed update, not a dead stream
            _LOG.exception("console: stream update failed")
            return b""

    def _queue(self, stream: _Stream, data: bytes, now: float) -> None:
        if len(stream.pending) > self.max_pending_bytes:
            # Still that much of earlier rounds unsent: the page fell too far behind (it reconnects
            # and starts afresh). One round, however large, is always taken: a burst of log lines
            # must not cost a page that reads.
            self._remove(stream)
            return
        if not stream.pending:
            stream.waiting_since = now
        stream.pending += data

    def _flush(self, stream: _Stream, now: float) -> None:
        """Sends what ``stream`` takes without waiting; drops it after ``write_timeout_s`` of taking nothing."""
        try:
            sent = stream.sock.send(stream.pending)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:  # reset, closed: the page is gone
            self._remove(stream)
            return
        if sent:
            del stream.pending[:sent]
            stream.waiting_since = now if stream.pending else None
        elif stream.waiting_since is not None and now - stream.waiting_since >= self.write_timeout_s:
            self._remove(stream)

    def _watch(self, selector: selectors.BaseSelector) -> None:
        """The selector watches every open stream for a hang-up, and for room those with pending data."""
        with self._lock:
            streams = list(self._streams)
        for key in list(selector.get_map().values()):
            if key.data not in streams:
                with contextlib.suppress(KeyError, ValueError, OSError):
                    selector.unregister(key.fileobj)
        for stream in streams:
            events = selectors.EVENT_READ | (selectors.EVENT_WRITE if stream.pending else 0)
            try:
                key = selector.get_key(stream.sock)
            except KeyError:
                with contextlib.suppress(ValueError, OSError):
                    selector.register(stream.sock, events, stream)
                continue
            if key.events != events:
                with contextlib.suppress(KeyError, ValueError, OSError):
                    selector.modify(stream.sock, events, stream)

    def _remove(self, stream: _Stream) -> None:
        with self._lock:
            if stream in self._streams:
                self._streams.remove(stream)
        _close(stream.sock)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            streams, self._streams = self._streams, []
            thread = self._thread
        for stream in streams:
            _close(stream.sock)
        if thread is not None and thread is not threading.current_thread():
            thread.join(self.interval_s + self.write_timeout_s + 1.0)  # a round may be reading the store


def _hung_up(sock: socket.socket) -> bool:
    """A page closed: its socket reads as end of file (pages never send on a stream)."""
    try:
        return sock.recv(1024) == b""
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:
        return True


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
