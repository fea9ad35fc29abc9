"""E-mail over SMTP (smtplib): a subject line and a plain-text body per notification.

``security`` is ``starttls`` (upgrade after connecting; the default, port 587), ``ssl``
(TLS from the first byte, port 465) or ``none`` (plain text, e.g. a local relay). The
server certificate is verified against the system's CAs or ``ca_file``. Login happens only
when ``username`` is set. SMTP 4xx answers and network errors are retryable; 5xx answers,
refused recipients, failed authentication and untrusted certificates are not.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, Final, Literal

from otel_trading.alerts._model import Notification
from otel_trading.alerts.channels._base import Channel, DeliveryError
from otel_trading.alerts.channels._text import alert_block, title, truncate

Security = Literal["starttls", "ssl", "none"]
SECURITY_MODES: Final = ("starttls", "ssl", "none")
DEFAULT_PORTS: Final = {"starttls": 587, "ssl": 465, "none": 25}
BODY_LIMIT: Final = 100_000
SUBJECT_LIMIT: Final = 200


def email_subject(notification: Notification) -> str:
    return truncate(f"{title(notification)} ({notification.severity.value})", SUBJECT_LIMIT)


def email_body(notification: Notification) -> str:
    header = f"{title(notification)} - receiver {notification.receiver}, severity {notification.severity.value}"
    return truncate("\n\n".join([header, *(alert_block(alert) for alert in notification.alerts)]) + "\n", BODY_LIMIT)


class EmailChannel(Channel):
    """Sends to every address in ``to`` from ``sender``; ``password`` is a secret."""

    kind = "email"

    def __init__(self, name: str, *, host: str, to: Sequence[str], sender: str, port: int | None = None,
                 security: Security = "starttls", username: str = "", password: str = "",
                 ca_file: str | None = None, **options: Any) -> None:
        super().__init__(name, **options)
        if security not in SECURITY_MODES:
            raise ValueError(f"security must be one of {', '.join(SECURITY_MODES)}, got {security!r}")
        if not to:
            raise ValueError("to needs at least one address")
        self.host, self.sender, self.to, self.security = host, sender, tuple(to), security
        self.port = port or DEFAULT_PORTS[security]
        self.username = username
        self._password = password
        self.ca_file = ca_file

    def secrets(self) -> tuple[str, ...]:
        return (self._password,) if self._password else ()

    def message(self, notification: Notification) -> EmailMessage:
        message = EmailMessage()
        message["Subject"] = email_subject(notification)
        message["From"] = self.sender
        message["To"] = ", ".join(self.to)
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or "localhost")  # never a DNS lookup
        message.set_content(email_body(notification))
        return message

    def send(self, notification: Notification, timeout_s: float) -> None:
        try:
            self._send(self.message(notification), timeout_s)
        except DeliveryError:
            raise
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({code for code, _ in exc.recipients.values()})
            raise self.error(f"recipients refused (SMTP {codes})", permanent=all(c >= 500 for c in codes)) from None
        except smtplib.SMTPAuthenticationError as exc:
            raise self.error(f"authentication failed (SMTP {exc.smtp_code})", permanent=True) from None
        except smtplib.SMTPResponseException as exc:
            raise self.error(f"SMTP {exc.smtp_code}: {_text(exc.smtp_error)}", permanent=exc.smtp_code >= 500) from None
        except ssl.SSLCertVerificationError as exc:
            raise self.error(f"TLS certificate not trusted: {exc.verify_message}", permanent=True) from None
        except smtplib.SMTPNotSupportedError:
            raise self.error("the server does not support STARTTLS or AUTH", permanent=True) from None
        except (smtplib.SMTPException, OSError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "no answer in time" \
                if isinstance(exc, TimeoutError) else type(exc).__name__
            raise self.error(f"{type(exc).__name__}: {reason}") from None

    def _send(self, message: EmailMessage, timeout_s: float) -> None:
        context = ssl.create_default_context(cafile=self.ca_file)
        client: smtplib.SMTP
        if self.security == "ssl":
            client = smtplib.SMTP_SSL(self.host, self.port, timeout=timeout_s, context=context)
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=timeout_s)
        with client:
            if self.security == "starttls":
                client.starttls(context=context)
            if self.username:
                client.login(self.username, self._password)
            client.send_message(message, from_addr=self.sender, to_addrs=list(self.to))


def _text(error: bytes | str) -> str:
    return (error.decode("utf-8", "replace") if isinstance(error, bytes) else str(error))[:200]
