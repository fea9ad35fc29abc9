"""Key-, shape- and value-based secret scrubbing.

Keys are judged once and cached, so the per-call cost on a hot path is a dict lookup.
Values are only run through the shape regexes when a cheap substring pre-check says a
secret could be inside (``=``, ``@``, ``bearer``, ``hooks.slack.com``, ``eyJ``, ...). Secret
values the SDK was told about (``configure(secrets=...)``, exchange credentials, OTLP header
values, alert channel tokens) are cut out by one combined regex, whatever their key.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any, Final
from urllib.parse import quote, quote_plus

REDACTED: Final = "[REDACTED]"
# Shorter known values would cut ordinary words and numbers out of every message.
MIN_SECRET_LENGTH: Final = 4

# Matches attribute/argument names that carry credentials. ``key`` only counts as a whole
# word part (``api_key``, ``x-api-key``, ``apiKey``) so ``monkey`` or ``keyboard`` pass.
_SECRET_KEY = re.compile(
    r"(?:^|[^a-z])key(?:s)?(?:$|[^a-z])|apikey|privatekey|secret|token|passw|passphrase"
    r"|signature|auth|credential|cookie",
    re.IGNORECASE,
)
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.\-]*://)[^/\s:@]+(?::[^/\s@]*)?@", re.IGNORECASE)
_SECRET_QUERY = re.compile(
    r"(?P<name>(?:^|[?&;\s])[\w.\-]*(?:key|secret|token|signature|sig|passw\w*|passphrase|auth\w*)"
    r"[\w.\-]*=)[^&;\s#\"']+",
    re.IGNORECASE,
)
# Quoted mappings printed into text: a Python dict repr or JSON, as in HTTP clients' debug
# logs of request headers ({'X-MBX-APIKEY': '...'}) and in echoed request bodies.
_QUOTED_SECRET = re.compile(
    r"""(?P<name>(?P<q>['"])[\w.\-]*(?:key|secret|token|signature|sig|passw\w*|passphrase|auth\w*)[\w.\-]*"""
    r"""(?P=q)\s*:\s*)(?P<v>['"])(?:\\.|(?!(?P=v))[^\\])*(?P=v)""",
    re.IGNORECASE,
)
# A plain word after it ("basic strategy", "token transfers") is prose, not a credential.
_BEARER = re.compile(
    r"(?P<name>\b(?:bearer|basic|token)\s+)(?!(?-i:[A-Za-z][a-z]*|[A-Z]+)(?![\w\-.~+/]))"
    r"[A-Za-z0-9\-._~+/]{8,}=*",
    re.IGNORECASE,
)
_TELEGRAM_BOT = re.compile(r"(?P<name>/bot)\d+:[A-Za-z0-9_\-]+")
# A bare bot token: the bot's numeric id, a colon and a secret that always starts with "AA".
_TELEGRAM_TOKEN = re.compile(r"(?<![\w\-])\d{5,}:AA[A-Za-z0-9_\-]{30,}")
# Webhook URLs carry their credential in the path, so the whole path after the fixed prefix goes.
_SLACK_WEBHOOK = re.compile(r"(?P<name>hooks\.slack\.com/(?:services|workflows|triggers)/)[A-Za-z0-9_\-/]+",
                            re.IGNORECASE)
_DISCORD_WEBHOOK = re.compile(
    r"(?P<name>discord(?:app)?\.com/api(?:/v\d+)?/webhooks/)[A-Za-z0-9_\-/]+", re.IGNORECASE
)
# header.payload.signature, base64url; the header and payload are JSON objects, so both start "eyJ".
_JWT = re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*")
_AWS_ACCESS_KEY = re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b")
# To the END line, or to the end of the text when it was cut short.
_PEM_PRIVATE_KEY = re.compile(
    r"-----BEGIN[A-Z ]*PRIVATE KEY-----.*?(?:-----END[A-Z ]*PRIVATE KEY-----|\Z)", re.DOTALL
)
_VALUE_PATTERNS: Final = (
    (_PEM_PRIVATE_KEY, REDACTED),
    (_SLACK_WEBHOOK, r"\g<name>" + REDACTED),
    (_DISCORD_WEBHOOK, r"\g<name>" + REDACTED),
    (_URL_CREDENTIALS, r"\g<scheme>" + REDACTED + "@"),
    (_SECRET_QUERY, r"\g<name>" + REDACTED),
    (_QUOTED_SECRET, r"\g<name>\g<v>" + REDACTED + r"\g<v>"),
    (_TELEGRAM_BOT, r"\g<name>" + REDACTED),
    (_TELEGRAM_TOKEN, REDACTED),  # before _BEARER, which would take "token <bot id>" and leave the secret
    (_BEARER, r"\g<name>" + REDACTED),
    (_JWT, REDACTED),
    (_AWS_ACCESS_KEY, REDACTED),
)
MAX_NESTING: Final = 32
"""Levels of nested containers scrubbed; deeper (or self-containing) values become ``TOO_DEEP``."""
TOO_DEEP: Final = "[TOO DEEP]"
_MAX_CACHED_KEYS = 4096
_NUMBERS: Final = (int, float, bool)


def _spellings(value: str) -> set[str]:
    """``value`` as it may appear in text: as is, and percent-encoded in a URL or form body."""
    return {value, quote(value, safe=""), quote_plus(value, safe="")}


class Redactor:
    """Decides which keys are secret and scrubs credentials out of string values.

    ``extra_key_patterns`` and ``extra_value_patterns`` are regular expressions added to the
    built-in ones; a value pattern's whole match is replaced by ``[REDACTED]``.
    ``secret_values`` are literal secrets cut out of every text wherever they appear (see
    :meth:`add_secret_values`).
    """

    __slots__ = ("_clean", "_extra_keys", "_extra_values", "_key_cache", "_known", "_known_lock",
                 "_known_pattern", "_plain_keys")

    def __init__(
        self,
        extra_key_patterns: Iterable[str] = (),
        extra_value_patterns: Iterable[str] = (),
        secret_values: Iterable[str] = (),
    ) -> None:
        self._extra_keys = tuple(re.compile(p, re.IGNORECASE) for p in extra_key_patterns)
        self._extra_values = tuple(re.compile(p) for p in extra_value_patterns)
        self._key_cache: dict[object, bool] = {}  # keys of nested mappings may be any hashable
        # Keys found not secret (fixed patterns: a verdict never changes), tested all at once.
        self._plain_keys: set[str] = set()
        # Strings already found clean (span names, function names, symbols recur endlessly).
        self._clean: set[str] = set()
        self._known: frozenset[str] = frozenset()
        self._known_pattern: re.Pattern[str] | None = None
        self._known_lock = threading.Lock()
        self.add_secret_values(secret_values)

    @property
    def secret_values(self) -> frozenset[str]:
        """The literal secrets registered so far (as given, without their encoded spellings)."""
        return self._known

    def add_secret_values(self, values: Iterable[str]) -> None:
        """Registers literal secrets: each is replaced by ``[REDACTED]`` wherever it appears.

        For credentials the SDK learns at run time (an exchange's API key, an alert channel's
        token or webhook URL). Also matched percent-encoded. Values that are not strings or are
        shorter than ``MIN_SECRET_LENGTH`` characters are ignored, as they would cut ordinary
        words out of every message. Thread-safe; cheap when the values are already known.
        """
        fresh = {v for v in values if isinstance(v, str) and len(v) >= MIN_SECRET_LENGTH} - self._known
        if not fresh:
            return
        with self._known_lock:
            known = self._known | fresh
            spellings = set().union(*(_spellings(v) for v in known))
            # Longest first, so a secret that contains another is removed whole.
            alternatives = sorted(spellings, key=len, reverse=True)
            self._known_pattern = re.compile("|".join(re.escape(v) for v in alternatives))
            self._known = known
            # After the pattern: a text found clean by the old pattern may hold the new secret.
            # A check racing with this adds to the old set, which is dropped here.
            self._clean = set()

    def is_secret_key(self, key: object) -> bool:
        """True when ``key`` names a secret. Keys of nested mappings may be anything hashable
        (``{1: "bid"}``): they are read as their text, and one whose text cannot be had is a secret."""
        cached = self._key_cache.get(key)
        if cached is None:
            if isinstance(key, str):
                text = key
            else:
                try:
                    text = str(key)
                except Exception:  # noqa: BLE001 - a key's own __str__ may raise; hide its value then
                    return True
            cached = bool(_SECRET_KEY.search(text)) or any(p.search(text) for p in self._extra_keys)
            if len(self._key_cache) < _MAX_CACHED_KEYS:
                self._key_cache[key] = cached
        return cached

    def is_clean_text(self, text: str) -> bool:
        """True when ``text`` holds nothing to scrub; fast for the values seen again and again."""
        clean = self._clean
        if text in clean:
            return True
        # Alphanumeric text cannot hold a built-in pattern (they need "=", "@", "/", ":" or " ").
        if text.isalnum() and not self._extra_values and self._known_pattern is None:
            return True
        if self.scrub_text(text) is not text:
            return False
        if len(clean) < _MAX_CACHED_KEYS:
            clean.add(text)
        return True

    def scrub_text(self, text: str) -> str:
        """Returns ``text`` with embedded credentials replaced by ``[REDACTED]``."""
        known = self._known_pattern
        if known is not None:
            text = known.sub(REDACTED, text)
        if self._extra_values:
            for pattern in self._extra_values:
                text = pattern.sub(REDACTED, text)
        # Cheap membership tests first (written out: a loop over a tuple costs five times more):
        # each pattern above needs one of these substrings. URL credentials need "@", secret
        # query parameters "=", quoted mappings "':" or '":', Telegram tokens "/bot" or ":AA",
        # JWTs "eyJ", AWS keys "AKIA"/"ASIA", webhooks "hooks." or "webhooks/".
        if (
            "=" not in text and "@" not in text and "':" not in text and '":' not in text and "/bot" not in text
            and ":AA" not in text and "eyJ" not in text and "IA" not in text and "hooks." not in text
            and "webhooks/" not in text
        ):
            # "Bearer <token>"-style values and PEM keys have a space.
            if " " not in text:
                return text
            if "PRIVATE KEY" not in text:
                lowered = text.lower()
                if "bearer" not in lowered and "basic" not in lowered and "token" not in lowered:
                    return text
        return self._scrub_patterns(text)

    @staticmethod
    def _scrub_patterns(text: str) -> str:
        for pattern, replacement in _VALUE_PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    def scrub_value(self, key: object, value: Any) -> Any:
        """The value to export for ``key``: redacted entirely, scrubbed, or unchanged.

        Containers are copied as plain lists, tuples and dicts; past ``MAX_NESTING`` levels (a
        structure that contains itself) the rest is ``TOO_DEEP``, never a RecursionError."""
        return self._scrub(key, value, MAX_NESTING)

    def _scrub(self, key: object, value: Any, depth: int) -> Any:
        if self.is_secret_key(key):
            return REDACTED
        if isinstance(value, str):
            return self.scrub_text(value)
        if isinstance(value, (list, tuple)):
            if depth <= 0:
                return TOO_DEEP
            # A plain list/tuple, not type(value)(...): a namedtuple's constructor takes its fields.
            items = [self._scrub("", item, depth - 1) for item in value]
            return items if isinstance(value, list) else tuple(items)
        if isinstance(value, Mapping):
            if depth <= 0:
                return TOO_DEEP
            return {item_key: self._scrub(item_key, item, depth - 1) for item_key, item in value.items()}
        return value

    def scrub_mapping(self, mapping: Mapping[Any, Any]) -> dict[Any, Any]:
        return {key: self._scrub(key, value, MAX_NESTING) for key, value in mapping.items()}

    def is_clean_event(self, fields: Mapping[Any, Any], ours: frozenset[str]) -> bool:
        """True when a log event's ``fields`` need no scrubbing: no secret key, and every value
        is a number, None, text found clean, or the value of one of ``ours`` (fields the logging
        chain set itself). A container or another object is not judged here: False."""
        plain_keys = self._plain_keys
        if not plain_keys.issuperset(fields):  # one C-level pass over the keys seen before
            if any(key not in ours and self.is_secret_key(key) for key in fields):
                return False
            if len(plain_keys) < _MAX_CACHED_KEYS:
                plain_keys.update(fields)
        clean_texts = self._clean  # read once: a value seen clean before costs a set lookup, not a call
        for key, value in fields.items():
            kind = type(value)
            if kind is str:
                if value in clean_texts or key in ours or self.is_clean_text(value):
                    continue
                return False
            if kind is int or kind is float or kind is bool or value is None or key in ours:
                continue
            return False
        return True

    def scrub_if_needed(self, mapping: Mapping[str, Any]) -> dict[str, Any] | None:
        """The scrubbed copy of ``mapping``, or None when nothing in it needs scrubbing.

        Lets exporters skip rebuilding the (common) records that carry no secret.
        """
        plain_keys = self._plain_keys
        if not plain_keys.issuperset(mapping):  # one C-level pass over the keys seen before
            if any(self.is_secret_key(key) for key in mapping):
                return self.scrub_mapping(mapping)
            if len(plain_keys) < _MAX_CACHED_KEYS:
                plain_keys.update(mapping)
        clean = self.is_clean_text
        clean_texts = self._clean  # read once: a value seen clean before costs a set lookup, not a call
        for value in mapping.values():
            kind = type(value)
            if kind is str:
                if value not in clean_texts and not clean(value):
                    return self.scrub_mapping(mapping)
            elif kind in _NUMBERS:
                continue
            elif kind in (list, tuple):
                if any(type(v) is str and not clean(v) for v in value):
                    return self.scrub_mapping(mapping)
            elif isinstance(value, Mapping) and self.scrub_if_needed(value) is not None:
                return self.scrub_mapping(mapping)
        return None
