"""Checkpointers for the investigation graph: SQLite by default, PostgreSQL with a PostgreSQL store.

A checkpoint is written after every step of the graph; an investigation whose worker died is
resumed by the next worker that runs it with the same thread id (the investigation id).
``open_checkpointer`` takes the store's SQLAlchemy URL, so the checkpoints live next to the
store: a SQLite store ``sqlite:///DIR/augur.db`` keeps them in ``DIR/augur-checkpoints.db``
(a separate file: the store and LangGraph each own their tables); a PostgreSQL store keeps them
in the same database (LangGraph's ``checkpoint*`` tables).

The PostgreSQL tables are created by :func:`setup_checkpoint_schema`, which the store's migration
(``augur migrate``, and every ``augur serve``/``augur worker`` start) runs once under an advisory
lock — not each investigation: LangGraph's ``setup()`` is not safe to run from several processes
at once (``UniqueViolation``/``DeadlockDetected`` when workers start together on an empty
database). SQLite's checkpointer creates its tables itself, serialised by the file's lock.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from augur.tools.errors import BackendUnavailable

__all__ = ["CheckpointSchemaMissing", "checkpoint_path", "open_checkpointer", "setup_checkpoint_schema"]

#: Key of the PostgreSQL advisory lock held while creating the checkpoint tables ("augc").
_SETUP_LOCK = 0x61756763


class CheckpointSchemaMissing(BackendUnavailable, RuntimeError):
    """The PostgreSQL database has no (or an old) checkpoint schema: run ``augur migrate``."""


def _conninfo(database_url: str) -> str:
    return "postgresql://" + database_url.split("://", 1)[1]  # drop the +psycopg driver


#: Whether the checkpoint tables exist (a query on a missing table fails even under a CASE).
_EXISTS_SQL = "SELECT to_regclass('checkpoint_migrations') IS NOT NULL AS present"
_VERSION_SQL = "SELECT coalesce(max(v), -1) AS v FROM checkpoint_migrations"


def _try_lock(conn: Any) -> bool:
    row = conn.execute("SELECT pg_try_advisory_lock(%s) AS got", (_SETUP_LOCK,)).fetchone()
    return bool(row and row["got"])


def setup_checkpoint_schema(database_url: str, *, lock_timeout_s: float = 300.0) -> bool:
    """Create or upgrade LangGraph's checkpoint tables on a PostgreSQL store, once, under a lock.

    Returns whether anything was created. A no-op (one query) when the schema is current, and on
    SQLite. Several processes calling it together wait on the advisory lock; the first creates
    the tables, the others find them current.
    """
    if not database_url.startswith("postgresql"):
        return False
    from langgraph.checkpoint.postgres import PostgresSaver
    from psycopg import Connection
    from psycopg.rows import DictRow, dict_row

    latest = len(PostgresSaver.MIGRATIONS) - 1
    conn: Connection[DictRow]
    with Connection.connect(_conninfo(database_url), autocommit=True, prepare_threshold=None,
                            row_factory=dict_row) as conn:
        present = conn.execute(_EXISTS_SQL).fetchone()
        if present is not None and present["present"]:
            row = conn.execute(_VERSION_SQL).fetchone()
            if row is not None and row["v"] >= latest:
                return False
        # Poll with try-lock: LangGraph's migrations run CREATE INDEX CONCURRENTLY, which waits for
        # every open transaction, so a process blocked inside pg_advisory_lock() would deadlock with it.
        deadline = time.monotonic() + lock_timeout_s
        while not _try_lock(conn):
            if time.monotonic() > deadline:
                raise TimeoutError(f"another process held the checkpoint-schema lock for {lock_timeout_s:g} s"
                                   " (a migration still running?)")
            time.sleep(0.1)
        try:
            PostgresSaver(conn).setup()  # finds the tables current if another process made them meanwhile
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_SETUP_LOCK,))
    return True


def checkpoint_path(sqlite_url: str) -> Path:
    """Where a SQLite store's checkpoints go: ``<store stem>-checkpoints.db`` beside it."""
    path = Path(sqlite_url.split(":///", 1)[1]) if ":///" in sqlite_url else Path("augur.db")
    return path.with_name(f"{path.stem}-checkpoints.db")


@asynccontextmanager
async def open_checkpointer(database_url: str) -> AsyncIterator[Any]:
    """An async LangGraph checkpointer for the store at ``database_url`` (SQLAlchemy URL)."""
    if database_url.startswith("postgresql"):
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

        async with AsyncPostgresSaver.from_conn_string(_conninfo(database_url)) as saver:
            conn: Any = saver.conn  # from_conn_string gives a connection, not a pool
            present = await (await conn.execute(_EXISTS_SQL)).fetchone()
            row = None
            if present and present["present"]:
                row = await (await conn.execute(_VERSION_SQL)).fetchone()
            if row is None or row["v"] < len(AsyncPostgresSaver.MIGRATIONS) - 1:
                raise CheckpointSchemaMissing(
                    "the PostgreSQL store has no current checkpoint tables: run `augur migrate` (or start "
                    "`augur serve`/`augur worker`, which migrate first) against AUGUR_DATABASE_URL")
            yield saver
        return
    if not database_url.startswith("sqlite"):
        raise ValueError(f"no checkpointer for {database_url!r}: use a sqlite:// or postgresql:// URL")
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    path = checkpoint_path(database_url)
    path.parent.mkdir(parents=True, exist_ok=True)
    async with AsyncSqliteSaver.from_conn_string(str(path)) as saver:
        yield saver
