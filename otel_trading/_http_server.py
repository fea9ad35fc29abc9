"""The HTTP server behind every endpoint the SDK opens (``/metrics``, ``/healthz``, ``/readyz``).

These endpoints live inside the bot's process, so a slow, stuck or hostile client must not
cost it threads or file descriptors without bound (a thread per connection, as the stdlib's
``ThreadingHTTPServer`` and prometheus_client's server do, lets 500 half-sent requests hold
500 threads). Here:

- One I/O thread accepts connections and reads request heads without blocking (selectors),
  so a client that sends slowly costs a small buffer and one descriptor, not a thread.
- A request head must arrive complete within ``request_timeout_s`` of the connection being
  accepted (a client trickling bytes gets no more time than one sending nothing: slowloris),
  and fit in ``max_request_bytes``, or the connection is answered 408 / 431 and closed.
- At most ``pending_connections`` connections wait for their head; a new one beyond that
  drops the one that has waited longest, the likeliest slow client, so a scrape that sends
  its request at once still gets through an ongoing flood.
- Complete requests are served by a fixed pool of ``handler_threads`` through a queue of
  ``queued_requests``; past that a request is answered 503 at once instead of piling up.
- Responses are HTTP/1.0 (one request per connection, no idle keep-alive to hold), written
  with ``request_timeout_s`` as the socket timeout, so a client that stops reading frees
  its handler thread too. Request bodies are not read here: a handler that takes a body
  (the console's POSTs) reads it after checking the request's credentials.
- A handler may take its connection over (``detached``), e.g. for a long-lived event
  stream; it is then the handler's owner that bounds how many it holds and for how long.

So the process holds at most ``1 + handler_threads`` threads and about
``pending_connections + handler_threads + queued_requests`` sockets per server, whatever
the clients do.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import io
import logging
import queue
import selectors
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any, Final

__all__ = ["DEFAULT_LIMITS", "BoundedHTTPServer", "BoundedRequestHandler", "ServerLimits", "is_host_error"]

_LOG = logging.getLogger("otel_trading")

_RECV_BYTES: Final = 4096
_MAX_WAIT_S: Final = 0.5  # longest select() between two sweeps of expired connections
_LISTEN_BACKLOG: Final = 1024  # absorbs a burst of connects while the I/O thread waits for a core
_ACCEPTS_PER_ROUND: Final = 128  # then reads and timeouts get their turn
_ACCEPT_RETRY_S: Final = 0.1
_HEAD_ENDS: Final = (b"\n\r\n", b"\n\n")  # end of the header block, CRLF or bare LF lines


@dataclass(frozen=True)
class ServerLimits:
    """What one client, or many, may cost the process (defaults: ``DEFAULT_LIMITS``)."""

    handler_threads: int = 2
    queued_requests: int = 16
    pending_connections: int = 64
    request_timeout_s: float = 5.0
    max_request_bytes: int = 16 * 1024

    def __post_init__(self) -> None:
        for name in ("handler_threads", "queued_requests", "pending_connections", "max_request_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"ServerLimits.{name}: expected at least 1, got {getattr(self, name)!r}")
        if not self.request_timeout_s > 0:
            raise ValueError(f"ServerLimits.request_timeout_s: expected seconds > 0, got {self.request_timeout_s!r}")


DEFAULT_LIMITS: Final = ServerLimits()

# handler(request=(head, socket), client_address, server): serves one request when constructed.
HandlerFactory = Callable[[tuple[bytes, socket.socket], Any, "BoundedHTTPServer"], object]


def is_host_error(exc: OSError) -> bool:
    """True when binding failed because of the host (unknown name, not an address of this machine),
    so the error can point at the setting to fix; False for the port (in use, privileged)."""
    return isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL


def _canned(code: int, reason: str) -> bytes:
    return (f"HTTP/1.0 {code} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {len(reason) + 1}\r\n"
            f"Connection: close\r\n\r\n{reason}\n").encode()


_TIMED_OUT: Final = _canned(408, "Request Timeout")
_TOO_LARGE: Final = _canned(431, "Request Header Fields Too Large")
_BUSY: Final = _canned(503, "Service Unavailable")


def _hang_up(sock: socket.socket, reply: bytes = b"") -> None:
    """Best-effort short reply without blocking, then close: the client may be gone or not reading."""
    try:
        if reply:
            sock.setblocking(False)
            sock.send(reply)
            sock.shutdown(socket.SHUT_WR)
            sock.recv(_RECV_BYTES * 16)  # what already arrived: closing on unread bytes resets, losing the reply
    except OSError:
        pass
    finally:
        sock.close()


class _Pending:
    """A connection whose request head has not fully arrived yet."""

    __slots__ = ("address", "deadline", "head", "sock")

    def __init__(self, sock: socket.socket, address: Any, deadline: float) -> None:
        self.sock = sock
        self.address = address
        self.deadline = deadline
        self.head = bytearray()


class _SocketWriter(io.BufferedIOBase):
    """``wfile`` for a handler: every write is one ``sendall`` (bounded by the socket timeout)."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self._sock = sock

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._sock.sendall(data)
        with memoryview(data) as view:
            return view.nbytes


class BoundedRequestHandler(BaseHTTPRequestHandler):
    """A ``BaseHTTPRequestHandler`` fed by ``BoundedHTTPServer``: the head is already read."""

    protocol_version = "HTTP/1.0"  # one request per connection: nothing idles between requests
    sys_version = ""

    def __init__(self, request: tuple[bytes, socket.socket], client_address: Any, server: Any) -> None:
        super().__init__(request, client_address, server)

    detached = False
    """Set by a handler that handed its socket on (a server-sent event stream, served by a
    bounded stream writer of its own): the handler thread then neither closes it nor waits."""

    def setup(self) -> None:
        head, self.connection = self.request
        self.rfile = io.BytesIO(head)
        self.wfile = _SocketWriter(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes and probes arrive every few seconds: no line on stderr for each."""


class BoundedHTTPServer:
    """Serves ``handler`` on host:port with the limits above; ``close()`` stops it and frees the port.

    Raises ``OSError`` (``socket.gaierror`` included) when the address cannot be resolved or bound.
    """

    def __init__(self, host: str, port: int, handler: HandlerFactory, *, name: str,
                 limits: ServerLimits = DEFAULT_LIMITS) -> None:
        if not isinstance(host, str) or not host:  # "" or None would bind every interface
            raise ValueError(f"host: expected an address such as 127.0.0.1 or 0.0.0.0, got {host!r}")
        self.limits = limits
        self._handler = handler
        family, _, _, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        self._listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            if sys.platform != "win32":  # lets a restarted bot rebind at once; on Windows it would allow stealing
                self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._listener.bind(address)
            self._listener.listen(_LISTEN_BACKLOG)
            self._listener.setblocking(False)
        except OSError:
            self._listener.close()
            raise
        self.server_address: tuple[str, int] = self._listener.getsockname()[:2]
        self.server_port = int(self.server_address[1])
        self._requests: queue.Queue[tuple[bytes, socket.socket, Any] | None] = queue.Queue(limits.queued_requests)
        self._pending: collections.OrderedDict[socket.socket, _Pending] = collections.OrderedDict()
        self._selector = selectors.DefaultSelector()
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_reader.setblocking(False)
        self._selector.register(self._listener, selectors.EVENT_READ)
        self._selector.register(self._wake_reader, selectors.EVENT_READ)
        self._closing = threading.Event()
        self._close_lock = threading.Lock()
        self._threads = [threading.Thread(target=self._io_loop, name=f"{name}:{self.server_port}", daemon=True)]
        self._threads += [
            threading.Thread(target=self._work, name=f"{name}:{self.server_port}-handler-{i}", daemon=True)
            for i in range(limits.handler_threads)
        ]
        for thread in self._threads:
            thread.start()

    # --- the I/O thread: accept, read heads, enforce deadlines and sizes ---

    def _io_loop(self) -> None:
        try:
            while not self._closing.is_set():
                for key, _ in self._selector.select(self._wait_s()):
                    if key.fileobj is self._listener:
                        self._accept()
                    elif key.fileobj is self._wake_reader:
                        return
                    elif key.data.sock in self._pending:  # not dropped earlier in this same round
                        self._read(key.data)
                self._expire(time.monotonic())
        except Exception:  # noqa: BLE001 - never into the bot; the endpoint stops answering, which probes notice
            _LOG.exception("HTTP endpoint on port %s stopped", self.server_port)
        finally:
            for pending in list(self._pending.values()):
                self._drop(pending)

    def _wait_s(self) -> float:
        if not self._pending:
            return _MAX_WAIT_S
        oldest = next(iter(self._pending.values()))  # accepted first, so its deadline comes first
        return min(_MAX_WAIT_S, max(0.0, oldest.deadline - time.monotonic()))

    def _accept(self) -> None:
        for _ in range(_ACCEPTS_PER_ROUND):
            try:
                sock, address = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # e.g. out of descriptors: the connection stays in the backlog for later
                _LOG.debug("HTTP endpoint on port %s: accept failed", self.server_port, exc_info=True)
                self._closing.wait(_ACCEPT_RETRY_S)  # the listener stays readable: without a pause, a spin
                return
            sock.setblocking(False)
            if len(self._pending) >= self.limits.pending_connections:
                self._drop(next(iter(self._pending.values())), _BUSY)
            pending = _Pending(sock, address, time.monotonic() + self.limits.request_timeout_s)
            self._pending[sock] = pending
            self._selector.register(sock, selectors.EVENT_READ, pending)

    def _read(self, pending: _Pending) -> None:
        try:
            data = pending.sock.recv(_RECV_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the client hung up before finishing its request
            self._drop(pending)
            return
        start = max(0, len(pending.head) - 2)  # the end marker may straddle two reads
        pending.head += data
        if len(pending.head) > self.limits.max_request_bytes:
            self._drop(pending, _TOO_LARGE)
        elif any(pending.head.find(end, start) >= 0 for end in _HEAD_ENDS):
            self._forget(pending)
            try:
                self._requests.put_nowait((bytes(pending.head), pending.sock, pending.address))
            except queue.Full:  # every handler busy and the queue full: say so now rather than pile up
                _hang_up(pending.sock, _BUSY)

    def _expire(self, now: float) -> None:
        while self._pending:
            oldest = next(iter(self._pending.values()))
            if oldest.deadline > now:
                return
            self._drop(oldest, _TIMED_OUT)

    def _forget(self, pending: _Pending) -> None:
        del self._pending[pending.sock]
        self._selector.unregister(pending.sock)

    def _drop(self, pending: _Pending, reply: bytes = b"") -> None:
        self._forget(pending)
        _hang_up(pending.sock, reply)

    # --- handler threads: one complete request at a time each ---

    def _work(self) -> None:
        while (item := self._requests.get()) is not None:
            head, sock, address = item
            handler: object = None
            try:
                sock.settimeout(self.limits.request_timeout_s)  # bounds writing to a client that stops reading
                handler = self._handler((head, sock), address, self)
            except Exception:  # noqa: BLE001 - a client gone mid-response, or a handler bug: next request
                _LOG.debug("HTTP endpoint on port %s: request from %s failed", self.server_port, address,
                           exc_info=True)
            finally:
                if not getattr(handler, "detached", False):
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_WR)  # the response is complete: tell the client now
                    sock.close()

    def close(self, timeout: float = 1.0) -> None:
        """Stops accepting, drops waiting connections and frees the port (idempotent).

        Waits up to ``timeout`` seconds for requests being served to finish.
        """
        with self._close_lock:
            if self._closing.is_set():
                return
            self._closing.set()
        self._wake_writer.send(b"x")
        deadline = time.monotonic() + timeout
        self._threads[0].join(max(0.0, deadline - time.monotonic()))
        while True:  # queued requests are not served any more
            try:
                item = self._requests.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                _hang_up(item[1], _BUSY)
        try:
            for _ in self._threads[1:]:
                self._requests.put(None, timeout=max(0.0, deadline - time.monotonic()))
        except queue.Full:  # handlers still busy past the timeout: they are daemon threads, and stop with it
            pass
        for thread in self._threads[1:]:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._selector.close()
        self._listener.close()
        self._wake_reader.close()
        self._wake_writer.close()
