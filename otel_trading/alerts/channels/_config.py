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
from otel_trading.alerts.channels._kind import ChannelField, ChannelKind
from otel_trading.alerts.channels._kinds import COMMON
from otel_trading.alerts.channels._registry import channel_kind, channel_kind_names

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


def find_kind(name: str, spec: LocatedDict, *, source: str) -> ChannelKind:
    """The kind named by channel ``name``'s ``type:``; a RulesError at that line if there is none."""
    kind = spec.get("type") if isinstance(spec, dict) else None
    if isinstance(kind, str):
        try:
            return channel_kind(kind)
        except KeyError:
            pass
        except ValueError as exc:  # an installed package's kind that does not load
            raise RulesError(f"channel {name!r}: {exc}", source=source, line=_type_line(spec),
                             field="type") from None
    known = channel_kind_names()
    got = repr(kind) if isinstance(kind, str) else "nothing"
    hint = _nearest(kind, known) if isinstance(kind, str) else ""
    raise RulesError(f"channel {name!r}: unknown channel type {got}{hint} (expected one of {', '.join(known)})",
                     source=source, line=_type_line(spec), field="type")


def _type_line(spec: object) -> int | None:
    return spec.line_of("type") if isinstance(spec, LocatedDict) else getattr(spec, "line", None)


def build_channel(name: str, spec: LocatedDict, *, source: str, environ: Environ | None = None) -> Channel:
    """The channel ``name`` described by ``spec`` (one entry of the ``channels:`` mapping)."""
    if not isinstance(spec, dict):
        raise RulesError(f"channel {name!r}: expected a mapping with a type: field", source=source,
                         line=getattr(spec, "line", None), field=name)
    line_of = spec.line_of if isinstance(spec, LocatedDict) else (lambda _key: None)
    channel_type = find_kind(name, spec, source=source)
    kind, own_fields = channel_type.name, channel_type.fields
    fields: dict[str, ChannelField] = {**COMMON, **own_fields}
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
        channel = channel_type.channel(name, **arguments)
    except ValueError as exc:  # constructor checks (http(s) URL, empty token...) say no value either
        # Their messages start with the field they are about ("url must be..."): point at its line.
        culprit = next((key for key in spec if str(exc).startswith((f"{key} ", f"{key}:"))), None)
        raise RulesError(f"channel {name!r}: {exc}", source=source, field=culprit,
                         line=line_of(culprit) if culprit else getattr(spec, "line", None)) from None
    register_secrets(channel)
    return channel
