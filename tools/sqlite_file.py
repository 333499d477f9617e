"""Opening the embedded stores' SQLite files: for writing (creating the folder and the schema) and
for bounded reading (read-only, with a deadline enforced inside SQLite).

The span store (:mod:`augur.tools.span_store`) and the log store (:mod:`augur.tools.logs.sqlite`)
open their files the same way and differ only in their schema and in the fix a missing file
needs, which the caller passes in.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from augur.tools.base import Unavailable

__all__ = ["PROGRESS_STEPS", "connect_ro", "connect_rw"]

#: SQLite virtual-machine steps between deadline checks on a read connection.
PROGRESS_STEPS = 10_000


def connect_rw(path: Path, schema: str) -> sqlite3.Connection:
    """A connection for writing to ``path``, its folder made and ``schema`` (idempotent DDL) applied."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=30.0)
    conn.executescript(schema)
    return conn


def connect_ro(path: Path, timeout_s: float, *, missing: str) -> sqlite3.Connection:
    """A read-only connection to ``path`` whose statements are interrupted after ``timeout_s``.

    A statement past the deadline fails with ``sqlite3.OperationalError("interrupted")``, which the
    caller turns into its own reason. Raises :class:`Unavailable` with ``missing`` (what to do)
    when there is no file at ``path``.
    """
    if not path.is_file():
        raise Unavailable(missing)
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)
    deadline = time.monotonic() + timeout_s
    conn.set_progress_handler(lambda: int(time.monotonic() > deadline), PROGRESS_STEPS)
    return conn
