"""Real installed distributions with entry points, for tests of plugin discovery.

``importlib.metadata`` finds a distribution through a ``<name>-<version>.dist-info`` directory
on ``sys.path``: writing one (with its ``entry_points.txt``) next to the plugin's modules is
exactly what ``pip install`` leaves behind, without running pip. Use it in-process::

    def test_x(tmp_path, monkeypatch):
        path = install_distribution(tmp_path / "site", "my-plugin", modules={...}, entry_points={...})
        monkeypatch.syspath_prepend(str(path))   # entry_points() sees it from now on
        ...
        uninstall_modules("my_plugin")           # at the end, if the test imported it

or for a subprocess, put the returned directory on ``PYTHONPATH``. ``install_package`` installs
a package kept as source under ``tests/plugin_packages/`` (its own ``pyproject.toml`` declares
the entry points, as a real third-party package would).
"""

from __future__ import annotations

import importlib
import re
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path

__all__ = ["PLUGIN_PACKAGES", "install_distribution", "install_package", "uninstall_modules"]

PLUGIN_PACKAGES = Path(__file__).parent / "plugin_packages"


def install_distribution(
    directory: Path,
    name: str,
    *,
    modules: Mapping[str, str],
    entry_points: Mapping[str, Mapping[str, str]],
    version: str = "0.0.1",
) -> Path:
    """Writes the distribution ``name`` into ``directory``, which is returned.

    ``modules`` maps a module path relative to ``directory`` (``my_plugin/__init__.py``) to
    its source (dedented); ``entry_points`` maps a group to ``{entry point name: "module:attr"}``.
    """
    directory.mkdir(parents=True, exist_ok=True)
    for relative, source in modules.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source), encoding="utf-8")
    normalized = re.sub(r"[-_.]+", "_", name)
    info = directory / f"{normalized}-{version}.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", encoding="utf-8")
    lines: list[str] = []
    for group, items in entry_points.items():
        lines.append(f"[{group}]")
        lines.extend(f"{entry} = {target}" for entry, target in items.items())
        lines.append("")
    (info / "entry_points.txt").write_text("\n".join(lines), encoding="utf-8")
    (info / "RECORD").write_text("", encoding="utf-8")
    importlib.invalidate_caches()
    return directory


def install_package(source: Path, directory: Path) -> Path:
    """Installs the package in ``source`` (a ``pyproject.toml`` and its modules) into ``directory``, returned.

    Name, version and entry points come from the ``[project]`` table, as pip would read them.
    """
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # the dev extra installs the backport there
        import tomli as tomllib
    project = tomllib.loads((source / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    modules = {str(path.relative_to(source)): path.read_text(encoding="utf-8")
               for path in sorted(source.rglob("*.py")) if "__pycache__" not in path.parts}
    return install_distribution(directory, project["name"], modules=modules, version=project["version"],
                                entry_points=project.get("entry-points", {}))


def uninstall_modules(prefix: str) -> None:
    """Forgets the imported modules of a plugin package, so the next test imports its own copy."""
    for module in [m for m in sys.modules if m == prefix or m.startswith(prefix + ".")]:
        del sys.modules[module]
