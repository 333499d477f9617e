"""Checkpointers for the investigation graph: SQLite by default, PostgreSQL with a PostgreSQL store.

A checkpoint is written after every step of the graph; an investigation whose worker died is
resumed by the next worker that runs it with the same thread id (the investigation id).
``open_checkpointer`` takes the store's SQLAlchemy URL, so the checkpoints live next to the
store: a SQLite store ``sqlite:///DIR/augur.db`` keeps them in ``DIR/augur-checkpoints.db``
(a separate file: the store and LangGraph each own their tables); a PostgreSQL store keeps them
in the same database (LangGraph's ``checkpoint*`` tables, created on first use).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

__all__ = ["checkpoint_path", "open_checkpointer"]


def checkpoint_path(sqlite_url: str) -> Path:
    """Where a SQLite store's checkpoints go: ``<store stem>-checkpoints.db`` beside it."""
    path = Path(sqlite_url.split(":///", 1)[1]) if ":///" in sqlite_url else Path("augur.db")
    return path.with_name(f"{path.stem}-checkpoints.db")


@asynccontextmanager
async def open_checkpointer(database_url: str) -> AsyncIterator[Any]:
    """An async LangGraph checkpointer for the store at ``database_url`` (SQLAlchemy URL)."""
    if database_url.startswith("postgresql"):
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

        conninfo = "postgresql://" + database_url.split("://", 1)[1]  # drop the +psycopg driver
        async with AsyncPostgresSaver.from_conn_string(conninfo) as saver:
            await saver.setup()
            yield saver
        return
    if not database_url.startswith("sqlite"):
        raise ValueError(f"no checkpointer for {database_url!r}: use a sqlite:// or postgresql:// URL")
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    path = checkpoint_path(database_url)
    path.parent.mkdir(parents=True, exist_ok=True)
    async with AsyncSqliteSaver.from_conn_string(str(path)) as saver:
        yield saver
