"""YAML that remembers where each value came from, so every error can name file, line and field."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Final

import yaml

_ENV_REFERENCE: Final = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class RulesError(ValueError):
    """A rules/alerting file (or Python definition) that cannot be used, with where and why."""

    def __init__(self, message: str, *, source: str = "<python>", line: int | None = None,
                 field: str | None = None) -> None:
        self.source = source
        self.line = line
        self.field = field
        self.reason = message
        where = source if line is None else f"{source}:{line}"
        super().__init__(f"{where}: {field}: {message}" if field else f"{where}: {message}")


class LocatedDict(dict[str, Any]):
    """A YAML mapping; ``line_of(key)`` is the 1-based line of that key."""

    line: int = 0
    lines: dict[str, int]

    def line_of(self, key: str) -> int:
        return self.lines.get(key, self.line)


class LocatedList(list[Any]):
    line: int = 0
    lines: list[int]


class _Loader(yaml.SafeLoader):
    source = "<yaml>"


def _mapping(loader: _Loader, node: yaml.MappingNode) -> LocatedDict:
    result = LocatedDict()
    result.line = node.start_mark.line + 1
    result.lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            raise RulesError(f"keys must be strings, got {key!r}", source=loader.source,
                             line=key_node.start_mark.line + 1)
        if key in result:
            raise RulesError(f"duplicate key {key!r}", source=loader.source,
                             line=key_node.start_mark.line + 1)
        result[key] = loader.construct_object(value_node, deep=True)
        result.lines[key] = key_node.start_mark.line + 1
    return result


def _sequence(loader: _Loader, node: yaml.SequenceNode) -> LocatedList:
    result = LocatedList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.lines = [child.start_mark.line + 1 for child in node.value]
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _sequence)


def load_yaml(text: str, source: str) -> Any:
    """Parses ``text``; a syntax error becomes a RulesError naming ``source`` and the line."""
    loader = _Loader(text)
    loader.source = source
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise RulesError(f"not valid YAML: {exc.problem or exc}", source=source, line=line) from None
    except yaml.YAMLError as exc:
        raise RulesError(f"not valid YAML: {exc}", source=source) from None
    finally:
        loader.dispose()


def load_yaml_file(path: str | os.PathLike[str]) -> Any:
    source = os.fspath(path)
    try:
        text = Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesError(f"cannot read: {exc.strerror or exc}", source=source) from None
    except UnicodeDecodeError:
        raise RulesError("not UTF-8 text", source=source) from None
    return load_yaml(text, source)


def substitute_environment(value: str, *, source: str, line: int | None, field: str,
                           environ: os._Environ[str] | dict[str, str] | None = None) -> str:
    """Expands ``${NAME}`` / ``${NAME:-default}``; an unset variable without default is an error.

    The error names the variable, never the value around it (which may hold the rest of a secret).
    """
    env = os.environ if environ is None else environ

    def expand(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        found = env.get(name)
        if found is None:
            if default is None:
                raise RulesError(f"environment variable {name} is not set", source=source, line=line, field=field)
            return default
        return found

    return _ENV_REFERENCE.sub(expand, value)
