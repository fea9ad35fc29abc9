"""JSON over HTTP(S) with the standard library, and what each answer means for delivery.

2xx is delivered. 408, 429, 5xx, refused/reset connections and timeouts may succeed later
(``Retry-After`` - seconds or an HTTP date - is the minimum wait); any other 4xx, a
redirect, a bad URL or an untrusted certificate will not. Redirects are not followed: a
POST must not silently turn into a GET elsewhere.
"""

from __future__ import annotations

import base64
import email.utils
import http.client
import json
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from otel_trading._state import STATE
from otel_trading._version import __version__
from otel_trading.alerts.channels._base import Channel, DeliveryError

USER_AGENT = f"otel-trading/{__version__}"
_RETRYABLE_STATUSES = frozenset({408, 429})
_BODY_IN_REASON = 200  # characters of an error answer kept in the reason (scrubbed)
_TOKEN_LENGTH = 16  # a path segment this long is an id or a token (Slack's are 24, Discord's 68)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:  # noqa: ARG002 - refuses every redirect whatever it is
        return None  # urllib then raises HTTPError with the 3xx status


_OPENER = urllib.request.build_opener(_NoRedirect)


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """A ``Retry-After`` header as seconds from now: delta-seconds or an HTTP date."""
    if not value:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


def split_userinfo(url: str) -> tuple[str, str | None]:
    """``http://user:pw@host/x`` → (``http://host/x``, ``Basic …``): urllib cannot send URL credentials."""
    parts = urllib.parse.urlsplit(url)
    userinfo, at, host = parts.netloc.rpartition("@")
    if not at:
        return url, None
    user, _, password = userinfo.partition(":")
    token = base64.b64encode(f"{urllib.parse.unquote(user)}:{urllib.parse.unquote(password)}".encode()).decode()
    return urllib.parse.urlunsplit(parts._replace(netloc=host)), f"Basic {token}"


def url_secrets(url: str) -> tuple[str, ...]:
    """The parts of a URL that may carry a credential: all of it, its user info, password, query, and
    its path when a segment is long enough to be a token (``/services/T0/B0/XXXX``, ``/bot123:AA…``).

    All are registered with the redactor (every text is cut of them): ``/api/v1/alerts`` is not.
    """
    parts = urllib.parse.urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    basic = split_userinfo(url)[1] or ""
    tokenish = any(len(segment) >= _TOKEN_LENGTH for segment in parts.path.split("/"))
    pieces = [url, userinfo, userinfo.partition(":")[2], parts.path if tokenish else "", parts.query,
              basic, basic.removeprefix("Basic ")]
    pieces += [value for _, value in urllib.parse.parse_qsl(parts.query)]
    return tuple(piece for piece in pieces if piece)


def url_fragments(url: str) -> tuple[str, ...]:
    """A URL's long path segments (a webhook's id or token), which a service may echo alone."""
    return tuple(segment for segment in urllib.parse.urlsplit(url).path.split("/") if len(segment) >= 6)


class HttpChannel(Channel):
    """A channel that POSTs JSON; ``headers`` and ``bearer_token`` are treated as secrets."""

    def __init__(self, name: str, *, headers: Mapping[str, str] | None = None, bearer_token: str | None = None,
                 **options: Any) -> None:
        super().__init__(name, **options)
        self._headers = dict(headers or {})
        if bearer_token:
            self._headers["Authorization"] = f"Bearer {bearer_token}"

    def credential_urls(self) -> tuple[str, ...]:
        """The URLs that are credentials themselves (a webhook URL, a bot token's endpoint)."""
        return ()

    def secrets(self) -> tuple[str, ...]:
        # A credential header's value and its last word: "Bearer <token>" is echoed as the token alone too.
        headers = [piece for name, value in self._headers.items() if value and STATE.redactor.is_secret_key(name)
                   for piece in (value, value.split()[-1])]
        return (*headers, *(piece for url in self.credential_urls() for piece in url_secrets(url)))

    def secret_fragments(self) -> tuple[str, ...]:
        # Other headers (X-Team: quant) are scrubbed from this channel's messages, not from every text.
        headers = [value for name, value in self._headers.items() if value and not STATE.redactor.is_secret_key(name)]
        return (*headers, *(piece for url in self.credential_urls() for piece in url_fragments(url)))

    def retry_after_from_body(self, body: bytes) -> float | None:  # noqa: ARG002 - overridden by services that say it in the body
        """A service's own "wait this long" in an error body (Discord, Telegram); None by default."""
        return None

    def post_json(self, url: str, payload: Any, timeout_s: float) -> bytes:
        """POSTs ``payload``; the response body on 2xx, DeliveryError otherwise."""
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        url, basic = split_userinfo(url)
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
                   **({"Authorization": basic} if basic else {}), **self._headers}
        try:
            request = urllib.request.Request(url, data=data, headers=headers, method="POST")  # noqa: S310 - the URL is the user's configured endpoint; http(s) is checked at construction
            with _OPENER.open(request, timeout=timeout_s) as response:
                return bytes(response.read())
        except urllib.error.HTTPError as exc:
            raise self._status_error(exc.code, exc.headers.get("Retry-After"), _read(exc)) from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            permanent = isinstance(reason, ssl.SSLCertVerificationError)
            raise self.error(_os_reason(reason), permanent=permanent) from None
        except (TimeoutError, ConnectionError, http.client.HTTPException, OSError) as exc:
            raise self.error(_os_reason(exc), permanent=isinstance(exc, http.client.InvalidURL)) from None
        except ValueError:
            raise self.error("invalid URL", permanent=True) from None

    def _status_error(self, status: int, retry_after: str | None, body: bytes) -> DeliveryError:
        text = body.decode("utf-8", "replace").strip()
        reason = f"HTTP {status}" + (f": {text[:_BODY_IN_REASON]}" if text else "")
        retryable = status in _RETRYABLE_STATUSES or status >= 500
        wait = retry_after_seconds(retry_after)
        if wait is None and retryable:
            wait = self.retry_after_from_body(body)
        return self.error(reason, retry_after_s=wait if retryable else None, permanent=not retryable)


def check_http_url(url: str, field: str = "url") -> str:
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in ("http", "https"):
        raise ValueError(f"{field} must be an http:// or https:// URL")
    return url


def _read(exc: urllib.error.HTTPError) -> bytes:
    try:
        return bytes(exc.read())
    except (OSError, http.client.HTTPException):
        return b""


def _os_reason(exc: object) -> str:
    """A failure's kind and OS message, never its free text (which may quote the URL)."""
    if isinstance(exc, (TimeoutError, http.client.RemoteDisconnected)):
        return f"{type(exc).__name__}: no answer in time" if isinstance(exc, TimeoutError) else "connection closed"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted: {exc.verify_message}"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{type(exc).__name__}: {exc.strerror}"
    return type(exc).__name__ if isinstance(exc, BaseException) else "connection failed"
