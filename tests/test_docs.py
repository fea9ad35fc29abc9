"""Every ```python block of README.md and docs/*.md runs as written, in a fresh interpreter.

- A block fenced ```python is run; ```python-fragment (or any other info string) is not.
- A block that defines ``test_*`` functions is a test module: it is run with pytest, so
  examples of the ``otel_capture`` fixture are exercised the way a user would run them.
- Each block runs in an empty temporary directory (the local store lands there) with
  every ``OTEL_*`` variable removed, so the documented defaults are what it sees, except
  ``OTEL_EXPORTER_PROMETHEUS_PORT=0``: a block that keeps the default Prometheus exporter
  then binds a free port instead of 9464, so parallel runs and a bot already running on
  this machine cannot collide with it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RUNNABLE_INFO = "python"
TIMEOUT_S = 60
_FENCE = re.compile(r"^ {0,3}(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*?)\s*$")
_PYTEST_MODULE = re.compile(r"^(?:async\s+)?def test_\w*\(", re.MULTILINE)


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    info: str
    code: str

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    @property
    def is_test_module(self) -> bool:
        return bool(_PYTEST_MODULE.search(self.code))


def parse_fences(text: str) -> list[tuple[int, str, str]]:
    """(opening line, info string, code) of each fenced block (CommonMark: ``` or ~~~, 3 or more)."""
    blocks: list[tuple[int, str, str]] = []
    opening: tuple[int, str, str] | None = None  # (line, fence, info)
    body: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        match = _FENCE.match(line)
        if opening is None:
            if match:
                opening, body = (number, match["fence"], match["info"]), []
            continue
        start, fence, info = opening
        if match and not match["info"] and match["fence"][0] == fence[0] and len(match["fence"]) >= len(fence):
            blocks.append((start, info, "\n".join(body) + "\n"))
            opening = None
        else:
            body.append(line)
    if opening is not None:
        raise ValueError(f"line {opening[0]}: unterminated code fence")
    return blocks


def fenced_blocks(path: Path) -> list[Block]:
    try:
        parsed = parse_fences(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise AssertionError(f"{path.relative_to(ROOT)}: {exc}") from None
    return [Block(path, line, info, code) for line, info, code in parsed]


def runnable_blocks() -> list[Block]:
    return [
        block
        for path in DOC_FILES
        for block in fenced_blocks(path)
        if block.info.split(maxsplit=1)[:1] == [RUNNABLE_INFO]
    ]


def _environment() -> dict[str, str]:
    environ = {name: value for name, value in os.environ.items() if not name.startswith("OTEL_")}
    environ["OTEL_EXPORTER_PROMETHEUS_PORT"] = "0"
    environ["PYTHONDONTWRITEBYTECODE"] = "1"
    return environ


def _tail(text: str, limit: int = 4000) -> str:
    return text if len(text) <= limit else "...\n" + text[-limit:]


BLOCKS = runnable_blocks()


@pytest.mark.parametrize("block", BLOCKS, ids=[block.id for block in BLOCKS])
def test_block_runs(block: Block, tmp_path: Path) -> None:
    if block.is_test_module:
        script = tmp_path / "test_snippet.py"
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", script.name]
    else:
        script = tmp_path / "snippet.py"
        command = [sys.executable, script.name]
    script.write_text(block.code, encoding="utf-8")
    try:
        result = subprocess.run(
            command, cwd=tmp_path, env=_environment(), capture_output=True, text=True,
            timeout=TIMEOUT_S, check=False,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{block.id}: still running after {TIMEOUT_S}s\n--- stderr ---\n"
                    f"{_tail(str(exc.stderr or ''))}")
    assert result.returncode == 0, (
        f"{block.id} exited with {result.returncode}\n--- code ---\n{block.code}"
        f"--- stdout ---\n{_tail(result.stdout)}\n--- stderr ---\n{_tail(result.stderr)}"
    )


def test_every_user_guide_has_runnable_examples() -> None:
    guides = ["getting-started", "configuration", "tracing", "logging", "testing", "semantic-conventions"]
    counts = {name: sum(1 for b in BLOCKS if b.path.stem == name) for name in guides}
    assert all(counts.values()), f"guides without a runnable ```python block: {counts}"


def test_fence_parser() -> None:
    text = "\n".join([
        "```python", "a = 1", "```", "",
        "````python-fragment", "```", "b = (", "````", "",
        "~~~python", "c = 3", "~~~",
    ])
    assert parse_fences(text) == [
        (1, "python", "a = 1\n"), (5, "python-fragment", "```\nb = (\n"), (10, "python", "c = 3\n"),
    ]
    with pytest.raises(ValueError, match="line 1: unterminated"):
        parse_fences("```python\nx = 1\n")


def prose_lines(path: Path) -> Iterator[str]:
    """The lines of a Markdown file outside its fenced code blocks."""
    in_code = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if _FENCE.match(line):
            in_code = not in_code
        elif not in_code:
            yield line


def table_names(path: Path, section: str) -> list[str]:
    """The backticked first-column names of the tables right under ``## section`` (not its subsections)."""
    names: list[str] = []
    inside = False
    for line in prose_lines(path):
        if line.startswith("#"):
            inside = line.startswith("## ") and line[3:].strip() == section
            continue
        if inside and line.startswith("|"):
            first = line.strip("|").split("|")[0].strip()
            if first.startswith("`") and first.endswith("`"):
                names.append(first.strip("`"))
    return names


def test_configuration_table_lists_every_configure_argument() -> None:
    from otel_trading import ConfigureOptions

    documented = table_names(ROOT / "docs" / "configuration.md", "Arguments")
    assert sorted(documented) == sorted(ConfigureOptions.__annotations__)
