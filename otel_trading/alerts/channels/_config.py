"""``build_channel``: a channel from its YAML mapping, every problem a RulesError with file and line.

    channels:
      ops-slack:
        type: slack
        url: ${SLACK_WEBHOOK_URL}
        rate_limit: 20/min
        send_resolved: true

``${VAR}`` / ``${VAR:-default}`` are expanded in every string (lists and mappings too). An
error names the source, the field's line, the field and the expected form, and suggests the
nearest field for a misspelt one; it never repeats a value (which may be a credential).
"""

from __future__ import annotations

import difflib
import os
from typing import Any

from otel_trading.alerts._yaml import LocatedDict, RulesError, substitute_environment
from otel_trading.alerts.channels._base import Channel, register_secrets
from otel_trading.alerts.channels._kinds import COMMON, KINDS, Field

Environ = os._Environ[str] | dict[str, str]


def _nearest(word: str, options: list[str]) -> str:
    match = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f"; did you mean {match[0]!r}?" if match else ""


def _expand(value: Any, *, source: str, line: int, field: str, environ: Environ | None) -> Any:
    if isinstance(value, str):
        return substitute_environment(value, source=source, line=line, field=field, environ=environ)
    if isinstance(value, list):
        return [_expand(item, source=source, line=line, field=field, environ=environ) for item in value]
    if isinstance(value, dict):
        return {key: _expand(item, source=source, line=line, field=field, environ=environ)
                for key, item in value.items()}
    return value


def build_channel(name: str, spec: LocatedDict, *, source: str, environ: Environ | None = None) -> Channel:
    """The channel ``name`` described by ``spec`` (one entry of the ``channels:`` mapping)."""
    if not isinstance(spec, dict):
        raise RulesError(f"channel {name!r}: expected a mapping with a type: field", source=source,
                         line=getattr(spec, "line", None), field=name)
    line_of = spec.line_of if isinstance(spec, LocatedDict) else (lambda _key: None)
    kind = spec.get("type")
    if kind not in KINDS:
        got = repr(kind) if isinstance(kind, str) else "nothing"
        hint = _nearest(kind, list(KINDS)) if isinstance(kind, str) else ""
        raise RulesError(f"channel {name!r}: unknown channel type {got}{hint} (expected one of {', '.join(KINDS)})",
                         source=source, line=line_of("type"), field="type")
    cls, own_fields = KINDS[kind]
    fields: dict[str, Field] = {**COMMON, **own_fields}
    arguments: dict[str, Any] = {}
    for key, raw in spec.items():
        if key == "type":
            continue
        line = line_of(key)
        field = fields.get(key)
        if field is None:
            known = sorted(fields)
            raise RulesError(f"channel {name!r}: unknown field for a {kind} channel{_nearest(key, known)} "
                             f"(known: {', '.join(known)})", source=source, line=line, field=key)
        try:
            value = _expand(raw, source=source, line=line, field=key, environ=environ)
            arguments[field.keyword or key] = field.convert(value)
        except RulesError as exc:
            raise RulesError(f"channel {name!r}: {exc.reason}", source=source, line=line, field=key) from None
        except ValueError as exc:
            raise RulesError(f"channel {name!r}: {exc}", source=source, line=line, field=key) from None
    missing = [key for key, field in own_fields.items() if field.required and key not in spec]
    if missing:
        raise RulesError(f"channel {name!r}: a {kind} channel needs {', '.join(missing)}",
                         source=source, line=line_of("type"), field=missing[0])
    try:
        channel = cls(name, **arguments)
    except ValueError as exc:  # constructor checks (http(s) URL, empty token...) say no value either
        # Their messages start with the field they are about ("url must be..."): point at its line.
        culprit = next((key for key in spec if str(exc).startswith((f"{key} ", f"{key}:"))), None)
        raise RulesError(f"channel {name!r}: {exc}", source=source, field=culprit,
                         line=line_of(culprit) if culprit else getattr(spec, "line", None)) from None
    register_secrets(channel)
    return channel
