"""The data flows one way: the store (export/) and the analytics are read by the CLI and the
console, never the other way round: no module outside otel_trading/cli imports the CLI."""

from __future__ import annotations

import ast
from pathlib import Path

import otel_trading

PACKAGE = Path(otel_trading.__file__).parent


def imported_modules(source: Path) -> set[str]:
    """Every module ``source`` imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"), filename=str(source))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_no_module_outside_the_cli_imports_the_cli() -> None:
    offenders = {
        str(source.relative_to(PACKAGE)): sorted(name for name in imported_modules(source)
                                                 if name == "otel_trading.cli" or name.startswith("otel_trading.cli."))
        for source in PACKAGE.rglob("*.py") if source.relative_to(PACKAGE).parts[0] != "cli"
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_the_check_sees_an_import_inside_a_function(tmp_path: Path) -> None:
    source = tmp_path / "module.py"
    source.write_text("def f():\n    from otel_trading.cli._runs import run_label\n", encoding="utf-8")
    assert "otel_trading.cli._runs" in imported_modules(source)
