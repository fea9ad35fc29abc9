"""otel-trading stands on OpenTelemetry's public API: a private OTel module or name is imported
in otel_trading/_otel_compat.py only, so a new OTel release that moves one breaks that file alone."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "otel_trading"


def _private_otel_imports(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("opentelemetry"):
            module = node.module or ""
            names = [alias.name for alias in node.names]
            if any(part.startswith("_") for part in module.split(".")) or any(n.startswith("_") for n in names):
                found.append(f"line {node.lineno}: from {module} import {', '.join(names)}")
        elif isinstance(node, ast.Import):
            found += [f"line {node.lineno}: import {alias.name}" for alias in node.names
                      if alias.name.startswith("opentelemetry")
                      and any(part.startswith("_") for part in alias.name.split("."))]
    return found


def test_private_otel_names_are_imported_only_in_the_compatibility_module() -> None:
    offenders = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative == "_otel_compat.py":
            continue
        found = _private_otel_imports(path.read_text())
        if found:
            offenders[relative] = found
    assert offenders == {}


def test_the_check_sees_each_form_of_private_import() -> None:
    assert len(_private_otel_imports(
        "from opentelemetry.sdk._logs import LoggerProvider\n"
        "from opentelemetry.sdk.trace.sampling import _KNOWN_SAMPLERS\n"
        "import opentelemetry.exporter.prometheus._mapping\n"
        "from opentelemetry.sdk.trace import ReadableSpan\n"
    )) == 3
