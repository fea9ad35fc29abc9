"""Key- and value-based secret scrubbing.

Keys are judged once and cached, so the per-call cost on a hot path is a dict lookup.
Values are only run through the regexes when a cheap substring pre-check says a secret
could be inside (``=``, ``@``, ``bearer``, a Telegram ``/bot`` path).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

REDACTED: Final = "[REDACTED]"

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
_BEARER = re.compile(r"(?P<name>\b(?:bearer|basic|token)\s+)[A-Za-z0-9\-._~+/]{8,}=*", re.IGNORECASE)
_TELEGRAM_BOT = re.compile(r"(?P<name>/bot)\d+:[A-Za-z0-9_\-]+")
_VALUE_PATTERNS: Final = (
    (_URL_CREDENTIALS, r"\g<scheme>" + REDACTED + "@"),
    (_SECRET_QUERY, r"\g<name>" + REDACTED),
    (_QUOTED_SECRET, r"\g<name>\g<v>" + REDACTED + r"\g<v>"),
    (_BEARER, r"\g<name>" + REDACTED),
    (_TELEGRAM_BOT, r"\g<name>" + REDACTED),
)
_MAX_CACHED_KEYS = 4096
_NUMBERS: Final = (int, float, bool)
# Cheap membership tests first: URL credentials need "@", secret query parameters "=",
# Telegram tokens "/bot", quoted mappings "':" or '":', and "Bearer <token>"-style values a space.


class Redactor:
    """Decides which keys are secret and scrubs credentials out of string values.

    ``extra_key_patterns`` and ``extra_value_patterns`` are regular expressions added to the
    built-in ones; a value pattern's whole match is replaced by ``[REDACTED]``.
    """

    __slots__ = ("_clean", "_extra_keys", "_extra_values", "_key_cache")

    def __init__(
        self,
        extra_key_patterns: Iterable[str] = (),
        extra_value_patterns: Iterable[str] = (),
    ) -> None:
        self._extra_keys = tuple(re.compile(p, re.IGNORECASE) for p in extra_key_patterns)
        self._extra_values = tuple(re.compile(p) for p in extra_value_patterns)
        self._key_cache: dict[str, bool] = {}
        # Strings already found clean (span names, function names, symbols recur endlessly).
        self._clean: set[str] = set()

    def is_secret_key(self, key: str) -> bool:
        cached = self._key_cache.get(key)
        if cached is None:
            cached = bool(_SECRET_KEY.search(key)) or any(p.search(key) for p in self._extra_keys)
            if len(self._key_cache) < _MAX_CACHED_KEYS:
                self._key_cache[key] = cached
        return cached

    def is_clean_text(self, text: str) -> bool:
        """True when ``text`` holds nothing to scrub; fast for the values seen again and again."""
        # Alphanumeric text cannot hold a built-in pattern (they need "=", "@", "/" or " ").
        if (text.isalnum() and not self._extra_values) or text in self._clean:
            return True
        if self.scrub_text(text) is not text:
            return False
        if len(self._clean) < _MAX_CACHED_KEYS:
            self._clean.add(text)
        return True

    def scrub_text(self, text: str) -> str:
        """Returns ``text`` with embedded credentials replaced by ``[REDACTED]``."""
        if self._extra_values:
            for pattern in self._extra_values:
                text = pattern.sub(REDACTED, text)
        if "=" not in text and "@" not in text and "/bot" not in text and "':" not in text and '":' not in text:
            if " " not in text:
                return text
            lowered = text.lower()
            if "bearer" not in lowered and "basic" not in lowered and "token" not in lowered:
                return text
        for pattern, replacement in _VALUE_PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    def scrub_value(self, key: str, value: Any) -> Any:
        """The value to export for ``key``: redacted entirely, scrubbed, or unchanged."""
        if self.is_secret_key(key):
            return REDACTED
        if isinstance(value, str):
            return self.scrub_text(value)
        if isinstance(value, (list, tuple)):
            return type(value)(self.scrub_value("", item) for item in value)
        if isinstance(value, Mapping):
            return self.scrub_mapping(value)
        return value

    def scrub_mapping(self, mapping: Mapping[str, Any]) -> dict[str, Any]:
        return {key: self.scrub_value(key, value) for key, value in mapping.items()}

    def scrub_if_needed(self, mapping: Mapping[str, Any]) -> dict[str, Any] | None:
        """The scrubbed copy of ``mapping``, or None when nothing in it needs scrubbing.

        Lets exporters skip rebuilding the (common) records that carry no secret.
        """
        cache = self._key_cache
        clean = self.is_clean_text
        for key, value in mapping.items():
            secret = cache.get(key)
            if secret is None:
                secret = self.is_secret_key(key)
            if secret:
                return self.scrub_mapping(mapping)
            kind = type(value)
            if kind is str:
                if not clean(value):
                    return self.scrub_mapping(mapping)
            elif kind in _NUMBERS:
                continue
            elif kind in (list, tuple):
                if any(type(v) is str and not clean(v) for v in value):
                    return self.scrub_mapping(mapping)
            elif isinstance(value, Mapping) and self.scrub_if_needed(value) is not None:
                return self.scrub_mapping(mapping)
        return None
