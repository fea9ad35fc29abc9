"""YAML that remembers where each value came from, so every error can name file, line and field."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

_ENV_REFERENCE: Final = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
# Deeper than any alerting file needs, far shallower than Python's recursion limit (the
# composer and constructor recurse per level: thousands of "[" would be a RecursionError).
MAX_DEPTH: Final = 64
# Values reached through aliases (*name) of lists and mappings, all together: a few reused
# lists are fine, a "billion laughs" (aliases of aliases) would hang whoever walks the result.
MAX_ALIASED_VALUES: Final = 10_000


class RulesError(ValueError):
    """A rules/alerting file (or Python definition) that cannot be used, with where and why."""

    def __init__(self, message: str, *, source: str = "<python>", line: int | None = None,
                 field: str | None = None, unreadable: bool = False) -> None:
        self.source = source
        self.line = line
        self.field = field
        self.reason = message
        self.unreadable = unreadable  # not a fault in the rules: the file could not be read as YAML at all
        where = source if line is None else f"{source}:{line}"
        super().__init__(f"{where}: {field}: {message}" if field else f"{where}: {message}")


@dataclass(frozen=True)
class Origin:
    """Where a value merged in from another file was written: its file, line and field path."""

    source: str
    line: int | None
    field: str


class LocatedDict(dict[str, Any]):
    """A YAML mapping; ``line_of(key)`` is the 1-based line of that key.

    ``origins`` names the keys whose values came from elsewhere (a default-pack rule with the
    user's overrides merged in), so that an error in one is reported where it was written.
    """

    line: int = 0
    lines: dict[str, int]
    origins: dict[str, Origin] | None = None

    def line_of(self, key: str) -> int:
        return self.lines.get(key, self.line)

    def origin_of(self, key: str) -> Origin | None:
        return self.origins.get(key) if self.origins else None


class LocatedList(list[Any]):
    line: int = 0
    lines: list[int]


def kind_of(value: object) -> str:
    """What a YAML value is, in words (``a list``, ``a mapping``...), never the value itself."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a mapping"
    return "a list" if isinstance(value, list) else type(value).__name__


def _size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """How many values ``node`` stands for once its aliases are expanded (memoized by node)."""
    if id(node) not in sizes:
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [child for pair in node.value for child in pair]
        sizes[id(node)] = 1 + sum(_size(child, sizes) for child in children)
    return sizes[id(node)]


class _Loader(yaml.SafeLoader):
    source = "<yaml>"
    depth = 0
    aliased = 0

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.sizes: dict[int, int] = {}

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        self.depth += 1
        try:
            event = self.peek_event()  # type: ignore[no-untyped-call]
            if self.depth > MAX_DEPTH:
                raise RulesError(f"nested more than {MAX_DEPTH} levels deep", source=self.source,
                                 line=event.start_mark.line + 1, unreadable=True)
            node = super().compose_node(parent, index)
            if isinstance(event, yaml.AliasEvent) and isinstance(node, yaml.CollectionNode):
                self.aliased += _size(node, self.sizes)
                if self.aliased > MAX_ALIASED_VALUES:
                    line = event.start_mark.line + 1 if event.start_mark is not None else None
                    raise RulesError(f"aliases expand to more than {MAX_ALIASED_VALUES} values", source=self.source,
                                     line=line, unreadable=True)
            return node
        finally:
            self.depth -= 1


def _integer(loader: _Loader, node: yaml.ScalarNode) -> int:
    try:
        return loader.construct_yaml_int(node)
    except ValueError:  # Python refuses to convert integers of more than 4300 digits
        raise RulesError(f"a number of {len(str(node.value))} characters is too long to be a number",
                         source=loader.source, line=node.start_mark.line + 1, unreadable=True) from None


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
_Loader.add_constructor("tag:yaml.org,2002:int", _integer)


def load_yaml(text: str, source: str) -> Any:
    """Parses ``text``; a syntax error becomes a RulesError naming ``source`` and the line."""
    try:
        loader = _Loader(text)  # checks every character first: a NUL byte is refused here
    except yaml.reader.ReaderError as exc:
        raise RulesError(f"not valid YAML: character #x{exc.character:04x} is not allowed ({exc.reason})",
                         source=source, line=text.count("\n", 0, exc.position) + 1, unreadable=True) from None
    loader.source = source
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise RulesError(f"not valid YAML: {exc.problem or exc}", source=source, line=line, unreadable=True) from None
    except yaml.YAMLError as exc:
        raise RulesError(f"not valid YAML: {exc}", source=source, unreadable=True) from None
    finally:
        loader.dispose()


def load_yaml_file(path: str | os.PathLike[str]) -> Any:
    source = os.fspath(path)
    try:
        text = Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesError(f"cannot read: {exc.strerror or type(exc).__name__}", source=source, unreadable=True) from None
    except UnicodeDecodeError as exc:
        line = exc.object[:exc.start].count(b"\n") + 1
        raise RulesError("not UTF-8 text", source=source, line=line, unreadable=True) from None
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
