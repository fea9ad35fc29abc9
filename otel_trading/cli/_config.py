"""``otel-trading config``: the effective configuration, secrets masked."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from typing import Any

from otel_trading.cli._common import COMMAND_HELP
from otel_trading.config._otlp_env import header_names
from otel_trading.config._secrets import build_redactor
from otel_trading.config._settings import ConfigurationError, resolve_settings
from otel_trading.redaction import REDACTED, Redactor

MALFORMED = "[MALFORMED]"


def _masked(value: Any, redactor: Redactor, key: str = "") -> Any:
    if key in ("headers",) and value:
        return {name: REDACTED for name in value}
    if isinstance(value, dict):
        return {k: _masked(v, redactor, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_masked(v, redactor) for v in value]
    if isinstance(value, str):
        return redactor.scrub_value(key, value)
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    return str(value)


def effective_config() -> dict[str, Any]:
    settings = resolve_settings({})
    redactor = build_redactor(settings)
    config: dict[str, Any] = _masked(dataclasses.asdict(settings), redactor)
    # The OTLP exporters read these themselves; show them too, headers reduced to their names.
    config["otlp_environment"] = {
        name: (_header_names(value) if name.endswith("_HEADERS") else redactor.scrub_text(value))
        for name, value in sorted(os.environ.items())
        if name.startswith("OTEL_EXPORTER_OTLP_")
    }
    return config


def _header_names(value: str) -> str:
    # A malformed item is not shown at all: without its "=" the name cannot be told from the value.
    return ",".join(f"{name}={REDACTED}" if name else MALFORMED for name in header_names(value))


def show_config(*, as_json: bool) -> int:
    try:
        config = effective_config()
    except ConfigurationError as exc:
        print(f"otel-trading: configuration error: {exc}", file=sys.stderr)
        return 2
    if as_json:
        print(json.dumps(config, indent=2, sort_keys=True))
        return 0
    for key, value in sorted(config.items()):
        print(f"{key:28} {json.dumps(value, sort_keys=True)}")
    return 0


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "config", help=COMMAND_HELP["config"],
        description="Resolve configure() defaults and the OTEL_* environment and print the result.",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return show_config(as_json=args.json)
