"""The console's request rules: which Host headers it answers, its per-run token, POST bodies.

The console listens on loopback and changes the bot's state (kill switch, silences), so it
must not be reachable from a web page the user happens to have open:

- DNS rebinding: a page on ``evil.example`` whose name later resolves to 127.0.0.1 sends
  ``Host: evil.example``. Only loopback names and the address the console was bound to pass.
- Cross-site requests: a form on another origin can POST ``text/plain`` or form-encoded
  bodies without a preflight, but cannot set a custom header nor send ``application/json``.
  Every POST needs both: the ``X-Console-Token`` header with the per-run token and a JSON body.
  No ``Access-Control-*`` header is ever sent, so no other origin may read an answer either.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from typing import Final

TOKEN_HEADER: Final = "X-Console-Token"  # noqa: S105 - a header name, not a secret
MAX_BODY_BYTES: Final = 64 * 1024
_LOOPBACK_NAMES: Final = frozenset({"127.0.0.1", "localhost", "::1"})
_EVERY_INTERFACE: Final = ("0.0.0.0", "::")  # noqa: S104 - names compared, nothing bound here


def new_token() -> str:
    """A random per-run token (URL-safe, 192 bits), as Jupyter prints in its URL."""
    return secrets.token_urlsafe(24)


def host_name(header: str) -> str:
    """The host part of a ``Host`` header: ``[::1]:9466`` -> ``::1``, ``localhost:80`` -> ``localhost``."""
    value = header.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        return value[1:end] if end > 0 else value
    name, _, _port = value.partition(":") if value.count(":") == 1 else (value, "", "")
    return name.rstrip(".")


def allowed_hosts(bind_host: str) -> frozenset[str]:
    """Loopback names, plus the address the console listens on when that is another one."""
    extra = {bind_host.strip("[]").lower()} if bind_host not in _EVERY_INTERFACE else set()
    return _LOOPBACK_NAMES | extra


def host_allowed(header: str | None, allowed: frozenset[str], bind_host: str) -> bool:
    """Whether to answer a request with this ``Host``. Bound to every interface, an IP address is
    fine too: DNS rebinding needs a name that resolves to us, an address is its own origin."""
    if header is None:
        return False
    name = host_name(header)
    if name in allowed:
        return True
    if bind_host in _EVERY_INTERFACE:
        try:
            ipaddress.ip_address(name)
        except ValueError:
            return False
        return True
    return False


def token_matches(given: str | None, token: str) -> bool:
    """Constant-time comparison, so response times do not reveal the token a byte at a time."""
    return given is not None and hmac.compare_digest(given.encode(), token.encode())


def is_json_content_type(header: str | None) -> bool:
    return header is not None and header.split(";", 1)[0].strip().lower() == "application/json"
