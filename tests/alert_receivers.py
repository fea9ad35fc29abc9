"""Real loopback servers for the alert channels' tests: HTTP and SMTP (aiosmtpd); Alertmanager is in daemons.

    with RecordingHttpServer() as server:
        server.script(Reply(429, headers={"Retry-After": "3"}), Reply(200))
        ... channel posts to server.url("/hook") ...
        assert server.wait_for(lambda: len(server.requests) == 2)
"""

from __future__ import annotations

import datetime as dt
import json
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from otlp_receiver import LOOPBACK, free_port


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    """One scripted answer; ``delay_s`` waits before answering (a hung server, a client timeout)."""

    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_POST(self) -> None:
        self._handle()

    def do_GET(self) -> None:
        self._handle()

    def _handle(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        owner = self.server.owner
        reply = owner._record(Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        if reply.delay_s and owner._closing.wait(reply.delay_s):
            return
        self.send_response(reply.status)
        for name, value in {"Content-Type": "application/json", **reply.headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: RecordingHttpServer


class RecordingHttpServer:
    """Records every request; answers from a script of replies, then with ``default``."""

    def __init__(self, default: Reply | None = None) -> None:
        self.default = default or Reply()
        self._script: list[Reply] = []
        self._requests: list[Request] = []
        self._changed = threading.Condition()
        self._closing = threading.Event()
        self._server = _Server((LOOPBACK, 0), _Handler)
        self._server.owner = self
        self.port: int = self._server.server_address[1]
        self.base = f"http://{LOOPBACK}:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="recording-http", daemon=True)
        self._thread.start()

    def url(self, path: str = "/") -> str:
        return self.base + path

    def script(self, *replies: Reply) -> None:
        with self._changed:
            self._script.extend(replies)

    def _record(self, request: Request) -> Reply:
        with self._changed:
            self._requests.append(request)
            self._changed.notify_all()
            return self._script.pop(0) if self._script else self.default

    @property
    def requests(self) -> list[Request]:
        with self._changed:
            return list(self._requests)

    def wait_for(self, predicate: Callable[[], object], timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(min(remaining, 0.05))
            return True

    def close(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> RecordingHttpServer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


# --- SMTP ---------------------------------------------------------------------------------------


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 / localhost and its key, as PEM files in ``directory``."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.timezone.utc)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                    x509.IPAddress(ipaddress.ip_address(LOOPBACK))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    content: bytes
    tls: bool
    login: str | None


class SmtpServer:
    """aiosmtpd on 127.0.0.1: ``security`` none | starttls | ssl; AUTH when ``credentials`` given.

    ``data_reply`` is the answer to each message (``451 ...`` / ``550 ...`` to refuse it).
    """

    def __init__(self, security: str = "none", *, certificate: tuple[Path, Path] | None = None,
                 credentials: tuple[str, str] | None = None, data_reply: str = "250 OK") -> None:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword

        self.mails: list[Mail] = []
        self.port = free_port()
        context = None
        if certificate is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*map(str, certificate))

        def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
            ok = isinstance(data, LoginPassword) and credentials is not None and \
                (data.login.decode(), data.password.decode()) == credentials
            return AuthResult(success=ok, handled=False, auth_data=data.login.decode() if ok else None)

        outer = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                tls = session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None
                outer.mails.append(Mail(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content,
                                        tls, session.auth_data))
                return data_reply

        options: dict[str, Any] = {"hostname": LOOPBACK, "port": self.port}
        if security == "starttls":
            options.update(tls_context=context, require_starttls=True)
        elif security == "ssl":
            options.update(ssl_context=context)
        if credentials is not None:
            # aiosmtpd counts only STARTTLS as TLS; with implicit TLS the whole session is encrypted anyway.
            options.update(authenticator=authenticate, auth_require_tls=security == "starttls")
        self._controller = Controller(Handler(), **options)
        self._controller.start()

    def close(self) -> None:
        self._controller.stop()

    def __enter__(self) -> SmtpServer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
