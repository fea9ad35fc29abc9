"""A rebuildable SQLite cache beside the store: how it is opened, rebuilt and removed.

The span/log index (``_index.py``) and the metric index (``_metric_queries.py``) are both such
caches: private files (mode 0600 like the store's), no durability asked of SQLite (a crash at
worst means a rebuild), a schema version that, when it differs, drops every table and creates
the schema again under the write lock, and a damaged file simply removed and made anew.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Final

BUSY_TIMEOUT_S: Final = 30.0


def open_cache(locations: Iterable[str], schema: str, version: int, *, what: str,
               pragmas: Sequence[str] = ()) -> tuple[str, sqlite3.Connection]:
    """The first of ``locations`` (best first, ``":memory:"`` last) where the cache opens, and its connection.

    A location whose folder is missing is skipped (nothing to index, no file to leave behind); a
    read-only or full one gives way to the next; a damaged file is removed and made anew.
    """
    last_error: Exception | None = None
    for location in locations:
        if location != ":memory:" and not Path(location).parent.is_dir():
            continue
        try:
            return location, _connect(location, schema, version, pragmas)
        except sqlite3.DatabaseError as exc:
            last_error = exc
            if "not a database" in str(exc) and Path(location).is_file():  # damaged: it is only a cache
                with contextlib.suppress(sqlite3.Error, OSError):
                    remove_cache(location)
                    return location, _connect(location, schema, version, pragmas)
        except (sqlite3.Error, OSError) as exc:  # read-only, full: the next place
            last_error = exc
    raise RuntimeError(f"cannot open {what}: {last_error}")  # pragma: no cover - memory always opens


def _connect(location: str, schema: str, version: int, pragmas: Sequence[str]) -> sqlite3.Connection:
    if location != ":memory:":
        # Private like the store's own files (and journal files take the database file's mode).
        os.close(os.open(location, os.O_RDWR | os.O_CREAT, 0o600))
    db = sqlite3.connect(location, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
    try:
        if location == ":memory:":
            db.execute("PRAGMA journal_mode=MEMORY")
        for pragma in pragmas:
            db.execute(f"PRAGMA {pragma}")
        db.execute("PRAGMA synchronous=OFF")  # a cache: a crash at worst means a rebuild
        db.execute("BEGIN IMMEDIATE")
        if schema_version(db) != version:
            for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall():
                db.execute(f'DROP TABLE "{name}"')
            for statement in filter(str.strip, schema.split(";")):  # in this transaction, under its lock
                db.execute(statement)
            db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(version),))
        db.execute("COMMIT")
    except BaseException:
        db.close()
        raise
    return db


def remove_cache(location: str) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(location + suffix)


def schema_version(db: sqlite3.Connection) -> int | None:
    """The version in the cache's ``meta`` table; None for a new, foreign or damaged file."""
    try:
        row = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
    except sqlite3.Error:
        return None
    return int(row[0]) if row and str(row[0]).isdigit() else None
